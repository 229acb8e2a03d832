// Package bundle makes and verifies pbuild release bundles.
//
// Create turns a built dist directory (the artifacts and their
// pbuild.manifest.json) into four files, all byte-for-byte reproducible
// from the same dist, options and time:
//
//	NAME_VERSION_OS_ARCH.tar.gz       the host, the plugins, the C-ABI libraries with their C headers, and the manifest under NAME_VERSION_OS_ARCH/
//	NAME_VERSION_OS_ARCH.cdx.json     a CycloneDX 1.5 SBOM: the bundle, every artifact and header, module and the toolchain
//	NAME_VERSION_OS_ARCH.intoto.json  a DSSE envelope of an in-toto v1 Statement with SLSA provenance v1
//	checksums.txt                     sha256sum lines for the three files above
//
// The archive is written deterministically: sorted entries, owner 0:0 with
// no names, modes 0755 (directories, the host, plugins, c-shared
// libraries) and 0644 (the manifest, c-archive libraries, C headers),
// every mtime the given time, and a gzip header without name or time.
// Create refuses a dist whose files (artifacts and C headers) differ from
// its manifest and writes nothing on any failure. The bundle is named
// after the host; a dist of C-ABI libraries alone (no host: nothing Go
// loads them) needs Options.Name. A manifest of schema version 1 or 2 is
// bundled as it is, byte for byte.
//
// The attestation's subjects are the archive, the SBOM, the manifest and
// every artifact and C header in the archive, each artifact annotated with
// its kind (host, plugin, c-shared, c-archive) and name, each header with
// kind c-header and its library (headerOf). The SBOM lists the same files
// with the same kinds as pbuild:* properties, and a C-ABI library's
// loadedBy, header, exported C symbols and glibc versions.
//
// Verify checks a bundle the other way round, naming the step and the file
// that failed: the checksums, the attestation's signature and subjects, a
// safe extraction, the manifest against the extracted files (artifacts and
// C headers alike), the
// SBOM against the bundle, and finally a compatibility check supplied by the
// caller. Every file Verify reads (checksums.txt, the files it lists, the
// SBOM, the attestation, the archive) is read from the archive's directory
// through package safefile: only a regular file inside that directory,
// within a limit, so a named pipe, a device or a symbolic link leading out
// fails the step with the file named instead of hanging or reading
// elsewhere; and Verify stops when its context is cancelled. Create reads
// the dist's manifest and artifacts the same way. The extraction (package
// archive) refuses absolute paths, "..", links, devices, duplicate
// entries, oversized or truncated archives, and never writes outside its
// target directory.
//
// The package reads no environment: the time, key and tool version are
// options.
package bundle
