// Package builder runs a pbuild build: it plans the artifacts of a config,
// makes sure the pinned toolchain image exists, resolves one workspace over
// the host and its plugins, builds every artifact in one network-less
// container from the vendored source with identical flags, reads what came
// out, stamps the manifest, and only then replaces the output directory.
//
// The steps report progress through Options.OnEvent; nothing here prints.
package builder
