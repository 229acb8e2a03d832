// Package loader opens Go plugins only after checking that they will load,
// so that a host reports a plugin that does not fit with the cause, keeps
// running, and loads the others.
//
// Plain plugin.Open is unforgiving: a plugin built against a package whose
// export data differs from the copy already in the process fails with
// "plugin was built with a different version of package X", naming neither
// why nor what to do; the failed plugin's packages stay in the process and
// can make later plugins fail; a plugin from another Go toolchain, or a
// damaged file, can kill the host ("fatal error: runtime: no plugin module
// data", SIGSEGV, SIGBUS in the dynamic linker); and a plugin whose init
// function panics kills it too.
//
// A Loader reads the host's own executable once (package abi) and, for
// every plugin, in this order:
//
//  1. refuses everything once a real load has failed (*PoisonedError):
//     the process's plugin state cannot be trusted after that and the only
//     remedy is a restart;
//  2. reads the plugin's ABI facts (a file that cannot be read, is not a
//     regular file, or is not ELF is a *RefusedError; a named pipe is
//     refused at once, never read). A plugin is also checked for damage to
//     what the dynamic linker trusts (see Damaged files);
//  3. verifies the plugin against the pbuild.manifest.json that pbuild
//     writes beside the plugins, looked for in the plugin's directory, then
//     in its parent (dist/pbuild.manifest.json for dist/plugins/x.so): the
//     plugin must be listed (by its path relative to the manifest's
//     directory, under any file name: plugins/greet.so.0.1 is fine), its
//     sha256 must match, and the manifest's abiKey must be the host's ABI
//     key when the host knows it. A file the manifest lists as a C-ABI
//     library (kind c-shared or c-archive: for C hosts, not Go) is refused
//     saying so, also when it cannot be read as ELF (a c-archive). The
//     manifest may be of schema version 1 or 2. Without a manifest this
//     step is skipped, unless WithRequireManifest makes that a refusal;
//     WithoutManifest skips it always;
//  4. predicts the load, replaying the plugins loaded so far (abi.Session):
//     a plugin that would fail, that could crash the host, whose file is
//     damaged, that is a C-ABI library (abi.CLibrary), that is another path (a hard link) to a plugin opened
//     already, or that defines a C symbol the host or an opened plugin
//     defines too (the runtime would load it, and its C calls would run
//     the other object's code) is refused with the abi.Problems naming
//     the cause, and nothing is opened;
//  5. with WithProbe, loads the plugins opened so far and this one in a
//     child process first (see Probe), and refuses the plugin when that
//     process dies, hangs or fails to open it;
//  6. opens it with plugin.Open. If the runtime refuses a plugin the check
//     accepted, the error is an *OpenError and the loader is poisoned.
//
// Opening a file again returns the same *Plugin, as the runtime would.
// Check runs steps 2 to 4 only. Lookup[T] returns a plugin's symbol as a
// T, dereferencing the pointer the runtime returns for variables.
//
// # Damaged files
//
// glibc's dynamic linker trusts the file it maps: a damaged program header,
// dynamic section, hash table or relocation makes dlopen fault, abort
// ("Inconsistency detected by ld.so") or loop instead of failing. Before a
// plugin is opened, package abi checks every structure the dynamic linker
// reads to map and relocate it (the ELF header, the program headers, the
// dynamic section, the string, symbol, hash and version tables, the
// relocations and the init and fini arrays) and refuses a damaged file
// (abi.CorruptELF). In a test with 4000 random single-byte corruptions of a
// small plugin (go1.26.8, glibc 2.36), 129 crashed the process that opened
// them; the check refused 117 of them, and the 12 it let through were
// damage to Go's own data (the function table, type data), which the check
// does not cover.
//
// So the check catches damaged headers and tables, not damaged code or
// data. Only a manifest's sha256 (WithRequireManifest makes one
// mandatory) or a signed release bundle, verified before the files are
// installed, proves a plugin intact. The file is read once to check it and
// again by plugin.Open: a file replaced in between is not what was
// checked.
//
// # Probe
//
// A panic in a plugin's init function happens inside plugin.Open and, like
// a fatal error or a signal, kills the host; a plugin whose init never
// returns blocks it. No check of the file can foresee that. WithProbe
// trades time for safety: before every real plugin.Open, the loader starts
// the host's own executable again (the file it read as the host) with an
// environment variable naming the plugins this loader opened so far and
// the new one. This package's init function, which runs before the host's
// main, sees the variable, opens those plugins in order, reports on a pipe
// and exits. A probe that panics, exits, dies by a signal, runs longer
// than its timeout or sees plugin.Open fail makes the loader refuse the
// plugin with a *RefusedError wrapping a *ProbeError (its first lines of
// output), without opening it in the host. The probe gets no standard
// input and runs in its own process group, which is killed when it times
// out.
//
// The cost is one process start and one run of the plugins' init
// functions per Open. The probe is a second run of the host: the package
// initializers that Go orders before this package's (at least the
// standard library's; the host's own packages that do not import this one
// may be among them) run again, in the probe, as do the init functions of
// every plugin it opens; main does not run. Init functions with effects
// outside the process (files, network) have them twice.
//
// # What the loader cannot do
//
// Without WithProbe, a panic in a plugin's init function kills the host
// (the loader poisons itself first, so that a host that recovers the panic
// is not left to hang re-opening the plugin), and so do a fatal error or a
// signal while the plugin initializes. The probe cannot foresee a plugin
// that behaves differently in the host than in the probe. Plugins cannot
// be unloaded: a plugin opened stays in the process, and a plugin whose
// load failed leaves its packages there too.
//
// # Opening a path again after a failed load
//
// The loader never calls plugin.Open again once a load failed. Measured
// with go1.22.12, go1.23.12, go1.24.4, go1.25.14 and go1.26.8 (all the same),
// a second plugin.Open of the same path:
//
//   - after the dynamic linker refused the file (a missing shared library):
//     tries again and fails the same way, at once;
//   - after the runtime refused the plugin (a package built differently):
//     returns at once with the first error and "(previous failure)";
//   - after an init function panicked and the caller recovered the panic:
//     blocks forever.
//
// In every case the failed plugin's packages stay in the process, which is
// why the loader opens nothing any more after a failure.
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
