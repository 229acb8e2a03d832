// Package dockerbackend runs a build's resolve and compile steps in
// containers of a Docker engine (builder.Backend): one container with the
// network for each resolve, one without it for the compile, source in and
// artifacts out as tar streams, so that a remote engine works too.
//
// The compile container is given the last build's intact artifacts, so
// that the go command keeps every -o file that is up to date, as it does
// for a native build. A file is known to be kept, not linked again, by two
// facts: it still has the inode of a hard link made before the compile (a
// link writes a new file; and the pin keeps the old inode from being
// reused), and it still has its recorded sha256. Kept files are not copied
// out again.
package dockerbackend
