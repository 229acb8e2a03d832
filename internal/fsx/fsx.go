// Package fsx holds the file operations pbuild's packages share: copying a
// file into a fresh place, and keeping one by hard link.
package fsx

import (
	"io"
	"os"
	"path/filepath"
)

// CopyFile copies from to a new file to (it must not exist), creating its
// directory, with from's permission bits plus owner write.
func CopyFile(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm()|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// LinkOrCopy makes to a hard link of from, or a copy where a link cannot be
// made (another file system).
func LinkOrCopy(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	if os.Link(from, to) == nil {
		return nil
	}
	return CopyFile(from, to)
}
