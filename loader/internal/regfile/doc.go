// Package regfile opens files named by input for reading without ever
// blocking on them: a named pipe, a device or a socket is refused after
// open(2) with O_NONBLOCK and fstat(2), before anything is read, so a FIFO
// named x.so cannot hang its reader and /dev/zero cannot feed it forever.
//
// It is internal to the loader module (standard library only); package abi
// re-exports ErrNotRegular.
package regfile
