package outdir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pbuild/pbuild/internal/owner"
)

// Options tune Open.
type Options struct {
	// Self is the running pbuild: it marks what it makes.
	Self owner.ID
	// Clean allows replacing a directory pbuild did not make, or one
	// holding files it did not write (pbuild build --output-clean).
	Clean bool
	// OnWait, when set, is told once that another pbuild holds the output,
	// with what that pbuild wrote into the lock.
	OnWait func(holder string)
}

// Dir is an output directory locked for one build.
type Dir struct {
	path   string // absolute, as configured
	parent string // the real (symlink-free) directory holding it
	name   string
	opts   Options
	lock   *os.File
	// before is the output's identity when Open checked it; nil when it
	// did not exist.
	before *unix.Stat_t
	temps  []string
	// test seams: hook is called at every step of Install; noExchange
	// forces the two-rename path.
	hook       func(step string)
	noExchange bool
}

// tempPrefix is the start of every name pbuild uses beside the output.
func tempPrefix(name string) string { return "." + name + ".pbuild-" }

const (
	lockSuffix = "lock"
	oldSuffix  = ".old"
)

// Open locks the output directory path for a build (waiting while another
// pbuild holds it), recovers and removes what killed builds left beside
// it, and checks that the output may be replaced.
func Open(ctx context.Context, dir string, opts Options) (*Dir, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", dir, err)
	}
	name := filepath.Base(abs)
	if abs == filepath.Dir(abs) || name == "." || name == ".." {
		return nil, &NotOwnedError{Path: abs, What: "is a root directory"}
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("output %s: %w", abs, err)
	}
	parent, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", abs, err)
	}
	d := &Dir{path: abs, parent: parent, name: name, opts: opts}
	if err := d.takeLock(ctx); err != nil {
		return nil, err
	}
	if err := d.recover(); err != nil {
		d.Close()
		return nil, err
	}
	st, err := d.check()
	if err != nil {
		d.Close()
		return nil, err
	}
	d.before = st
	return d, nil
}

// Path is the output directory, as configured.
func (d *Dir) Path() string { return d.path }

// RealPath is the output directory with its parent's symbolic links
// resolved: where the files really go.
func (d *Dir) RealPath() string { return filepath.Join(d.parent, d.name) }

// Skips reports whether p, a path below some source directory, is the
// output directory or one of the names pbuild uses beside it: staging
// copies none of them.
func (d *Dir) Skips(p string) bool {
	base := filepath.Base(p)
	if base != d.name && !strings.HasPrefix(base, tempPrefix(d.name)) {
		return false
	}
	real, err := filepath.EvalSymlinks(filepath.Dir(p))
	return err == nil && real == d.parent
}

// Temp makes a new, marked directory beside the output to build into.
func (d *Dir) Temp() (string, error) {
	tmp, err := owner.MkdirTemp(d.parent, tempPrefix(d.name), d.opts.Self)
	if err != nil {
		return "", fmt.Errorf("output %s: temporary directory: %w", d.path, err)
	}
	d.temps = append(d.temps, tmp)
	return tmp, nil
}

// Install swaps tmp, a directory from Temp holding the complete new
// output, into place, and removes the old output. A kill at any instant
// leaves the old output or the new one in place.
func (d *Dir) Install(tmp string) error {
	files, err := regularFiles(tmp)
	if err != nil {
		return fmt.Errorf("install output: %w", err)
	}
	if err := owner.Mark(tmp, d.opts.Self, files); err != nil {
		return fmt.Errorf("install output: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("install output: %w", err)
	}
	d.step("marked")
	// What is there now must be what Open checked, still replaceable.
	st, err := d.check()
	if err != nil {
		return err
	}
	if !sameFile(st, d.before) {
		return &ChangedError{Path: d.path}
	}
	if st == nil {
		if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, d.RealPath(), unix.RENAME_NOREPLACE); err != nil {
			if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
				return fmt.Errorf("install output %s: %w", d.path, err)
			}
			if err := os.Rename(tmp, d.RealPath()); err != nil {
				return fmt.Errorf("install output %s: %w", d.path, err)
			}
		}
		d.step("installed")
		d.forget(tmp)
		return nil
	}
	// Someone else's directory the caller allows replacing, or an empty
	// one, becomes pbuild's first, so that whatever happens next it is
	// known as pbuild's.
	if _, err := owner.ReadMarker(d.RealPath()); err != nil {
		if err := owner.Mark(d.RealPath(), d.opts.Self, nil); err != nil {
			return fmt.Errorf("install output: %w", err)
		}
	}
	d.step("claimed")
	old, err := d.swap(tmp, st)
	if err != nil {
		return err
	}
	d.step("swapped")
	if err := removeMarked(old, d.step); err != nil {
		return fmt.Errorf("install output: remove the old output: %w", err)
	}
	d.step("removed")
	return nil
}

// swap puts tmp in the output's place and returns where the old output
// went.
func (d *Dir) swap(tmp string, st *unix.Stat_t) (string, error) {
	out := d.RealPath()
	if !d.noExchange {
		err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, out, unix.RENAME_EXCHANGE)
		if err == nil {
			// The old output is at tmp's name now: it must be the one
			// checked, or something replaced it in between.
			if got, err := lstat(tmp); err != nil || !sameFile(got, st) {
				unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, out, unix.RENAME_EXCHANGE)
				return "", &ChangedError{Path: d.path}
			}
			return tmp, nil
		}
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EOPNOTSUPP) {
			return "", fmt.Errorf("install output %s: %w", d.path, err)
		}
	}
	// No exchange here: the old output goes aside first. A kill between
	// the two renames leaves it there, and the next Open puts it back.
	old := tmp + oldSuffix
	if err := os.Rename(out, old); err != nil {
		return "", fmt.Errorf("install output %s: %w", d.path, err)
	}
	d.step("aside")
	if err := os.Rename(tmp, out); err != nil {
		if rerr := os.Rename(old, out); rerr != nil {
			return "", fmt.Errorf("install output %s: %w (and the old output could not be put back from %s: %v)", d.path, err, old, rerr)
		}
		return "", fmt.Errorf("install output %s: %w", d.path, err)
	}
	d.forget(tmp)
	return old, nil
}

func (d *Dir) forget(tmp string) {
	d.temps = slices.DeleteFunc(d.temps, func(t string) bool { return t == tmp })
}

func (d *Dir) step(s string) {
	if d.hook != nil {
		d.hook(s)
	}
}

// Close removes the temporary directories of this build that were not
// installed and releases the lock.
func (d *Dir) Close() error {
	var errs []error
	for _, t := range d.temps {
		if err := owner.RemoveMarked(t); err != nil && !errors.Is(err, os.ErrNotExist) {
			var nm *owner.NotMarkedError
			if !errors.As(err, &nm) {
				errs = append(errs, err)
			}
		}
	}
	d.temps = nil
	if d.lock != nil {
		os.Remove(d.lockPath()) // before unlocking: see takeLock
		errs = append(errs, d.lock.Close())
		d.lock = nil
	}
	return errors.Join(errs...)
}

func (d *Dir) lockPath() string { return filepath.Join(d.parent, tempPrefix(d.name)+lockSuffix) }

// takeLock locks the output. The lock file is removed on release; a
// waiter that locked a file no longer at the lock's name tries again.
func (d *Dir) takeLock(ctx context.Context) error {
	p := d.lockPath()
	told := false
	for {
		fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return fmt.Errorf("lock output %s: %w", d.path, &fs.PathError{Op: "open", Path: p, Err: err})
		}
		f := os.NewFile(uintptr(fd), p)
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			var held unix.Stat_t
			if unix.Fstat(fd, &held) == nil {
				if now, err := lstat(p); err == nil && sameFile(now, &held) {
					f.Truncate(0)
					f.WriteAt([]byte(d.opts.Self.String()+"\n"), 0)
					d.lock = f
					return nil
				}
			}
			f.Close() // released and removed meanwhile: try again
			continue
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return fmt.Errorf("lock output %s: %w", d.path, err)
		}
		if !told && d.opts.OnWait != nil {
			holder, _ := os.ReadFile(p)
			d.opts.OnWait(describeHolder(d.opts.Self, strings.TrimSpace(string(holder))))
			told = true
		}
		f.Close()
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the output lock %s: %w", p, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func describeHolder(self owner.ID, s string) string {
	o, err := owner.Parse(s)
	if err != nil {
		return "another pbuild"
	}
	if o.Machine != self.Machine {
		return "a pbuild on another machine"
	}
	return fmt.Sprintf("pbuild process %d", o.PID)
}

// recover, holding the lock, puts back an old output a killed pbuild left
// aside, and removes the temporary directories killed builds left.
func (d *Dir) recover() error {
	out := d.RealPath()
	entries, err := os.ReadDir(d.parent)
	if err != nil {
		return fmt.Errorf("output %s: %w", d.path, err)
	}
	var aside []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix(d.name)) && strings.HasSuffix(e.Name(), oldSuffix) && e.IsDir() {
			aside = append(aside, filepath.Join(d.parent, e.Name()))
		}
	}
	if _, err := os.Lstat(out); errors.Is(err, os.ErrNotExist) && len(aside) > 0 {
		if len(aside) > 1 {
			return &RecoverError{Path: d.path, Aside: aside}
		}
		if err := os.Rename(aside[0], out); err != nil {
			return fmt.Errorf("output %s: put back %s: %w", d.path, aside[0], err)
		}
	}
	// Holding the lock, every temporary directory beside the output is a
	// killed build's.
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tempPrefix(d.name)) || !e.IsDir() {
			continue
		}
		p := filepath.Join(d.parent, e.Name())
		if err := owner.RemoveMarked(p); err != nil {
			os.Remove(p) // an empty one, made but not marked yet
		}
	}
	return nil
}

// check says whether the output may be replaced, and returns its identity
// (nil when absent).
func (d *Dir) check() (*unix.Stat_t, error) {
	out := d.RealPath()
	st, err := lstat(out)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", d.path, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
	case unix.S_IFLNK:
		return nil, &NotOwnedError{Path: d.path, What: "is a symbolic link", Fatal: true}
	case unix.S_IFREG:
		return nil, &NotOwnedError{Path: d.path, What: "is a file", Fatal: true}
	default:
		return nil, &NotOwnedError{Path: d.path, What: "is not a directory", Fatal: true}
	}
	m, err := owner.ReadMarker(out)
	var known map[string]bool
	if err == nil {
		known = map[string]bool{owner.MarkerFile: true}
		for _, f := range m.Files {
			known[f] = true
			for dir := path.Dir(f); dir != "."; dir = path.Dir(dir) {
				known[dir] = true
			}
		}
	}
	foreign, err := foreignEntries(out, known)
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", d.path, err)
	}
	if len(foreign) > 0 && !d.opts.Clean {
		what := "holds files pbuild did not write"
		if known == nil {
			what = "is a directory pbuild did not make"
		}
		return nil, &NotOwnedError{Path: d.path, What: what, Files: foreign}
	}
	return st, nil
}

// foreignEntries lists, sorted, the entries below dir that are not in
// known (nil: none is), a directory once without what it holds.
func foreignEntries(dir string, known map[string]bool) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel := filepath.ToSlash(must(filepath.Rel(dir, p)))
		if known[rel] && (e.Type().IsRegular() || e.IsDir()) {
			return nil
		}
		out = append(out, rel)
		if e.IsDir() {
			return filepath.SkipDir
		}
		return nil
	})
	return out, err
}

// regularFiles lists the regular files below dir, slash paths.
func regularFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() && e.Name() != owner.MarkerFile {
			out = append(out, filepath.ToSlash(must(filepath.Rel(dir, p))))
		}
		return nil
	})
	return out, err
}

// removeMarked removes a directory pbuild made, its marker last; step is
// told once it started.
func removeMarked(dir string, step func(string)) error {
	if _, err := owner.ReadMarker(dir); err != nil {
		return err
	}
	step("removing")
	return owner.RemoveMarked(dir)
}

func lstat(p string) (*unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func sameFile(a, b *unix.Stat_t) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}
