// Package fsx holds the file operations pbuild's packages share: copying a
// file into a fresh place, keeping one by hard link, and giving files the
// modification time their content decides.
package fsx

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/pbuild/pbuild/internal/digest"
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

// ContentTime is the modification time pbuild gives a file with the given
// sha256: a function of the content alone, so that the same content gets
// the same time in every build and checkout, and an edit gets another
// time. The go command's package index (kept in the Go build cache, which
// pbuild shares between builds) tells a directory's files apart by name,
// size and modification time only: with one fixed time for every file, an
// edit that keeps a file's size was served the index of the old content.
// The time falls between 2000 and 2030, to the nanosecond: two contents
// share a time with a chance of about 2^-59.
func ContentTime(sum [sha256.Size]byte) time.Time {
	const span = 30 * 365 * 24 * time.Hour
	n := binary.BigEndian.Uint64(sum[:8]) % uint64(span)
	return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n))
}

// FileContentTime is the ContentTime of the file at p, hashed by
// digest.File (a regular file only).
func FileContentTime(p string) (time.Time, error) {
	s, err := digest.File(p)
	if err != nil {
		return time.Time{}, err
	}
	var sum [sha256.Size]byte
	if _, err := hex.Decode(sum[:], []byte(s)); err != nil {
		return time.Time{}, fmt.Errorf("digest of %s: %w", p, err)
	}
	return ContentTime(sum), nil
}

// StampContentTimes gives every regular file below dir its ContentTime.
func StampContentTimes(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		t, err := FileContentTime(p)
		if err != nil {
			return err
		}
		return os.Chtimes(p, t, t)
	})
}
