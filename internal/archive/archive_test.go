package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pbuild/pbuild/internal/fsx"
)

// tree is a file tree to create: slash path -> content; a path ending in "/"
// is an (empty) directory. Modes are given separately.
type tree map[string]string

func writeTree(t *testing.T, dir string, files tree, modes map[string]os.FileMode) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if m, ok := modes[name]; ok {
			mode = m
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		// WriteFile's mode is subject to the umask.
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
}

// readTree returns every file (content) and directory ("/" suffix, empty
// content) below dir, and the permission bits of the files.
func readTree(t *testing.T, dir string) (tree, map[string]os.FileMode) {
	t.Helper()
	files := tree{}
	modes := map[string]os.FileMode{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, dir+string(filepath.Separator)))
		if d.IsDir() {
			files[rel+"/"] = ""
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files[rel] = string(data)
		modes[rel] = fi.Mode().Perm()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, modes
}

// entries lists the names, types and modes of a tar stream.
func entries(t *testing.T, data []byte) []tar.Header {
	t.Helper()
	var out []tar.Header
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, *hdr)
	}
}

func TestWriteDirExtractRoundTrip(t *testing.T) {
	files := tree{
		"go.mod":          "module example.com/m\n",
		"main.go":         "package main\n\nfunc main() {}\n",
		"bin/run.sh":      "#!/bin/sh\necho hi\n",
		"bin/owner-only":  "x",
		"a/b/c/deep.txt":  "deep\n",
		"empty/":          "",
		"a/b/empty.txt":   "",
		"dir-with-dash/x": "dash\n",
	}
	modes := map[string]os.FileMode{
		"bin/run.sh":     0o755,
		"bin/owner-only": 0o700, // any exec bit means executable
		"a/b/empty.txt":  0o600, // no exec bit: normalized to 0644
	}
	src := t.TempDir()
	writeTree(t, src, files, modes)
	// Symbolic links are skipped, not followed.
	if err := os.Symlink("main.go", filepath.Join(src, "link.go")); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	if err := WriteDir(context.Background(), &buf, src, "src"); err != nil {
		t.Fatal(err)
	}
	for _, h := range entries(t, buf.Bytes()) {
		if h.Name != "src/" && !strings.HasPrefix(h.Name, "src/") {
			t.Errorf("entry %q is not below the prefix src/", h.Name)
		}
		if h.Name == "src/link.go" {
			t.Errorf("symbolic link archived as %q", h.Name)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("entry %q has owner %d:%d (%q:%q), want root", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		checkTime(t, src, "src", &h)
	}

	dst := t.TempDir()
	if err := extractStrip(bytes.NewReader(buf.Bytes()), dst, "src"); err != nil {
		t.Fatal(err)
	}
	got, gotModes := readTree(t, dst)
	want := tree{}
	for k, v := range files {
		want[k] = v
	}
	for _, d := range []string{"a/", "a/b/", "a/b/c/", "bin/", "dir-with-dash/"} {
		want[d] = ""
	}
	if !equalTrees(got, want) {
		t.Errorf("extracted tree:\n%v\nwant:\n%v", keys(got), keys(want))
	}
	for k, v := range want {
		if !strings.HasSuffix(k, "/") && got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	wantModes := map[string]os.FileMode{
		"bin/run.sh":     0o755,
		"bin/owner-only": 0o755,
		"a/b/empty.txt":  0o644,
		"main.go":        0o644,
		"go.mod":         0o644,
	}
	for name, m := range wantModes {
		if gotModes[name] != m {
			t.Errorf("mode of %s = %v, want %v", name, gotModes[name], m)
		}
	}
}

func TestWriteDirDeterministic(t *testing.T) {
	files := tree{
		"z.txt":         "z",
		"a.txt":         "a",
		"sub/inner.txt": "inner",
		"sub/x.sh":      "#!/bin/sh\n",
		"sub2/":         "",
	}
	modes := map[string]os.FileMode{"sub/x.sh": 0o755}

	// The same tree in two directories, written at different times, with
	// different mtimes and different permissions that normalize alike.
	dir1, dir2 := t.TempDir(), t.TempDir()
	writeTree(t, dir1, files, modes)
	writeTree(t, dir2, files, map[string]os.FileMode{"sub/x.sh": 0o700})
	if err := os.Chmod(filepath.Join(dir2, "a.txt"), 0o600); err != nil {
		t.Fatal(err)
	}

	write := func(dir string) []byte {
		var buf bytes.Buffer
		if err := WriteDir(context.Background(), &buf, dir, "p"); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	first := write(dir1)
	if again := write(dir1); !bytes.Equal(first, again) {
		t.Fatal("two WriteDir calls over an unchanged tree differ")
	}

	// Touch every file and directory.
	later := time.Now().Add(48 * time.Hour)
	filepath.WalkDir(dir1, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			os.Chtimes(p, later, later)
		}
		return err
	})
	if touched := write(dir1); !bytes.Equal(first, touched) {
		t.Error("WriteDir output changed after touching mtimes")
	}
	if other := write(dir2); !bytes.Equal(first, other) {
		t.Error("WriteDir output differs between two checkouts of one tree")
	}

	// Entries come sorted, each directory before its contents.
	var names []string
	for _, h := range entries(t, first) {
		names = append(names, h.Name)
	}
	want := []string{"p/", "p/a.txt", "p/sub/", "p/sub/inner.txt", "p/sub/x.sh", "p/sub2/", "p/z.txt"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("entries = %q, want %q", names, want)
	}

	// And a change of content is visible.
	if err := os.WriteFile(filepath.Join(dir1, "a.txt"), []byte("b"), 0o644); err != nil {
		t.Fatal(err)
	}
	if changed := write(dir1); bytes.Equal(first, changed) {
		t.Error("WriteDir output did not change with the content")
	}
}

// tarEntry is an entry of a hand-made tar stream.
type tarEntry struct {
	hdr  tar.Header
	body string
}

func reg(name, body string) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))}, body: body}
}

func dirEntry(name string) tarEntry {
	return tarEntry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}

func makeTar(t *testing.T, list ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range list {
		hdr := e.hdr
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatalf("header %q: %v", hdr.Name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExtractRejectsUnsafeEntries(t *testing.T) {
	tests := []struct {
		name  string
		entry tarEntry
		strip string
	}{
		{"absolute path", reg("/escape.txt", "x"), ""},
		{"absolute path below root", reg("/tmp/escape.txt", "x"), ""},
		{"parent directory", reg("../escape.txt", "x"), ""},
		{"parent directory in the middle", reg("ok/../../escape.txt", "x"), ""},
		{"parent directory after strip", reg("out/../escape.txt", "x"), "out"},
		{"dot element", reg("./a.txt", "x"), ""},
		{"root directory", dirEntry("/"), ""},
		{"symbolic link", tarEntry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "link", Linkname: "../../escape.txt"}}, ""},
		{"symbolic link to absolute", tarEntry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "out/link", Linkname: "/etc/passwd"}}, "out"},
		{"hard link", tarEntry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "hard", Linkname: "../escape.txt"}}, ""},
		{"character device", tarEntry{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "null", Devmajor: 1, Devminor: 3}}, ""},
		{"block device", tarEntry{hdr: tar.Header{Typeflag: tar.TypeBlock, Name: "sda", Devmajor: 8}}, ""},
		{"fifo", tarEntry{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "fifo"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// dst is inside parent, so anything written beside dst shows.
			parent := t.TempDir()
			dst := filepath.Join(parent, "dst")
			if err := os.Mkdir(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			data := makeTar(t, tt.entry)
			err := extractStrip(bytes.NewReader(data), dst, tt.strip)
			if !errors.Is(err, ErrUnsafeEntry) {
				t.Fatalf("Extract = %v, want an error wrapping ErrUnsafeEntry", err)
			}
			if !strings.Contains(err.Error(), tt.entry.hdr.Name) {
				t.Errorf("error %q does not name the entry %q", err, tt.entry.hdr.Name)
			}
			got, _ := readTree(t, parent)
			if len(got) != 1 {
				t.Errorf("Extract wrote %v, want only the empty dst/", keys(got))
			}
			if _, err := os.Lstat(filepath.Join(parent, "escape.txt")); err == nil {
				t.Error("escape.txt was written outside dst")
			}
		})
	}
}

func TestExtractStopsAtUnsafeEntry(t *testing.T) {
	// An unsafe entry after safe ones: the error names it, entries after
	// it are not extracted and nothing lands outside dst.
	parent := t.TempDir()
	dst := filepath.Join(parent, "dst")
	data := makeTar(t,
		dirEntry("out/"),
		reg("out/ok.txt", "ok"),
		reg("out/../../escape.txt", "evil"),
		reg("out/after.txt", "after"),
	)
	err := extractStrip(bytes.NewReader(data), dst, "out")
	if !errors.Is(err, ErrUnsafeEntry) {
		t.Fatalf("Extract = %v, want ErrUnsafeEntry", err)
	}
	got, _ := readTree(t, parent)
	want := tree{"dst/": "", "dst/ok.txt": "ok"}
	if !equalTrees(got, want) {
		t.Errorf("tree after failed extract = %v, want %v", keys(got), keys(want))
	}
}

func TestExtractStrip(t *testing.T) {
	data := makeTar(t,
		dirEntry("out/"),
		dirEntry("out/plugins/"),
		reg("out/host", "host"),
		reg("out/plugins/a.so", "a"),
		reg("outside.txt", "not under the prefix"),
		reg("outer/x", "prefix is a whole path element"),
		reg("out", "an entry named like the prefix itself"),
		// Unsafe names not under the prefix are skipped, not extracted.
		reg("/abs/elsewhere", "skipped"),
	)
	tests := []struct {
		name  string
		strip string
		data  []byte // the archive above when nil
		want  tree
		err   bool
	}{
		{
			name:  "strip out",
			strip: "out",
			want:  tree{"plugins/": "", "host": "host", "plugins/a.so": "a"},
		},
		{
			name:  "strip with slashes",
			strip: "/out/",
			want:  tree{"plugins/": "", "host": "host", "plugins/a.so": "a"},
		},
		{
			name:  "strip a subdirectory",
			strip: "out/plugins",
			want:  tree{"a.so": "a"},
		},
		{
			name:  "prefix matching nothing",
			strip: "nothing",
			want:  tree{},
		},
		{
			name:  "no strip",
			strip: "",
			data:  makeTar(t, dirEntry("out/"), reg("out/host", "host"), reg("top.txt", "top")),
			want:  tree{"out/": "", "out/host": "host", "top.txt": "top"},
		},
		{
			// Without a prefix the absolute entry is not skipped but refused.
			name:  "no strip refuses what strip skipped",
			strip: "",
			data:  makeTar(t, reg("top.txt", "top"), reg("/abs/elsewhere", "x")),
			err:   true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := t.TempDir()
			in := data
			if tt.data != nil {
				in = tt.data
			}
			err := extractStrip(bytes.NewReader(in), dst, tt.strip)
			if tt.err {
				if !errors.Is(err, ErrUnsafeEntry) {
					t.Fatalf("Extract = %v, want ErrUnsafeEntry", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := readTree(t, dst)
			if !equalTrees(got, tt.want) {
				t.Fatalf("extracted %v, want %v", keys(got), keys(tt.want))
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestExtractOverwritesFileAndMode(t *testing.T) {
	dst := t.TempDir()
	p := filepath.Join(dst, "tool")
	if err := os.WriteFile(p, []byte("an older, longer content"), 0o755); err != nil {
		t.Fatal(err)
	}
	data := makeTar(t, reg("tool", "new"))
	if _, err := Extract(context.Background(), bytes.NewReader(data), dst, ExtractOptions{}); !errors.Is(err, ErrUnsafeEntry) {
		t.Fatalf("Extract over an existing file without Overwrite = %v, want ErrUnsafeEntry", err)
	}
	if _, err := Extract(context.Background(), bytes.NewReader(data), dst, ExtractOptions{Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	got, modes := readTree(t, dst)
	if got["tool"] != "new" || modes["tool"] != 0o644 {
		t.Errorf("tool = %q mode %v, want %q mode 0644", got["tool"], modes["tool"], "new")
	}
}

func TestExtractTruncatedArchive(t *testing.T) {
	data := makeTar(t, reg("big.txt", strings.Repeat("x", 4096)))
	err := extractStrip(bytes.NewReader(data[:1024]), t.TempDir(), "")
	if err == nil {
		t.Fatal("Extract of a truncated archive succeeded")
	}
	if errors.Is(err, ErrUnsafeEntry) {
		t.Errorf("truncated archive reported as unsafe: %v", err)
	}
}

// extractStrip extracts a plain tar stream below dst, strip removed.
func extractStrip(r io.Reader, dst, strip string) error {
	_, err := Extract(context.Background(), r, dst, ExtractOptions{Strip: strip})
	return err
}

func equalTrees(a, b tree) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

func keys(m tree) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestWriteFiles(t *testing.T) {
	src := t.TempDir()
	writeTree(t, src, tree{"host": "h", "plugins/a.so": "a", "plugins/b.so": "b", "manifest.json": "{}", "deep/x/y/z": "z"},
		map[string]os.FileMode{"host": 0o755})
	var buf bytes.Buffer
	if err := WriteFiles(context.Background(), &buf, src, "out", []string{"host", "plugins/a.so", "plugins/b.so", "deep/x/y/z"}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range entries(t, buf.Bytes()) {
		names = append(names, h.Name)
		checkTime(t, src, "out", &h)
	}
	want := []string{"out/deep/", "out/deep/x/", "out/deep/x/y/", "out/deep/x/y/z", "out/host", "out/plugins/", "out/plugins/a.so", "out/plugins/b.so"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("entries = %q\nwant      %q", names, want)
	}
	dst := t.TempDir()
	if err := extractStrip(bytes.NewReader(buf.Bytes()), dst, "out"); err != nil {
		t.Fatal(err)
	}
	got, modes := readTree(t, dst)
	if got["host"] != "h" || modes["host"] != 0o755 || got["plugins/b.so"] != "b" || got["deep/x/y/z"] != "z" {
		t.Errorf("extracted %v %v", got, modes)
	}
	if _, ok := got["manifest.json"]; ok {
		t.Error("a file not named was written")
	}

	for _, bad := range []string{"../x", "/etc/passwd", ".", "a/../../b", ""} {
		if err := WriteFiles(context.Background(), io.Discard, src, "out", []string{bad}); err == nil {
			t.Errorf("WriteFiles(%q) succeeded", bad)
		}
	}
	if err := WriteFiles(context.Background(), io.Discard, src, "out", []string{"missing"}); err == nil {
		t.Error("WriteFiles of a missing file succeeded")
	}
}

// checkTime: a directory has the epoch as its time, a file the time its
// content decides, whatever its time on disk.
func checkTime(t *testing.T, src, prefix string, h *tar.Header) {
	t.Helper()
	want := time.Unix(0, 0)
	if h.Typeflag == tar.TypeReg {
		data, err := os.ReadFile(filepath.Join(src, filepath.FromSlash(strings.TrimPrefix(h.Name, prefix+"/"))))
		if err != nil {
			t.Fatal(err)
		}
		want = fsx.ContentTime(sha256.Sum256(data))
	}
	if !h.ModTime.Equal(want) {
		t.Errorf("entry %q has mtime %v, want %v", h.Name, h.ModTime, want)
	}
}

// TestContentTimes: an edit that keeps a file's size changes its time in
// the archive (the go command's package index tells files apart by name,
// size and time), and the same content gets the same time again.
func TestContentTimes(t *testing.T) {
	timeOf := func(content string) time.Time {
		src := t.TempDir()
		writeTree(t, src, tree{"main.go": content}, nil)
		var buf bytes.Buffer
		if err := WriteDir(context.Background(), &buf, src, "src"); err != nil {
			t.Fatal(err)
		}
		for _, h := range entries(t, buf.Bytes()) {
			if h.Name == "src/main.go" {
				return h.ModTime
			}
		}
		t.Fatal("no main.go")
		return time.Time{}
	}
	a, b, a2 := timeOf(`import "example.com/x/ap1"`), timeOf(`import "example.com/x/ap2"`), timeOf(`import "example.com/x/ap1"`)
	if a.Equal(b) {
		t.Errorf("an edit that keeps the size keeps the time %v", a)
	}
	if !a.Equal(a2) {
		t.Errorf("the same content got two times: %v, %v", a, a2)
	}
}
