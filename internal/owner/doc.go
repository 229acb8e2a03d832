// Package owner tells which pbuild process made a thing and whether that
// process still runs, so that a later pbuild removes what a killed one left
// behind (its containers, its temporary directories) and never anything a
// running build, or anyone else, still uses.
//
// A process is named by an [ID]: the machine it runs on (host name and
// kernel boot ID), its process ID and its start time, so that a reused
// process ID does not pass for the old process. Another process on the same
// machine is [Alive] or [Dead]; a process on another machine (a shared
// remote engine) is [Unknown], and is never treated as dead.
//
// A directory pbuild makes carries a [Marker] file naming its owner and
// the directory's own identity (device and inode), written through the
// directory itself: a copy of the directory, a directory of the same name,
// or a symbolic link to it is not mistaken for the original.
package owner
