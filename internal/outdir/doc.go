// Package outdir installs a build's output directory without ever
// destroying what pbuild did not make.
//
// An output directory is replaced only when pbuild made it: its marker
// (package owner) was written in it, not copied there, and every file in
// it is one pbuild wrote. An absent output or an empty directory is
// created; anything else (a directory of someone else's files, a file pbuild
// did not write inside the output, a regular file, a symbolic link) is
// refused with a *NotOwnedError, unless the caller allows replacing a
// directory it did not make (--output-clean). A symbolic link is never
// followed or replaced.
//
// The new output is built in a temporary directory beside the old one and
// swapped into place with one atomic exchange (renameat2 RENAME_EXCHANGE),
// so a process killed at any instant leaves the old output or the new one.
// Where the kernel or file system cannot exchange, the old output is first
// renamed aside (NAME.old): a process killed between the two renames leaves
// it there, and the next Open puts it back.
//
// Open takes a lock beside the output (.NAME.pbuild-lock), so two builds of
// one output run one after the other; the second says it waits. Holding
// the lock, Open puts back an old output a killed pbuild left aside and
// removes the temporary directories killed builds left.
package outdir
