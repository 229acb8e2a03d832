// Package check answers, before anything is loaded, whether a host and its
// plugins load together, and if not, why and what to do; and whether C-ABI
// libraries are fit for the C hosts that use them.
//
// The analysis is package abi of the loader module (the same code the
// runtime loader uses to refuse plugins); this package gathers the files, from
// paths or from a pbuild manifest, verifies them against the manifest, and
// renders the verdict: have/want blocks with a suggested fix for people,
// JSON for machines.
//
// C-ABI libraries (-buildmode=c-shared, loaded by C hosts such as nbdkit
// with dlopen; -buildmode=c-archive, linked into C programs) are checked
// in C-ABI mode: [Libraries] for files named on the command line, and
// every c-shared or c-archive artifact of a manifest ([Manifest], [Dir]).
// The file must be a C-ABI library of its kind and not a Go plugin (a
// -buildmode=plugin .so hangs or crashes a C host that dlopens it), must
// not need a newer glibc than Options.MaxGLIBC, and must export every C
// symbol of Options.Symbols (what the host looks up with dlsym). A
// manifest's C headers are verified like its artifacts. A manifest of
// libraries only needs no host: nothing Go loads them. A failure of
// libraries alone is a *LibraryError, whose hint is the first fix.
//
// Files are read through package safefile: only regular files (a named pipe
// or a device is an *InputError at once), a manifest's artifacts and
// headers only inside the manifest's directory, each at most MaxFileSize
// (a header MaxHeaderSize) bytes, and every read stops when the context is
// cancelled.
package check
