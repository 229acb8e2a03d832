// Package manifests defines pbuild's build manifest, dist/pbuild.manifest.json.
//
// pbuild builds a Go plugin host and its plugins (go build -buildmode=plugin)
// in one pinned toolchain container. The Go runtime only lets a plugin load
// into a host when both were built by the same toolchain, with the same
// ABI-relevant settings, from identical versions of every package they share.
// The manifest records everything that guarantee rests on:
//
//   - the toolchain: Go version, the checksum of the golang.org/toolchain
//     module zip, target platform, and the C compiler (plugins always use cgo);
//   - the build settings shared by every artifact: flags, tags, -ldflags and
//     the environment (CGO_*, GOEXPERIMENT, ...);
//   - every module that went into the build, with its checksum (for local
//     workspace modules, a dirhash of the module's files);
//   - every artifact with its size and SHA-256, its embedded Go build info,
//     what uses it (LoadedBy) and the package hashes the runtime compares
//     at plugin.Open time;
//   - for C-ABI libraries (kinds c-shared and c-archive, built for C hosts
//     such as nbdkit, not for Go): the C header beside each, the C symbols
//     it exports and the glibc versions it needs ([InspectLibrary] reads
//     them); and the Debian packages installed into the toolchain image.
//
// # Schema versions
//
// [Write] writes schema version 2 ([SchemaVersion]); [Read] reads 2 and 1.
// Version 1 is version 2 without C-ABI libraries, toolchain packages and
// the artifacts' loadedBy, header, cSymbols and glibc: a version 1
// document may not carry them, a version 2 one must carry loadedBy. A
// version 1 manifest that is read keeps its version (and empty LoadedBy)
// and is written as version 2. Fields that exist from a version on are
// tagged since:"N" in the Go types; both JSON Schemas are in schema/.
//
// # Package hashes
//
// The Go linker emits, into every plugin and every host that imports
// "plugin", one dynamic symbol go:link.pkghashbytes.<importpath> per package:
// 8 bytes taken from the start of the SHA-256 of the package's export data.
// plugin.Open refuses a plugin whose hash for some package differs from the
// host's ("plugin was built with a different version of package ..."). The
// symbols are in .dynsym, so they survive -ldflags=-s -w; abi.PackageHashes
// (package github.com/pbuild/pbuild/loader/abi)
// reads them without loading the file, and [InspectFile] records them in
// [Artifact.Packages]. Two artifacts that record different hashes for the same
// import path cannot be loaded together.
//
// # ABI key
//
// [ABIKey] is a digest over the inputs that must match for artifacts to load
// together. It is computable before anything is built, so it can name caches
// and be compared between a host built today and a plugin built next month.
// Machine-local facts (image references and IDs, local module directories) do
// not contribute to it.
//
// # Encoding
//
// [Write] produces canonical JSON: modules sorted by path, artifacts with
// hosts first and then by name, toolchain packages and C symbols sorted,
// glibc versions sorted numerically, empty lists and maps written as []
// and {} (those written only when not empty left out),
// two-space indentation and a trailing newline, so the same manifest always
// encodes to the same bytes. [Read] is strict: unknown or missing fields, null
// values and an unexpected schemaVersion are errors, and a manifest is input,
// so every value must pass [Manifest.Validate]: above all, an artifact's
// file and a C header's file are clean relative slash paths that stay
// inside the output directory (errors name the field: `artifacts[2].file:
// "../x" leaves the output directory`), and a header belongs to every
// C-ABI library and to nothing else. [ReadFile] reads at most [MaxSize] bytes of a regular file and
// honours its context. [Schema] returns the JSON Schema (draft 2020-12)
// describing the format; it states the same rules where JSON Schema can.
package manifests
