// Package check answers, before anything is loaded, whether a host and its
// plugins load together, and if not, why and what to do.
//
// The analysis is package abi of the loader module (the same code the
// runtime loader uses to refuse plugins); this package gathers the files, from
// paths or from a pbuild manifest, verifies them against the manifest, and
// renders the verdict: have/want blocks with a suggested fix for people,
// JSON for machines.
//
// Files are read through package safefile: only regular files (a named pipe
// or a device is an *InputError at once), a manifest's artifacts only inside
// the manifest's directory, each at most MaxFileSize bytes, and every read
// stops when the context is cancelled.
package check
