package archive

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pbuild/pbuild/internal/fsx"
	"github.com/pbuild/pbuild/internal/safefile"
)

// Entry is a directory or a regular file Write writes.
type Entry struct {
	// Name is a slash path below the archive's prefix; "." is the prefix
	// itself (a directory).
	Name string
	Dir  bool
	// Exec gives a file mode 0755, else 0644; directories are 0755.
	Exec bool
	// ModTime is a file's time (directories are at WriteOptions.DirTime).
	ModTime time.Time
	// Size is a file's length; Open must yield exactly that many bytes.
	Size int64
	// Open returns a file's content when it is written. Its error and its
	// Close's are returned as they are: Close may check what was read.
	Open func() (io.ReadCloser, error)
}

// Bytes is a file entry holding data.
func Bytes(name string, data []byte, exec bool, mtime time.Time) Entry {
	return Entry{Name: name, Exec: exec, ModTime: mtime, Size: int64(len(data)),
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
}

// WriteOptions say how Write writes.
type WriteOptions struct {
	// Prefix is the directory every name is below ("" for none). Write
	// adds the parents of every entry below it, but not the prefix itself:
	// an Entry "." writes it.
	Prefix string
	// DirTime is every directory's time; the zero Time is the Unix epoch.
	DirTime time.Time
	// Gzip compresses at best compression, with an empty gzip header.
	Gzip bool
}

// Write writes entries, with their missing parent directories, to w as a
// deterministic tar stream: sorted by name (a directory's with its slash),
// owner 0:0 without names, mode 0755 for directories and Exec files, else
// 0644, files at their ModTime. It stops with the context's error when ctx
// is cancelled. A name that is not a clean relative path, or that is there
// twice, is an error.
func Write(ctx context.Context, w io.Writer, entries []Entry, opts WriteOptions) error {
	all, err := complete(entries, opts.Prefix)
	if err != nil {
		return err
	}
	var zw *gzip.Writer
	if opts.Gzip {
		zw, _ = gzip.NewWriterLevel(w, gzip.BestCompression) // a valid level
		w = zw
	}
	tw := tar.NewWriter(w)
	for _, e := range all {
		// PAX keeps a file's time to the nanosecond; a header that needs
		// no PAX record is written as USTAR.
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: e.Name, Mode: 0o644, ModTime: e.ModTime, Size: e.Size, Format: tar.FormatPAX}
		if e.Dir || e.Exec {
			hdr.Mode = 0o755
		}
		if e.Dir {
			hdr.Typeflag, hdr.ModTime, hdr.Size = tar.TypeDir, cmp.Or(opts.DirTime, time.Unix(0, 0)), 0
		}
		if err := writeEntry(ctx, tw, hdr, e.Open); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	if zw != nil {
		return zw.Close()
	}
	return nil
}

// complete checks the entries' names, adds the missing parent directories
// and returns them all as they are written: with full names (a
// directory's with a trailing slash), sorted.
func complete(entries []Entry, prefix string) ([]Entry, error) {
	if prefix != "" && !fs.ValidPath(prefix) {
		return nil, fmt.Errorf("archive: invalid prefix %q", prefix)
	}
	byName := map[string]Entry{}
	for _, e := range entries {
		if !fs.ValidPath(e.Name) || (e.Name == "." && (!e.Dir || prefix == "")) || (!e.Dir && e.Open == nil) {
			return nil, fmt.Errorf("archive: invalid entry %q", e.Name)
		}
		if _, dup := byName[e.Name]; dup {
			return nil, fmt.Errorf("archive: %q is there twice", e.Name)
		}
		byName[e.Name] = e
	}
	for _, e := range entries {
		for d := path.Dir(e.Name); d != "."; d = path.Dir(d) {
			if p, ok := byName[d]; ok && !p.Dir {
				return nil, fmt.Errorf("archive: %q is a file and a directory", d)
			} else if !ok {
				byName[d] = Entry{Name: d, Dir: true}
			}
		}
	}
	all := make([]Entry, 0, len(byName))
	for _, e := range byName {
		if e.Name = path.Join(prefix, e.Name); e.Dir {
			e.Name += "/"
		}
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return all, nil
}

// writeEntry writes a header and, for a file, exactly its size of bytes
// from open, stopping when ctx is cancelled.
func writeEntry(ctx context.Context, tw *tar.Writer, hdr *tar.Header, open func() (io.ReadCloser, error)) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if hdr.Typeflag == tar.TypeDir {
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("archive %s: %w", hdr.Name, err)
		}
		return nil
	}
	rc, err := open()
	if err != nil {
		return err
	}
	defer func() {
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
	}()
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("archive %s: %w", hdr.Name, err)
	}
	n, err := safefile.Copy(ctx, tw, io.LimitReader(rc, hdr.Size))
	if err == nil && n != hdr.Size {
		err = fmt.Errorf("%d bytes, want %d: %w", n, hdr.Size, io.ErrUnexpectedEOF)
	}
	if err != nil {
		return fmt.Errorf("archive %s: %w", hdr.Name, err)
	}
	return nil
}

// WriteDir writes the directory dir, its subdirectories and regular files
// (not links or special files, as Go module zips) below prefix, each file
// at the time of its content (fsx.ContentTime): the go command's package
// index tells files apart by name, size and time.
func WriteDir(ctx context.Context, w io.Writer, dir, prefix string) error {
	return writeDisk(ctx, w, dir, prefix, nil)
}

// WriteFiles writes the named regular files below dir (slash paths
// relative to it), as WriteDir writes them, with their parent directories.
func WriteFiles(ctx context.Context, w io.Writer, dir, prefix string, names []string) error {
	return writeDisk(ctx, w, dir, prefix, append([]string{}, names...))
}

// writeDisk writes the named files of dir; nil names: the whole tree.
func writeDisk(ctx context.Context, w io.Writer, dir, prefix string, names []string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	var entries []Entry
	if names == nil {
		if prefix != "" {
			entries = append(entries, Entry{Name: ".", Dir: true})
		}
		err := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
			switch {
			case err != nil || p == ".":
				return err
			case d.IsDir():
				entries = append(entries, Entry{Name: p, Dir: true})
			case d.Type().IsRegular():
				names = append(names, p)
			}
			return ctx.Err()
		})
		if err != nil {
			return fmt.Errorf("walk %s: %w", dir, err)
		}
	}
	for _, name := range names {
		fi, err := root.Lstat(filepath.FromSlash(name)) // refuses names that leave dir
		if err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("archive %s: not a regular file", p)
		}
		mtime, err := fsx.FileContentTime(p)
		if err != nil {
			return fmt.Errorf("archive %s: %w", p, err)
		}
		entries = append(entries, Entry{Name: name, Exec: fi.Mode()&0o111 != 0, ModTime: mtime, Size: fi.Size(),
			Open: func() (io.ReadCloser, error) { return root.Open(filepath.FromSlash(name)) }})
	}
	return Write(ctx, w, entries, WriteOptions{Prefix: prefix})
}
