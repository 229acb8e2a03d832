package abi

import (
	"fmt"
	"os"
	"path/filepath"
)

// Identify sets f.RealPath and f.FileID from the file at path: the
// absolute, symlink-free path plugin.Open identifies a plugin by (it calls
// realpath(3)), and the device and inode by which the dynamic linker tells
// a file it has mapped already. A file that cannot be resolved is an
// error; f is then unchanged.
func Identify(f *File, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("identify %s: %w", path, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fmt.Errorf("identify %s: %w", path, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return fmt.Errorf("identify %s: %w", path, err)
	}
	f.RealPath, f.FileID = real, fileID(fi)
	return nil
}
