// Package loader opens Go plugins only after checking that they will load,
// so that a host reports a plugin that does not fit with the cause, keeps
// running, and loads the others.
//
// Plain plugin.Open is unforgiving: a plugin built against a package whose
// export data differs from the copy already in the process fails with
// "plugin was built with a different version of package X", naming neither
// why nor what to do; the failed plugin's packages stay in the process and
// can make later plugins fail; opening the same file again after a failure
// can hang; and a plugin from another Go toolchain can kill the host
// ("fatal error: runtime: no plugin module data").
//
// A Loader reads the host's own executable once (package abi) and, for
// every plugin, in this order:
//
//  1. refuses everything once a real load has failed (*PoisonedError):
//     the process's plugin state cannot be trusted after that and the only
//     remedy is a restart;
//  2. reads the plugin's ABI facts (an unreadable or non-ELF file is a
//     *RefusedError);
//  3. verifies the plugin against the pbuild.manifest.json that pbuild
//     writes beside the plugins, looked for in the plugin's directory, then
//     in its parent (dist/pbuild.manifest.json for dist/plugins/x.so): the
//     plugin must be listed (by its path relative to the manifest's
//     directory), its sha256 must match, and the manifest's abiKey must be
//     the host's ABI key when the host knows it. Without a manifest this
//     step is skipped; WithoutManifest skips it always;
//  4. predicts the load, replaying the plugins loaded so far (abi.Session):
//     a plugin that would fail, or that could crash the host, is refused
//     with the abi.Problems naming the cause, and nothing is opened;
//  5. opens it with plugin.Open. If the runtime refuses a plugin the check
//     accepted, the error is an *OpenError and the loader is poisoned.
//
// Opening a file again returns the same *Plugin, as the runtime would.
// Check runs steps 2 to 4 only. Lookup[T] returns a plugin's symbol as a
// T, dereferencing the pointer the runtime returns for variables.
//
// # ABI key
//
// pbuild stamps every artifact it builds with the build's ABI key
// (-ldflags "-X github.com/pbuild/pbuild/loader.hostABIKey=sha256:..."), the
// key it also records in the manifest. A host built otherwise has no key and
// skips the comparison; WithABIKey sets or clears the key explicitly.
//
// # Versions of one plugin side by side
//
// The runtime refuses a second plugin whose pluginpath (the import path of
// its main package) is already loaded, and so does the loader; it adds no
// other restriction. Two versions of one plugin therefore load into one
// process when their pluginpaths differ, which pbuild arranges by giving
// each artifact its own import path, as long as every package they share
// with the host and with each other is the same build (the same source under
// the same toolchain and settings); otherwise the later one is refused with
// the packages that differ.
//
// # Concurrency
//
// A Loader's methods are safe for concurrent use; loads are serialized.
//
// The module depends on the standard library only, so any host can link it.
package loader
