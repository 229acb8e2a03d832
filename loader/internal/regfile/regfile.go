package regfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ErrNotRegular is wrapped by the error for a file that is not a regular
// file: "not a regular file: a named pipe".
var ErrNotRegular = errors.New("not a regular file")

// Open opens path for reading. It follows symbolic links, never blocks on
// a named pipe or a device, and returns an error wrapping ErrNotRegular for
// anything but a regular file; fi is the file's fstat.
func Open(path string) (f *os.File, fi fs.FileInfo, err error) {
	f, err = openNonBlocking(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err = f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%w: %s", ErrNotRegular, describe(fi.Mode()))
	}
	return f, fi, nil
}

// ReadFile reads the regular file at path, at most max bytes: a larger
// file is an error.
func ReadFile(path string, max int64) ([]byte, error) {
	f, fi, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > max {
		return nil, fmt.Errorf("%d bytes, more than the %d this reader accepts", fi.Size(), max)
	}
	// The file may grow while it is read: read one byte more than allowed.
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("more than the %d bytes this reader accepts", max)
	}
	return data, nil
}

// describe names the type of a file that is not regular.
func describe(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "an irregular file (" + m.Type().String() + ")"
}
