package archive

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/pbuild/pbuild/internal/safefile"
)

const (
	// maxElemLen bounds one element of a name: the usual NAME_MAX.
	maxElemLen = 255
	// maxTrailer bounds the zero padding after the end-of-archive marker
	// (tar writers pad to their record size, 10 KiB for GNU tar).
	maxTrailer = 1 << 20
)

// Errors of Extract: every fault of the archive wraps one of them (errors
// of the target directory, such as a full disk, are returned as they are).
var (
	// ErrUnsafeEntry is an entry Extract refuses: an absolute or escaping
	// path, a link, a device, a fifo, a duplicate, an entry outside Top.
	ErrUnsafeEntry = errors.New("unsafe archive entry")
	// ErrTooLarge is an archive over a limit.
	ErrTooLarge = errors.New("archive too large")
	// ErrCorrupt is an archive that is not one complete tar stream (in
	// one complete gzip stream): truncated, a bad checksum, trailing data.
	ErrCorrupt = errors.New("corrupt archive")
)

// ExtractOptions say what Extract accepts. A zero limit is no limit.
type ExtractOptions struct {
	// Gzip: the stream is gzip-compressed, one member, nothing after it.
	Gzip bool
	// Strip, when set, is the directory whose contents are extracted (a
	// slash path): entries below it are written with it removed from
	// their names, all others are skipped.
	Strip string
	// Top, when set, is the one top-level directory every entry must be
	// in (or be).
	Top string
	// Overwrite replaces files that exist in the target; without it an
	// existing file is an ErrUnsafeEntry.
	Overwrite    bool
	MaxFileSize  int64
	MaxTotalSize int64
	MaxEntries   int
	// MaxNameLen bounds a whole name, in bytes; one element of a name is
	// at most 255 bytes in any case.
	MaxNameLen int
}

// File is a regular file Extract wrote.
type File struct {
	Name   string // slash path relative to the target directory
	Size   int64
	Exec   bool // written with mode 0755, else 0644
	SHA256 string
}

// Contents is what Extract wrote, in archive order.
type Contents struct {
	Files []File
	Dirs  []string // slash paths, without a trailing slash
}

// Extract reads a tar stream and writes its directories (mode 0755) and
// regular files (0755 when any execute bit is set, else 0644) below dst,
// a directory (made when missing). It accepts nothing else: no links of
// any kind, devices, fifos, sparse files or global headers; no absolute
// names, "." or ".." elements, backslashes or control characters; no name
// twice; no entry over the limits; a stream that ends with the
// end-of-archive marker and at most zero padding after it. All paths are
// resolved inside dst (os.Root), so nothing is written outside it, even
// when dst holds links. It stops with the context's error when ctx is
// cancelled. On an error, what was extracted so far stays in dst.
func Extract(ctx context.Context, r io.Reader, dst string, opts ExtractOptions) (*Contents, error) {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return nil, err
	}
	defer root.Close()

	br := bufio.NewReader(r)
	src := io.Reader(br)
	if opts.Gzip {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrCorrupt, err)
		}
		zr.Multistream(false)
		src = zr
	}
	opts.Strip = strings.Trim(opts.Strip, "/")
	cr := &countingReader{r: src}
	x := &extractor{root: root, opts: opts, seen: map[string]bool{}, dirs: map[string]bool{}, contents: &Contents{}}
	tr := tar.NewReader(cr)
	var dataEnd int64 // offset after the last entry's data and padding
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			// tar.Reader also stops cleanly at a block boundary without the
			// end-of-archive marker: require the two zero blocks.
			if cr.n < dataEnd+2*512 {
				return nil, fmt.Errorf("%w: truncated: no end-of-archive marker", ErrCorrupt)
			}
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		dataEnd = cr.n + (hdr.Size+511)/512*512
		if err := x.entry(ctx, hdr, tr); err != nil {
			return nil, err
		}
	}
	if err := drain(ctx, src); err != nil {
		return nil, err
	}
	if opts.Gzip {
		if _, err := br.ReadByte(); err != io.EOF {
			return nil, fmt.Errorf("%w: data after the gzip stream", ErrCorrupt)
		}
	}
	return x.contents, nil
}

// drain reads what follows the end-of-archive marker: zero padding, then
// (with gzip) the end of the gzip member, which checks its CRC and size.
func drain(ctx context.Context, r io.Reader) error {
	buf := make([]byte, 32<<10)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		k, err := r.Read(buf)
		for _, b := range buf[:k] {
			if b != 0 {
				return fmt.Errorf("%w: data after the end of the archive", ErrCorrupt)
			}
		}
		if n += int64(k); n > maxTrailer {
			return fmt.Errorf("%w: more than %d bytes of padding after the end of the archive", ErrCorrupt, maxTrailer)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type extractor struct {
	root     *os.Root
	opts     ExtractOptions
	seen     map[string]bool // names of the entries so far
	dirs     map[string]bool // directories made or found so far
	total    int64
	contents *Contents
}

func (x *extractor) entry(ctx context.Context, hdr *tar.Header, r io.Reader) error {
	name := hdr.Name
	if hdr.Typeflag == tar.TypeDir {
		name = strings.TrimSuffix(name, "/")
	}
	if x.opts.Strip != "" {
		rest, below := strings.CutPrefix(name, x.opts.Strip+"/")
		if !below {
			return nil // skipped
		}
		name = rest
	}
	if limit := x.opts.MaxEntries; limit > 0 && len(x.seen) >= limit {
		return fmt.Errorf("%w: more than %d entries", ErrTooLarge, limit)
	}
	if err := checkType(hdr); err != nil {
		return err
	}
	if err := x.checkName(hdr, name); err != nil {
		return err
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return fmt.Errorf("%w: %q is a sparse file", ErrUnsafeEntry, hdr.Name)
		}
	}
	if _, dup := x.seen[name]; dup {
		return fmt.Errorf("%w: %q appears twice", ErrUnsafeEntry, hdr.Name)
	}
	x.seen[name] = true
	if hdr.Typeflag == tar.TypeDir {
		if hdr.Size != 0 {
			return fmt.Errorf("%w: directory %q has a size of %d", ErrCorrupt, hdr.Name, hdr.Size)
		}
		if err := x.mkdirAll(name); err != nil {
			return err
		}
		x.contents.Dirs = append(x.contents.Dirs, name)
		return nil
	}
	if limit := x.opts.MaxFileSize; limit > 0 && hdr.Size > limit {
		return fmt.Errorf("%w: %q is %d bytes, over the limit of %d", ErrTooLarge, hdr.Name, hdr.Size, limit)
	}
	if x.total += hdr.Size; x.opts.MaxTotalSize > 0 && x.total > x.opts.MaxTotalSize {
		return fmt.Errorf("%w: the files are over the limit of %d bytes in all", ErrTooLarge, x.opts.MaxTotalSize)
	}
	f, err := x.file(ctx, name, hdr, r)
	if err != nil {
		return err
	}
	x.contents.Files = append(x.contents.Files, f)
	return nil
}

// checkType refuses everything but directories and regular files.
func checkType(hdr *tar.Header) error {
	switch hdr.Typeflag {
	case tar.TypeDir, tar.TypeReg: // tar.Reader reports TypeRegA as TypeReg
		return nil
	case tar.TypeSymlink, tar.TypeLink:
		return fmt.Errorf("%w: %q is a link to %q", ErrUnsafeEntry, hdr.Name, hdr.Linkname)
	case tar.TypeChar, tar.TypeBlock:
		return fmt.Errorf("%w: %q is a device", ErrUnsafeEntry, hdr.Name)
	case tar.TypeFifo:
		return fmt.Errorf("%w: %q is a fifo", ErrUnsafeEntry, hdr.Name)
	}
	return fmt.Errorf("%w: %q has type %q; only files and directories are allowed", ErrUnsafeEntry, hdr.Name, hdr.Typeflag)
}

// checkName checks an entry's name (stripped, without a directory's
// trailing slash).
func (x *extractor) checkName(hdr *tar.Header, name string) error {
	bad := func(why string) error { return fmt.Errorf("%w: %q: %s", ErrUnsafeEntry, hdr.Name, why) }
	switch {
	case name == "":
		return bad("empty name")
	case strings.HasPrefix(name, "/"):
		return bad("absolute path")
	case strings.ContainsFunc(name, func(c rune) bool { return c < 0x20 || c == 0x7f || c == '\\' }):
		return bad("control character or backslash in the name")
	case x.opts.MaxNameLen > 0 && len(name) > x.opts.MaxNameLen:
		return bad("name too long")
	}
	for _, elem := range strings.Split(name, "/") {
		if elem == ".." {
			return bad(`".." in the path`)
		}
		if len(elem) > maxElemLen {
			return bad("name too long")
		}
	}
	if !fs.ValidPath(name) {
		return bad("not a clean relative path")
	}
	if top := x.opts.Top; top != "" && name != top && !strings.HasPrefix(name, top+"/") {
		return bad("outside the top directory " + top)
	}
	return nil
}

// mkdirAll makes dir and its missing parents inside the root; a parent
// that exists must be a directory (os.Root refuses links that leave it).
// Each directory is made or checked once per extraction: no entry can
// turn it into something else (links are refused, a file cannot be
// opened over it).
func (x *extractor) mkdirAll(dir string) error {
	if dir == "." || x.dirs[dir] {
		return nil
	}
	if err := x.mkdirAll(path.Dir(dir)); err != nil {
		return err
	}
	err := x.root.Mkdir(dir, 0o755)
	if errors.Is(err, fs.ErrExist) {
		fi, serr := x.root.Lstat(dir)
		if serr != nil || !fi.IsDir() {
			return fmt.Errorf("%w: %q: a file is in the way of the directory", ErrUnsafeEntry, dir)
		}
		err = nil
	}
	if err == nil {
		x.dirs[dir] = true
	}
	return err
}

// file writes a regular file, which must not exist yet unless Overwrite.
func (x *extractor) file(ctx context.Context, name string, hdr *tar.Header, r io.Reader) (File, error) {
	if err := x.mkdirAll(path.Dir(name)); err != nil {
		return File{}, err
	}
	exec := hdr.Mode&0o111 != 0
	mode := fs.FileMode(0o644)
	if exec {
		mode = 0o755
	}
	flag := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if x.opts.Overwrite {
		flag = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := x.root.OpenFile(name, flag, mode)
	if errors.Is(err, fs.ErrExist) {
		return File{}, fmt.Errorf("%w: %q already exists", ErrUnsafeEntry, name)
	}
	if err != nil {
		return File{}, err
	}
	h := sha256.New()
	src := &errReader{r: r}
	n, err := safefile.Copy(ctx, io.MultiWriter(f, h), src)
	if err == nil {
		err = f.Chmod(mode) // the umask may have narrowed it
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case src.err != nil:
		return File{}, fmt.Errorf("%w: %q: %v", ErrCorrupt, hdr.Name, src.err)
	case err != nil:
		return File{}, err
	case n != hdr.Size:
		return File{}, fmt.Errorf("%w: %q: %d bytes of data, header says %d", ErrCorrupt, hdr.Name, n, hdr.Size)
	}
	return File{Name: name, Size: n, Exec: exec, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// errReader remembers the error of the stream it reads, to tell a fault of
// the source from one of the destination.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}
