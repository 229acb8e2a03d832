package owner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// MarkerFile is the file that marks a directory pbuild made.
const MarkerFile = ".pbuild-made"

// maxMarker bounds the marker's size: it is read from directories that may
// not be pbuild's.
const maxMarker = 4 << 20

// Marker is what a directory pbuild made says of itself.
type Marker struct {
	// Owner is the process that made the directory.
	Owner string `json:"owner"`
	// Dev and Ino are the directory's own identity when the marker was
	// written: a marker copied into another directory does not match it.
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
	// Files, when set, are the slash paths of the files pbuild wrote in
	// the directory (an output directory's artifacts).
	Files []string `json:"files,omitempty"`
}

// NotMarkedError is a directory that pbuild did not make, or cannot prove
// it made.
type NotMarkedError struct {
	Dir    string
	Reason string
}

func (e *NotMarkedError) Error() string { return e.Dir + ": " + e.Reason }

// Mark writes the marker of dir, made by self, listing files. The marker
// is replaced atomically.
func Mark(dir string, self ID, files []string) error {
	fd, st, err := openDir(dir)
	if err != nil {
		return fmt.Errorf("mark %s: %w", dir, err)
	}
	defer unix.Close(fd)
	data, err := json.Marshal(Marker{Owner: self.String(), Dev: uint64(st.Dev), Ino: st.Ino, Files: files})
	if err != nil {
		return fmt.Errorf("mark %s: %w", dir, err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", MarkerFile, time.Now().UnixNano())
	f, err := unix.Openat(fd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return fmt.Errorf("mark %s: %w", dir, err)
	}
	_, werr := unix.Write(f, append(data, '\n'))
	if cerr := unix.Close(f); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = unix.Renameat(fd, tmp, fd, MarkerFile)
	}
	if werr != nil {
		unix.Unlinkat(fd, tmp, 0)
		return fmt.Errorf("mark %s: %w", dir, werr)
	}
	return nil
}

// ReadMarker returns the marker of dir when dir is a directory (not a
// symbolic link to one) whose marker was written in it, not copied there.
// Any other case is a *NotMarkedError.
func ReadMarker(dir string) (*Marker, error) {
	fd, st, err := openDir(dir)
	if err != nil {
		return nil, &NotMarkedError{Dir: dir, Reason: describeOpen(err)}
	}
	defer unix.Close(fd)
	mf, err := unix.Openat(fd, MarkerFile, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &NotMarkedError{Dir: dir, Reason: "it has no " + MarkerFile + " marker: pbuild did not make it"}
	}
	f := os.NewFile(uintptr(mf), filepath.Join(dir, MarkerFile))
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > maxMarker {
		return nil, &NotMarkedError{Dir: dir, Reason: "its " + MarkerFile + " is not a marker pbuild wrote"}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxMarker))
	if err != nil {
		return nil, &NotMarkedError{Dir: dir, Reason: "cannot read its marker: " + err.Error()}
	}
	var m Marker
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, &NotMarkedError{Dir: dir, Reason: "its " + MarkerFile + " is not a marker pbuild wrote"}
	}
	if m.Dev != uint64(st.Dev) || m.Ino != st.Ino {
		return nil, &NotMarkedError{Dir: dir, Reason: "its marker was written in another directory (a copy): pbuild did not make this one"}
	}
	return &m, nil
}

// openDir opens dir itself, never through a symbolic link in its last
// element, and returns its identity.
func openDir(dir string) (int, *unix.Stat_t, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	return fd, &st, nil
}

// describeOpen says why a directory could not be opened as one.
func describeOpen(err error) string {
	switch {
	case errors.Is(err, unix.ELOOP):
		return "it is a symbolic link"
	case errors.Is(err, unix.ENOTDIR):
		return "it is not a directory"
	case errors.Is(err, unix.ENOENT):
		return "it does not exist"
	}
	return err.Error()
}

// MkdirTemp makes a new directory in dir named prefix followed by a random
// string, marked as self's.
func MkdirTemp(dir, prefix string, self ID) (string, error) {
	tmp, err := os.MkdirTemp(dir, prefix+"*")
	if err != nil {
		return "", err
	}
	if err := Mark(tmp, self, nil); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// RemoveMarked removes a directory pbuild made, its marker last, so that a
// removal cut short leaves a directory that is still known as pbuild's (or
// an empty one).
func RemoveMarked(dir string) error {
	if _, err := ReadMarker(dir); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == MarkerFile {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	if err := os.Remove(filepath.Join(dir, MarkerFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.Remove(dir)
}

// unmarkedAge is how old an empty, unmarked directory with pbuild's name
// must be before a sweep removes it: a live pbuild marks its directories
// right after making them.
const unmarkedAge = 10 * time.Minute

// Sweep removes the directories in dir whose names start with prefix and
// that a dead process on this machine made: marked by it, or empty, unmarked
// and old (a pbuild killed between making and marking one). It returns what
// it removed. Directories of live processes, of other machines, and
// anything pbuild did not make are left alone.
func Sweep(dir, prefix string, self ID) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("sweep %s: %w", dir, err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), prefix) || !e.IsDir() || e.Type()&os.ModeSymlink != 0 {
			continue
		}
		p := filepath.Join(dir, e.Name())
		m, err := ReadMarker(p)
		if err != nil {
			if fi, serr := os.Lstat(p); serr == nil && time.Since(fi.ModTime()) > unmarkedAge && os.Remove(p) == nil {
				removed = append(removed, p) // empty: rmdir removes nothing else
			}
			continue
		}
		o, err := Parse(m.Owner)
		if err != nil || self.Judge(o) != Dead {
			continue
		}
		if err := RemoveMarked(p); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}
