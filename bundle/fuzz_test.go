package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pbuild/pbuild/internal/archive"
)

var writeSeeds = flag.Bool("seeds", false, "rewrite the seed corpus in testdata/fuzz/FuzzReadBundle")

// FuzzReadBundle feeds arbitrary bytes to extract: it must not panic,
// must fail with one of its errors or extract exactly what it reports,
// only regular files and directories, and nothing outside the target.
func FuzzReadBundle(f *testing.F) {
	base := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		// Inputs that are not gzip are taken as tar streams and compressed
		// here, so that mutations reach the tar reader too, not only
		// gzip's checksum.
		if !bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
			data = gz(t, data)
		}
		parent, err := os.MkdirTemp(base, "")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(parent)
		dst := filepath.Join(parent, "dst")
		if err := os.Mkdir(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		contents, err := extract(context.Background(), bytes.NewReader(data), dst, archive.ExtractOptions{MaxFileSize: 1 << 20, MaxTotalSize: 4 << 20, MaxEntries: 200})
		if entries, _ := os.ReadDir(parent); len(entries) != 1 {
			t.Fatalf("extract wrote beside its target: %v", entries)
		}
		if err != nil {
			if !errors.Is(err, archive.ErrUnsafeEntry) && !errors.Is(err, archive.ErrTooLarge) && !errors.Is(err, archive.ErrCorrupt) {
				t.Fatalf("extract failed with an error of no kind: %v", err)
			}
			return
		}
		files := map[string]string{}
		for _, f := range contents.Files {
			files[f.Name] = f.SHA256
		}
		n := 0
		err = filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if !d.Type().IsRegular() {
				return fmt.Errorf("%s is a %v", p, d.Type())
			}
			rel, _ := filepath.Rel(dst, p)
			if sum, ok := files[filepath.ToSlash(rel)]; !ok || sha256Hex(mustRead(t, p)) != sum {
				return fmt.Errorf("%s is not what extract reported", rel)
			}
			n++
			return nil
		})
		if err != nil || n != len(files) {
			t.Fatalf("extracted %d of %d files: %v", n, len(files), err)
		}
	})
}

// seedBundles are the seed corpus of FuzzReadBundle, by file name: a good
// bundle and crafted archives, with whether extract accepts each.
func seedBundles(t *testing.T) map[string]struct {
	data []byte
	ok   bool
} {
	res, _ := newBundle(t)
	long := file("top/"+strings.Repeat("n", 300), "x")
	huge := file("top/huge", "")
	huge.hdr.Size = 1 << 40
	seeds := map[string]struct {
		data []byte
		ok   bool
	}{
		"good-bundle":   {mustRead(t, res.Archive), true},
		"traversal":     {tarball(t, []entry{dir("top/"), file("top/../../x", "evil")}), false},
		"absolute":      {tarball(t, []entry{file("/tmp/pbuild-fuzz-x", "evil")}), false},
		"symlink":       {tarball(t, []entry{{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "top/root", Linkname: "/"}}}), false},
		"hardlink":      {tarball(t, []entry{file("top/a", "x"), {hdr: tar.Header{Typeflag: tar.TypeLink, Name: "top/b", Linkname: "top/a"}}}), false},
		"device":        {tarball(t, []entry{{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "top/null", Devmajor: 1, Devminor: 3}}}), false},
		"duplicate":     {tarball(t, []entry{file("top/a", "one"), file("top/a", "two")}), false},
		"huge":          {tarball(t, []entry{huge}), false},
		"long-name":     {tarball(t, []entry{long}), false},
		"no-end-marker": {tarball(t, []entry{file("top/a", "x")}, "no-end"), false},
		"truncated":     {mustRead(t, res.Archive)[:300], false},
		"raw-tar":       {tarball(t, []entry{dir("top/"), file("top/a", "hello")}, "raw"), true},
	}
	return seeds
}

// TestFuzzSeeds checks the committed seed corpus: every seed is there,
// and extract accepts or refuses each as it should. With -seeds it writes
// the corpus first.
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzReadBundle")
	for name, seed := range seedBundles(t) {
		p := filepath.Join(dir, name)
		if *writeSeeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", seed.data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		data, err := readSeed(p)
		if err != nil {
			t.Errorf("%v (go test ./bundle -run TestFuzzSeeds -seeds writes the corpus)", err)
			continue
		}
		if !bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
			data = gz(t, data) // as FuzzReadBundle does
		}
		_, err = extract(context.Background(), bytes.NewReader(data), t.TempDir(), archive.ExtractOptions{})
		if (err == nil) != seed.ok {
			t.Errorf("seed %s: extract = %v, want ok %v", name, err, seed.ok)
		}
	}
}

// readSeed reads a one-value []byte corpus file.
func readSeed(p string) ([]byte, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	lit, ok := strings.CutPrefix(string(b), "go test fuzz v1\n[]byte(")
	lit, ok2 := strings.CutSuffix(lit, ")\n")
	if !ok || !ok2 {
		return nil, fmt.Errorf("%s: not a corpus file of one []byte", p)
	}
	s, err := strconv.Unquote(lit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return []byte(s), nil
}
