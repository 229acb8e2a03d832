package archive

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// closer is a file source whose Close fails with err.
type closer struct {
	io.Reader
	err error
}

func (c closer) Close() error { return c.err }

func TestWrite(t *testing.T) {
	ft, dt := time.Unix(1700000000, 0), time.Unix(1600000000, 0)
	list := []Entry{
		Bytes("z", []byte("last"), false, ft),
		Bytes("a/b/tool", []byte("#!"), true, ft),
		Bytes("a-b", []byte("dash"), false, ft),
		{Name: "empty", Dir: true},
		{Name: ".", Dir: true},
	}
	var plain, gz bytes.Buffer
	if err := Write(context.Background(), &plain, list, WriteOptions{Prefix: "p", DirTime: dt}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range entries(t, plain.Bytes()) {
		want := ft
		if strings.HasSuffix(h.Name, "/") {
			want = dt
		}
		if !h.ModTime.Equal(want) || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: time %v owner %d:%d %q:%q", h.Name, h.ModTime, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		got = append(got, h.Name+" "+strconv.FormatInt(h.Mode, 8))
	}
	// Sorted by name, a directory's with its slash; parents added.
	want := []string{"p/ 755", "p/a-b 644", "p/a/ 755", "p/a/b/ 755", "p/a/b/tool 755", "p/empty/ 755", "p/z 644"}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("entries\n%q\nwant\n%q", got, want)
	}

	// With Gzip, the same stream in a gzip member with an empty header.
	if err := Write(context.Background(), &gz, list, WriteOptions{Prefix: "p", DirTime: dt, Gzip: true}); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(&gz)
	if err != nil {
		t.Fatal(err)
	}
	if raw, err := io.ReadAll(zr); err != nil || !bytes.Equal(raw, plain.Bytes()) || zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip: %v, header %+v, same stream %v", err, zr.Header, bytes.Equal(raw, plain.Bytes()))
	}
}

func TestWriteRefuses(t *testing.T) {
	ok := Bytes("f", nil, false, time.Time{})
	for _, tt := range []struct {
		name    string
		entries []Entry
		prefix  string
		msg     string
	}{
		{"escaping name", []Entry{Bytes("../x", nil, false, time.Time{})}, "p", "invalid entry"},
		{"absolute name", []Entry{Bytes("/etc/x", nil, false, time.Time{})}, "p", "invalid entry"},
		{"empty name", []Entry{Bytes("", nil, false, time.Time{})}, "p", "invalid entry"},
		{"the prefix as a file", []Entry{Bytes(".", nil, false, time.Time{})}, "p", "invalid entry"},
		{"the prefix without one", []Entry{{Name: ".", Dir: true}}, "", "invalid entry"},
		{"a file without content", []Entry{{Name: "f"}}, "", "invalid entry"},
		{"bad prefix", []Entry{ok}, "../p", "invalid prefix"},
		{"twice", []Entry{ok, ok}, "", `"f" is there twice`},
		{"file and directory", []Entry{ok, Bytes("f/g", nil, false, time.Time{})}, "", `"f" is a file and a directory`},
	} {
		err := Write(context.Background(), io.Discard, tt.entries, WriteOptions{Prefix: tt.prefix})
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: Write = %v, want %q", tt.name, err, tt.msg)
		}
	}
}

// TestWriteSourceErrors: the errors of opening and closing a file's
// source come back as they are; one of reading it, content shorter than
// the size and a cancelled context fail the write.
func TestWriteSourceErrors(t *testing.T) {
	errOpen, errRead, errClose := errors.New("open failed"), errors.New("read failed"), errors.New("close: content differs")
	source := func(r io.Reader, openErr, closeErr error) func() (io.ReadCloser, error) {
		return func() (io.ReadCloser, error) {
			if openErr != nil {
				return nil, openErr
			}
			return closer{r, closeErr}, nil
		}
	}
	for _, tt := range []struct {
		name  string
		e     Entry
		ctx   func() context.Context
		want  error
		exact bool
	}{
		{"open", Entry{Name: "f", Size: 1, Open: source(nil, errOpen, nil)}, nil, errOpen, true},
		{"read", Entry{Name: "f", Size: 2, Open: source(io.MultiReader(strings.NewReader("x"), errorReader{errRead}), nil, nil)}, nil, errRead, false},
		{"close", Entry{Name: "f", Size: 1, Open: source(strings.NewReader("x"), nil, errClose)}, nil, errClose, true},
		{"short", Entry{Name: "f", Size: 5, Open: source(strings.NewReader("x"), nil, nil)}, nil, io.ErrUnexpectedEOF, false},
		{"cancelled", Bytes("f", []byte("x"), false, time.Time{}), func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, context.Canceled, false},
	} {
		ctx := context.Background()
		if tt.ctx != nil {
			ctx = tt.ctx()
		}
		err := Write(ctx, io.Discard, []Entry{tt.e}, WriteOptions{})
		if !errors.Is(err, tt.want) || (tt.exact && err != tt.want) {
			t.Errorf("%s: Write = %v, want %v", tt.name, err, tt.want)
		}
	}
}

type errorReader struct{ err error }

func (e errorReader) Read([]byte) (int, error) { return 0, e.err }
