// Package safefile reads files whose names come from input: a checksums
// list, a manifest's artifact entries, a path on the command line.
//
// Such a name may point anywhere and at anything. Before any byte is read,
// this package makes sure it is a regular file where it should be:
//
//   - [Open], [ReadFile] and [Digest] resolve a name inside a directory
//     with [os.Root]: "..", absolute names and symbolic links that lead
//     out of the directory are refused ([ErrOutside]); links that stay
//     inside are followed.
//   - Files are opened with O_NONBLOCK, so opening a named pipe returns at
//     once instead of waiting for a writer, and then checked with fstat:
//     a named pipe, a device, a directory or a socket is refused
//     ([ErrNotRegular]) and never read.
//   - A limit given by the caller bounds what is read: a file over it is
//     refused when opened, and one that grows over it while it is read
//     fails the read ([ErrTooLarge]).
//   - Reading and hashing go in chunks of [ChunkSize] and check the
//     context between chunks, so cancelling it (Ctrl-C) stops a read of a
//     huge file promptly with the context's error.
//
// [OpenPath] does the same for a path the user named directly, where
// following a symbolic link anywhere is what the user asked for.
//
// Refusals are *Error values naming the file; errors.Is tells the kind.
// Errors of the file system (a missing file, no permission) are the os
// package's *fs.PathError, so errors.Is(err, fs.ErrNotExist) works.
package safefile
