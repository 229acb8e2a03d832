package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbuild/pbuild/internal/archive"
)

// entry is a crafted tar entry; data defaults to size bytes of 'x'.
type entry struct {
	hdr  tar.Header
	data string
}

func file(name, data string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data))}, data: data}
}

func dir(name string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}

// tarball writes entries as a tar stream, with or without gzip and the
// end-of-archive marker. Headers are written as given: sizes that do not
// match the data are the point of some tests.
func tarball(t testing.TB, entries []entry, opts ...string) []byte {
	t.Helper()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, e := range entries {
		hdr := e.hdr
		if hdr.Typeflag != tar.TypeXGlobalHeader {
			hdr.ModTime = time.Unix(0, 0)
		}
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.data)); err != nil && !errors.Is(err, tar.ErrWriteTooLong) {
			t.Fatal(err)
		}
	}
	if slices.Contains(opts, "no-end") {
		tw.Flush() // pads the last entry, writes no end-of-archive marker
	} else {
		tw.Close()
	}
	data := raw.Bytes()
	if slices.Contains(opts, "raw") {
		return data
	}
	return gz(t, data)
}

func gz(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	zw.Close()
	return buf.Bytes()
}

func TestExtract(t *testing.T) {
	res, _ := newBundle(t)
	dst := t.TempDir()
	contents, err := extract(context.Background(), bytes.NewReader(mustRead(t, res.Archive)), dst, archive.ExtractOptions{Top: res.Base})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{res.Base, res.Base + "/plugins"}; !slices.Equal(contents.Dirs, want) {
		t.Errorf("dirs %q, want %q", contents.Dirs, want)
	}
	if len(contents.Files) != 4 {
		t.Fatalf("files %+v", contents.Files)
	}
	for _, f := range contents.Files {
		p := filepath.Join(dst, filepath.FromSlash(f.Name))
		data := mustRead(t, p)
		fi, _ := os.Stat(p)
		want := os.FileMode(0o755)
		if !f.Exec {
			want = 0o644
		}
		if sha256Hex(data) != f.SHA256 || int64(len(data)) != f.Size || fi.Mode().Perm() != want {
			t.Errorf("%s: %+v, mode %v", f.Name, f, fi.Mode())
		}
		if rel := strings.TrimPrefix(f.Name, res.Base+"/"); testFiles[rel] != "" && string(data) != testFiles[rel] {
			t.Errorf("%s: content %q", f.Name, data)
		}
	}
}

// TestExtractRefuses feeds crafted archives to extract and checks each is
// refused with the right error, writing nothing outside the target.
func TestExtractRefuses(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "outside-target") // an absolute path a hostile entry names
	huge := file("top/huge", "")
	huge.hdr.Size = 1 << 40
	good := tarball(t, []entry{dir("top/"), file("top/a", "hello")})
	tests := []struct {
		name    string
		archive []byte
		want    error
		msg     string
	}{
		{"traversal", tarball(t, []entry{file("../x", "evil")}), archive.ErrUnsafeEntry, `".." in the path`},
		{"traversal inside", tarball(t, []entry{dir("top/"), file("top/../../x", "evil")}), archive.ErrUnsafeEntry, `".." in the path`},
		{"absolute", tarball(t, []entry{file(outside, "evil")}), archive.ErrUnsafeEntry, "absolute path"},
		{"absolute /etc", tarball(t, []entry{file("/etc/x", "evil")}), archive.ErrUnsafeEntry, "absolute path"},
		{"dot", tarball(t, []entry{file("./x", "evil")}), archive.ErrUnsafeEntry, "not a clean relative path"},
		{"backslash", tarball(t, []entry{file(`..\x`, "evil")}), archive.ErrUnsafeEntry, "backslash"},
		{"symlink to /", tarball(t, []entry{{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "top/root", Linkname: "/"}}}), archive.ErrUnsafeEntry, `is a link to "/"`},
		{"symlink then file through it", tarball(t, []entry{
			{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "top/out", Linkname: filepath.Dir(outside)}},
			file("top/out/outside-target", "evil"),
		}), archive.ErrUnsafeEntry, "is a link"},
		{"hardlink", tarball(t, []entry{file("top/a", "x"), {hdr: tar.Header{Typeflag: tar.TypeLink, Name: "top/b", Linkname: "top/a"}}}), archive.ErrUnsafeEntry, "is a link"},
		{"hardlink outside", tarball(t, []entry{{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "top/passwd", Linkname: "/etc/passwd"}}}), archive.ErrUnsafeEntry, "is a link"},
		{"char device", tarball(t, []entry{{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "top/null", Devmajor: 1, Devminor: 3}}}), archive.ErrUnsafeEntry, "is a device"},
		{"block device", tarball(t, []entry{{hdr: tar.Header{Typeflag: tar.TypeBlock, Name: "top/sda", Devmajor: 8}}}), archive.ErrUnsafeEntry, "is a device"},
		{"fifo", tarball(t, []entry{{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "top/fifo"}}}), archive.ErrUnsafeEntry, "is a fifo"},
		{"huge header size", tarball(t, []entry{huge}), archive.ErrTooLarge, "over the limit"},
		{"duplicate file", tarball(t, []entry{file("top/a", "one"), file("top/a", "two")}), archive.ErrUnsafeEntry, "appears twice"},
		{"duplicate dir", tarball(t, []entry{dir("top/"), dir("top")}), archive.ErrUnsafeEntry, "appears twice"},
		{"file then dir", tarball(t, []entry{file("top/a", "x"), dir("top/a/")}), archive.ErrUnsafeEntry, "appears twice"},
		{"file in the way", tarball(t, []entry{file("top/a", "x"), file("top/a/b", "y")}), archive.ErrUnsafeEntry, "a file is in the way"},
		{"outside top", tarball(t, []entry{dir("top/"), file("other/x", "y")}), archive.ErrUnsafeEntry, "outside the top directory"},
		{"truncated gzip", good[:len(good)/2], archive.ErrCorrupt, ""},
		{"truncated gzip trailer", good[:len(good)-4], archive.ErrCorrupt, ""},
		{"truncated tar", gz(t, tarball(t, []entry{file("top/a", strings.Repeat("x", 2000))}, "raw")[:1024]), archive.ErrCorrupt, "unexpected EOF"},
		{"no end marker", tarball(t, []entry{file("top/a", "x")}, "no-end"), archive.ErrCorrupt, "no end-of-archive marker"},
		{"bad crc", func() []byte { b := bytes.Clone(good); b[len(b)-8] ^= 1; return b }(), archive.ErrCorrupt, "checksum"},
		{"data after the archive", gz(t, append(tarball(t, []entry{file("top/a", "x")}, "raw"), "junk"...)), archive.ErrCorrupt, "data after the end of the archive"},
		{"data after gzip", append(bytes.Clone(good), 0), archive.ErrCorrupt, "data after the gzip stream"},
		{"second gzip member", append(bytes.Clone(good), good...), archive.ErrCorrupt, "data after the gzip stream"},
		{"not gzip", tarball(t, []entry{file("top/a", "x")}, "raw"), archive.ErrCorrupt, "gzip"},
		{"empty", nil, archive.ErrCorrupt, "gzip"},
		{"dir with data", tarball(t, []entry{{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "top/", Size: 3}, data: "abc"}}), archive.ErrCorrupt, "has a size"},
		{"global header", tarball(t, []entry{{hdr: tar.Header{Typeflag: tar.TypeXGlobalHeader, PAXRecords: map[string]string{"comment": "x"}}}}), archive.ErrUnsafeEntry, "only files and directories"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dst := filepath.Join(parent, "dst")
			if err := os.Mkdir(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			_, err := extract(context.Background(), bytes.NewReader(tt.archive), dst, archive.ExtractOptions{Top: "top", MaxFileSize: 1 << 20})
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("extract = %v, want %v containing %q", err, tt.want, tt.msg)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 1 {
				t.Errorf("the target's parent holds %d entries, want only dst", len(entries))
			}
			if _, err := os.Lstat(outside); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s was written", outside)
			}
			filepath.Walk(dst, func(p string, fi os.FileInfo, err error) error {
				if err == nil && !fi.IsDir() && !fi.Mode().IsRegular() {
					t.Errorf("%s: %v written", p, fi.Mode())
				}
				return nil
			})
		})
	}
}

func TestExtractLimits(t *testing.T) {
	many := []entry{dir("top/")}
	for i := range 5 {
		many = append(many, file("top/f"+string(rune('a'+i)), "12345"))
	}
	data := tarball(t, many)
	for _, tt := range []struct {
		opts archive.ExtractOptions
		msg  string
	}{
		{archive.ExtractOptions{MaxEntries: 5}, "more than 5 entries"},
		{archive.ExtractOptions{MaxFileSize: 4}, `"top/fa" is 5 bytes, over the limit of 4`},
		{archive.ExtractOptions{MaxTotalSize: 24}, "over the limit of 24 bytes in all"},
	} {
		_, err := extract(context.Background(), bytes.NewReader(data), t.TempDir(), tt.opts)
		if !errors.Is(err, archive.ErrTooLarge) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%+v: %v, want %q", tt.opts, err, tt.msg)
		}
	}
	if _, err := extract(context.Background(), bytes.NewReader(data), t.TempDir(), archive.ExtractOptions{MaxEntries: 6, MaxFileSize: 5, MaxTotalSize: 25}); err != nil {
		t.Errorf("at the limits: %v", err)
	}
}

// TestExtractIntoLinks: a target directory that already holds a link
// leading out is not followed (os.Root), and existing files are not
// overwritten.
func TestExtractIntoLinks(t *testing.T) {
	parent := t.TempDir()
	dst, out := filepath.Join(parent, "dst"), filepath.Join(parent, "out")
	os.Mkdir(dst, 0o755)
	os.Mkdir(out, 0o755)
	if err := os.Symlink(out, filepath.Join(dst, "top")); err != nil {
		t.Skip(err)
	}
	_, err := extract(context.Background(), bytes.NewReader(tarball(t, []entry{file("top/x", "evil")})), dst, archive.ExtractOptions{})
	if err == nil {
		t.Errorf("extract followed a link out of the target")
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("written through the link: %v", entries)
	}
	os.WriteFile(filepath.Join(dst, "mine"), []byte("keep"), 0o644)
	_, err = extract(context.Background(), bytes.NewReader(tarball(t, []entry{file("mine", "evil")})), dst, archive.ExtractOptions{})
	if !errors.Is(err, archive.ErrUnsafeEntry) || string(mustRead(t, filepath.Join(dst, "mine"))) != "keep" {
		t.Errorf("extract over an existing file: %v", err)
	}
}

func TestExtractCancelled(t *testing.T) {
	res, _ := newBundle(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := extract(ctx, bytes.NewReader(mustRead(t, res.Archive)), t.TempDir(), archive.ExtractOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("extract with a cancelled context = %v, want context.Canceled", err)
	}
}
