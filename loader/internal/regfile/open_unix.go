//go:build unix

package regfile

import (
	"os"
	"syscall"
)

// openNonBlocking opens path with O_NONBLOCK, so that open(2) returns at
// once even for a named pipe without a writer, and O_NOCTTY, so that a
// terminal never becomes the process's controlling terminal.
func openNonBlocking(path string) (*os.File, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC|syscall.O_NOCTTY, 0)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return os.NewFile(uintptr(fd), path), nil
	}
}
