// Package archive is pbuild's one writer and one reader of tar streams:
// the staged workspace and a build's outputs going in and out of
// containers, the toolchain image's build context, release bundles.
// Write is deterministic (sorted, owner 0:0, modes 0755 and 0644, fixed
// times, optionally gzip); Extract is defensive (only clean directories and
// regular files, written through an os.Root inside its target, within
// limits, cancellable).
package archive
