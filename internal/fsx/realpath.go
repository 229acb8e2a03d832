package fsx

import (
	"errors"
	"io/fs"
	"path/filepath"
)

// RealPath is p, absolute, with every symbolic link of the part of it that
// exists resolved: p need not exist, its deepest existing ancestor is
// resolved and the rest appended. An error other than a missing path (a
// file where a directory is expected, a symbolic link loop) is returned.
func RealPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	rest := ""
	for d := abs; ; d = filepath.Dir(d) {
		if real, err := filepath.EvalSymlinks(d); err == nil {
			return filepath.Join(real, rest), nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		if filepath.Dir(d) == d {
			return abs, nil
		}
		rest = filepath.Join(filepath.Base(d), rest)
	}
}
