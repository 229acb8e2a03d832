// Package archive moves directory trees in and out of containers as tar
// streams: written deterministically (sorted, owner root, normalized modes,
// directories at a fixed time, files at the time their content decides,
// fsx.ContentTime) and read defensively (no absolute paths, no "..", no links or
// devices, nothing written outside the target directory).
package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pbuild/pbuild/internal/fsx"
)

// epoch is the modification time of every entry pbuild writes.
func epoch() time.Time { return time.Unix(0, 0).UTC() }

// WriteDir writes the regular files and directories below dir to w as a tar
// stream whose entries are named prefix/<relative path>. Symbolic links and
// other special files are skipped, as Go module zips skip them.
func WriteDir(w io.Writer, dir, prefix string) error {
	tw := tar.NewWriter(w)
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir || d.Type().IsRegular() || d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("walk %s: %w", dir, err)
	}
	sort.Strings(names)
	for _, p := range names {
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		name := path.Join(prefix, filepath.ToSlash(rel))
		if err := writeEntry(tw, p, name); err != nil {
			return err
		}
	}
	return tw.Close()
}

// WriteFiles writes the named files below dir (slash paths relative to it)
// and their parent directories to w as a tar stream whose entries are named
// prefix/<name>.
func WriteFiles(w io.Writer, dir, prefix string, names []string) error {
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	for _, name := range names {
		if !fs.ValidPath(name) || name == "." {
			return fmt.Errorf("archive: invalid file name %q", name)
		}
		var parents []string
		for d := path.Dir(name); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			parents = append(parents, d)
		}
		for i := len(parents) - 1; i >= 0; i-- {
			if err := writeEntry(tw, filepath.Join(dir, filepath.FromSlash(parents[i])), path.Join(prefix, parents[i])); err != nil {
				return err
			}
		}
		if err := writeEntry(tw, filepath.Join(dir, filepath.FromSlash(name)), path.Join(prefix, name)); err != nil {
			return err
		}
	}
	return tw.Close()
}

func writeEntry(tw *tar.Writer, p, name string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: epoch(), Format: tar.FormatPAX})
	}
	mode := int64(0o644)
	if fi.Mode()&0o111 != 0 {
		mode = 0o755
	}
	mtime, err := fsx.FileContentTime(p)
	if err != nil {
		return fmt.Errorf("archive %s: %w", p, err)
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: fi.Size(), ModTime: mtime, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.CopyN(tw, f, fi.Size()); err != nil {
		return fmt.Errorf("archive %s: %w", p, err)
	}
	return nil
}

// ErrUnsafeEntry is returned (wrapped) for an entry Extract refuses.
var ErrUnsafeEntry = errors.New("unsafe archive entry")

// Extract reads a tar stream and writes the entries whose names start with
// strip (a slash path, "" for all) below dst, with strip removed. Only
// directories and regular files are accepted.
func Extract(r io.Reader, dst, strip string) error {
	tr := tar.NewReader(r)
	strip = strings.Trim(strip, "/")
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		name := strings.TrimSuffix(hdr.Name, "/")
		if strip != "" {
			if name == strip {
				continue
			}
			rest, ok := strings.CutPrefix(name, strip+"/")
			if !ok {
				continue
			}
			name = rest
		}
		if name == "" || path.IsAbs(name) || !fs.ValidPath(name) {
			return fmt.Errorf("%w: %q", ErrUnsafeEntry, hdr.Name)
		}
		target := filepath.Join(dst, filepath.FromSlash(name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			mode := os.FileMode(0o644)
			if hdr.Mode&0o111 != 0 {
				mode = 0o755
			}
			if err := writeFile(target, tr, hdr.Size, mode); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: %q is not a file or directory", ErrUnsafeEntry, hdr.Name)
		}
	}
}

func writeFile(target string, r io.Reader, size int64, mode os.FileMode) error {
	f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, r, size); err != nil {
		f.Close()
		return fmt.Errorf("extract %s: %w", target, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chmod(target, mode)
}
