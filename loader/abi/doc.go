// Package abi predicts, without loading anything, whether Go plugins load
// into a host, and names the cause when they do not.
//
// When plugin.Open loads a .so, the runtime compares, for every package the
// plugin was linked against, the plugin's hash of that package's export data
// (the linker symbol go:link.pkghashbytes.<path>) with the hash of the copy
// already in the process, and fails on the first difference. The copy already
// in the process is the first one the dynamic linker saw: the host's, or that
// of a plugin loaded earlier, even one that then failed to load. A plugin
// whose pluginpath is already active fails as "already loaded"; the same
// file opened again by its real path is the plugin already loaded; a
// plugin from a toolchain whose runtime lays out module data otherwise
// kills the host, and the plugins after it are never reached. Read
// collects those symbols (from .dynsym, so stripped files work, for any
// architecture) with the build info; Check replays a load sequence on them and
// compares the build info of both sides to name the cause: the toolchain, a
// dependency version, a directory replace against a workspace module, a
// local module's source, -trimpath, build tags, cgo, GOEXPERIMENT, GOAMD64,
// or, when all of that agrees, different source under the same versions.
//
// The dynamic linker binds a plugin's uses of a C symbol to the first
// definition in the process. Read lists the C symbols a file defines
// (File.CSymbols), and Check reports a plugin that defines and uses one an
// earlier object defines as well, unless both definitions are the same
// cgo package's code (CSymbolCollision): plugin.Open loads such a plugin,
// and its C calls run the other object's code.
//
// Read also checks a plugin for damage to the structures glibc's dynamic
// linker trusts when it maps and relocates the file (ELF and program
// headers, dynamic section, string, symbol, hash and version tables,
// relocations, init and fini arrays), which would make dlopen crash
// instead of fail: File.Corrupt, reported by Check as CorruptELF. That
// check finds damaged headers and tables, not damaged code or data; only a
// checksum recorded elsewhere (a manifest's sha256, a signed bundle) proves
// a file intact. ReadFile opens only regular files, without blocking on a
// named pipe.
//
// C-ABI libraries (-buildmode=c-shared and c-archive) are for C hosts, not
// Go: Check reports one given as a plugin (CLibrary), and CheckLibrary
// says whether a file is fit for a C host: a C-ABI library of the wanted
// build mode, not a Go plugin (GoPluginForC: a C host that dlopens one
// hangs or crashes), not needing a newer glibc, exporting every C symbol
// the host looks up (MissingCSymbol). Read lists what a file exports to C
// code (File.CExports) and every glibc version it needs
// (File.GLIBCNeeds); ReadArchive reads a c-archive (an ar archive): the
// build info of its Go object and the exports of its members' symbol
// tables; ReadArtifact reads either.
//
// The package depends on the standard library only, so hosts can link it.
package abi
