package safefile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ChunkSize is how much is read between two checks of the context.
const ChunkSize = 1 << 20

// maxGrow bounds what ReadAll allocates before it has read anything.
const maxGrow = 64 << 20

// NoLimit, as a limit, reads a file of any size.
const NoLimit int64 = -1

// The kinds of refusal; an *Error wraps one of them.
var (
	// ErrOutside: the name leads out of its directory ("..", an absolute
	// name, a symbolic link).
	ErrOutside = errors.New("outside its directory")
	// ErrNotRegular: a named pipe, a device, a directory, a socket.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge: over the caller's limit.
	ErrTooLarge = errors.New("over the size limit")
)

// Error is a file this package refuses to read.
type Error struct {
	Path   string // the file as named: its directory and name, or the path
	Err    error  // ErrOutside, ErrNotRegular or ErrTooLarge
	Detail string // what is wrong, in words
}

func (e *Error) Error() string { return e.Path + ": " + e.Detail }
func (e *Error) Unwrap() error { return e.Err }

// openFlags never wait: not for a writer of a named pipe, not for a
// device; and a terminal never becomes the controlling one.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY

// File is an open regular file, at most its limit long. Its methods that
// read it whole take a context; Read and ReadAt serve readers that need
// an io.Reader or io.ReaderAt (and stop at the limit too).
type File struct {
	f     *os.File
	path  string
	size  int64 // at open
	limit int64 // NoLimit or >= 0
	off   int64 // of Read
}

// Open opens the file name inside the directory dir for reading. name is
// slash- or OS-separated and relative to dir; it may not leave dir, by
// "..", by being absolute, or through a symbolic link (links that stay
// inside dir are fine). The file must be a regular file of at most limit
// bytes (NoLimit: any size).
func Open(ctx context.Context, dir, name string, limit int64) (*File, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := join(dir, name)
	if err := checkName(dir, name, p); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close() // the file stays open without it
	name = filepath.FromSlash(name)
	f, err := root.OpenFile(name, openFlags, 0)
	if err != nil {
		if isEscape(err) {
			return nil, &Error{Path: p, Err: ErrOutside, Detail: "leaves " + dir + " through a symbolic link"}
		}
		// Opening a socket fails (ENXIO): say what it is.
		if fi, serr := root.Stat(name); serr == nil && !fi.Mode().IsRegular() {
			return nil, notRegular(p, fi.Mode())
		}
		return nil, err
	}
	return newFile(f, p, limit)
}

// OpenPath opens the file at path for reading, following symbolic links
// wherever they lead: for a path the user named, not one read from input.
// The file must be a regular file of at most limit bytes (NoLimit: any
// size).
func OpenPath(ctx context.Context, path string, limit int64) (*File, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, openFlags, 0)
	if err != nil {
		if fi, serr := os.Stat(path); serr == nil && !fi.Mode().IsRegular() {
			return nil, notRegular(path, fi.Mode())
		}
		return nil, err
	}
	return newFile(f, path, limit)
}

// ReadFile reads the file name inside dir whole; see Open.
func ReadFile(ctx context.Context, dir, name string, limit int64) ([]byte, error) {
	f, err := Open(ctx, dir, name, limit)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadAll(ctx)
}

// ReadPath reads the file at path whole; see OpenPath.
func ReadPath(ctx context.Context, path string, limit int64) ([]byte, error) {
	f, err := OpenPath(ctx, path, limit)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadAll(ctx)
}

// Digest returns the lowercase hex sha256 of the file name inside dir;
// see Open.
func Digest(ctx context.Context, dir, name string, limit int64) (string, error) {
	f, err := Open(ctx, dir, name, limit)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return f.Digest(ctx)
}

// Copy copies src to dst until EOF, in chunks of ChunkSize, and stops
// with the context's error when it is cancelled.
func Copy(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, err := io.CopyN(dst, src, ChunkSize)
		n += k
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func newFile(f *os.File, path string, limit int64) (*File, error) {
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, notRegular(path, fi.Mode())
	}
	if limit < 0 {
		limit = NoLimit
	}
	if limit != NoLimit && fi.Size() > limit {
		f.Close()
		return nil, &Error{Path: path, Err: ErrTooLarge, Detail: fmt.Sprintf("%d bytes, over the limit of %d", fi.Size(), limit)}
	}
	return &File{f: f, path: path, size: fi.Size(), limit: limit}, nil
}

// Name is the file's path as it was named.
func (f *File) Name() string { return f.path }

// Size is the file's size when it was opened.
func (f *File) Size() int64 { return f.size }

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// max is how many bytes may be read: the limit, else all.
func (f *File) max() int64 {
	if f.limit == NoLimit {
		return math.MaxInt64
	}
	return f.limit
}

func (f *File) grew() error {
	return &Error{Path: f.path, Err: ErrTooLarge, Detail: fmt.Sprintf("grew over the limit of %d bytes while it was read", f.limit)}
}

// ReadAt reads like os.File.ReadAt, and fails with ErrTooLarge past the
// limit.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read %s: negative offset", f.path)
	}
	allowed := f.max() - off
	if allowed >= int64(len(p)) {
		return f.f.ReadAt(p, off)
	}
	n := 0
	if allowed > 0 {
		var err error
		if n, err = f.f.ReadAt(p[:allowed], off); err != nil {
			return n, err // including io.EOF: the file ends before the limit
		}
	}
	// At the limit: the file must end here.
	if k, _ := f.f.ReadAt(make([]byte, 1), f.max()); k == 0 {
		return n, io.EOF
	}
	return n, f.grew()
}

// Read reads like os.File.Read from where the last Read ended, and fails
// with ErrTooLarge past the limit.
func (f *File) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// all is the whole file as a reader, at most one byte over the limit.
func (f *File) all() io.Reader {
	m := f.max()
	if m < math.MaxInt64 {
		m++
	}
	return io.NewSectionReader(f.f, 0, m)
}

// ReadAll reads the whole file, from its start.
func (f *File) ReadAll(ctx context.Context) ([]byte, error) {
	var b bytes.Buffer
	// Room for the file as it was when opened, within reason: a huge
	// file read without a limit grows the buffer as it is read.
	if f.size < f.max() && f.size < maxGrow {
		b.Grow(int(f.size) + 1)
	}
	if err := f.copyAll(ctx, &b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Digest returns the lowercase hex sha256 of the whole file.
func (f *File) Digest(ctx context.Context) (string, error) {
	h := sha256.New()
	if err := f.copyAll(ctx, h); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// copyAll copies the whole file to w: an error when it is longer than its
// limit (it grew since it was opened).
func (f *File) copyAll(ctx context.Context, w io.Writer) error {
	n, err := Copy(ctx, w, f.all())
	if err != nil {
		return f.readError(err)
	}
	if n > f.max() {
		return f.grew()
	}
	return nil
}

func (f *File) readError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return err // names the file already
	}
	return fmt.Errorf("read %s: %w", f.path, err)
}

// join is how a name inside dir is shown; unlike filepath.Join it does
// not clean "..", so the name shows as given.
func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + string(filepath.Separator) + name
}

// checkName refuses names that leave dir by their letters alone.
func checkName(dir, name, p string) error {
	switch {
	case name == "":
		return &Error{Path: p, Err: fs.ErrInvalid, Detail: "empty name"}
	case filepath.IsAbs(name) || strings.HasPrefix(name, "/"):
		return &Error{Path: name, Err: ErrOutside, Detail: "absolute, not a name inside " + dir}
	case !filepath.IsLocal(filepath.FromSlash(name)):
		return &Error{Path: p, Err: ErrOutside, Detail: "leaves " + dir}
	}
	return nil
}

// isEscape reports whether os.Root refused a name because it leads out of
// the root (its error is not exported).
func isEscape(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Err != nil && pe.Err.Error() == "path escapes from parent"
}

func notRegular(path string, mode fs.FileMode) error {
	return &Error{Path: path, Err: ErrNotRegular, Detail: "is " + Describe(mode) + ", not a regular file"}
}

// Describe says what kind of file mode is, with an article ("a named
// pipe", "a regular file").
func Describe(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case mode&fs.ModeCharDevice != 0:
		return "a character device"
	case mode&fs.ModeDevice != 0:
		return "a block device"
	case mode.IsDir():
		return "a directory"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeSymlink != 0:
		return "a symbolic link"
	case mode.IsRegular():
		return "a regular file"
	}
	return "an irregular file (" + mode.Type().String() + ")"
}

// ContextReader reads f until ctx is cancelled: every read checks it, so
// that parsing a large file stops promptly. Its Size is the file's.
type ContextReader struct {
	Ctx  context.Context
	File *File
}

// ReadAt reads from the file unless ctx is done.
func (c ContextReader) ReadAt(p []byte, off int64) (int, error) {
	if err := c.Ctx.Err(); err != nil {
		return 0, err
	}
	return c.File.ReadAt(p, off)
}

// Size is the file's, so that the readers need not search for it.
func (c ContextReader) Size() int64 { return c.File.Size() }
