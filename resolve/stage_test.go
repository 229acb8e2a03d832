package resolve

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/sumdb/dirhash"

	"github.com/pbuild/pbuild/internal/container/containertest"

	"github.com/pbuild/pbuild/plan"
)

// treeHash hashes everything observable about a tree: names, types, modes,
// sizes, mtimes, contents and link targets.
func treeHash(t *testing.T, root string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(h, "%s %v %d %d\n", rel, fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "-> %s\n", target)
		case fi.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(h, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// listFiles lists the regular files below root as sorted slash paths.
func listFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestStage(t *testing.T) {
	root := realDir(t, t.TempDir())
	src := greeterFiles()
	for name, content := range map[string]string{
		"host/.git/config":            "[core]\n",
		"host/.git/objects/ab/cdef":   "blob",
		"plugins/hello/.hg/store":     "x",
		"api/.svn/entries":            "x",
		"api/.bzr/branch":             "x",
		"host/vendor/modules.txt":     "# stale vendor dir\n",
		"host/vendor/golang.org/x/a":  "x",
		"host/nested/go.mod":          "module example.com/nested\n",
		"host/nested/nested.go":       "package nested\n",
		"host/nested/deeper/x.go":     "package deeper\n",
		"host/testdata/input.txt":     "kept\n",
		"host/internal/util/util.go":  "package util\n",
		"host/dist/greeter":           "old build output",
		"host/dist/plugins/hello.so":  "old build output",
		"plugins/hello/.gitignore":    "dist/\n",
		"plugins/hello/sub/vendor.go": "package sub\n",
	} {
		src[name] = content
	}
	containertest.WriteFiles(t, root, src)
	if err := os.Symlink("main.go", filepath.Join(root, "host", "link.go")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "api"), filepath.Join(root, "host", "apilink")); err != nil {
		t.Fatal(err)
	}
	ws, err := Discover(greeterTargets(root))
	if err != nil {
		t.Fatal(err)
	}

	before := treeHash(t, root)
	dst := t.TempDir()
	skip := func(p string) bool { return p == filepath.Join(root, "host", "dist") }
	if err := Stage(ws, dst, "1.24.4", skip); err != nil {
		t.Fatal(err)
	}
	if after := treeHash(t, root); after != before {
		t.Error("Stage changed the source tree")
	}

	want := []string{
		"api/api.go",
		"api/go.mod",
		"go.work",
		"host/go.mod",
		"host/go.sum",
		"host/internal/util/util.go",
		"host/link.go",
		"host/main.go",
		"host/testdata/input.txt",
		"plugins/count/go.mod",
		"plugins/count/main.go",
		"plugins/hello/.gitignore",
		"plugins/hello/go.mod",
		"plugins/hello/go.sum",
		"plugins/hello/main.go",
		"plugins/hello/sub/vendor.go",
	}
	if got := listFiles(t, dst); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("staged files:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A symbolic link to a file is staged as the file it points at (the go
	// command follows it; it used to be dropped, and then "no Go files").
	if data, err := os.ReadFile(filepath.Join(dst, "host", "link.go")); err != nil || string(data) != src["host/main.go"] {
		t.Errorf("host/link.go staged as %q, %v; want main.go's content", data, err)
	}
	if fi, err := os.Lstat(filepath.Join(dst, "host", "link.go")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("host/link.go is not a regular file in the stage")
	}
	// Nothing else either: no link to another module, no directories of
	// skipped trees.
	for _, p := range []string{"host/apilink", "host/.git", "host/vendor", "host/nested", "host/dist", "README.md"} {
		if _, err := os.Lstat(filepath.Join(dst, filepath.FromSlash(p))); err == nil {
			t.Errorf("%s was staged", p)
		}
	}
	for name, content := range src {
		data, err := os.ReadFile(filepath.Join(dst, filepath.FromSlash(name)))
		if err != nil {
			continue // not staged; checked above
		}
		if string(data) != content {
			t.Errorf("staged %s = %q, want %q", name, data, content)
		}
	}

	data, err := os.ReadFile(filepath.Join(dst, "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	wf, err := modfile.ParseWork("go.work", data, nil)
	if err != nil {
		t.Fatalf("staged go.work does not parse: %v\n%s", err, data)
	}
	if wf.Go == nil || wf.Go.Version != "1.24.4" {
		t.Errorf("go.work go line = %+v, want 1.24.4\n%s", wf.Go, data)
	}
	var uses []string
	for _, u := range wf.Use {
		uses = append(uses, u.Path)
	}
	sort.Strings(uses)
	if got, want := strings.Join(uses, " "), "./api ./host ./plugins/count ./plugins/hello"; got != want {
		t.Errorf("go.work uses %s, want %s\n%s", got, want, data)
	}
	if len(wf.Replace) != 0 || wf.Toolchain != nil {
		t.Errorf("go.work has more than go and use lines:\n%s", data)
	}
}

func TestStageRootModule(t *testing.T) {
	// The workspace root is itself a module: it is used as ".", and a
	// go.work the user keeps there is replaced by the staged one.
	root := realDir(t, t.TempDir())
	containertest.WriteFiles(t, root, files{
		"go.mod":            "module example.com/app\n\ngo 1.24\n",
		"go.work":           "go 1.22\n\nuse .\nuse ../elsewhere\n",
		"main.go":           mainGo("app"),
		"plugins/p/go.mod":  "module example.com/p\n\nreplace example.com/app => ../..\n",
		"plugins/p/main.go": mainGo("p"),
	})
	ws, err := Discover([]plan.Target{
		{Name: "app", Kind: plan.Host, Dir: root},
		{Name: "p", Kind: plan.Plugin, Dir: filepath.Join(root, "plugins", "p")},
	})
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := Stage(ws, dst, "1.25rc1", nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dst, "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	wf, err := modfile.ParseWork("go.work", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	var uses []string
	for _, u := range wf.Use {
		uses = append(uses, u.Path)
	}
	sort.Strings(uses)
	if wf.Go == nil || wf.Go.Version != "1.25rc1" || strings.Join(uses, " ") != ". ./plugins/p" {
		t.Errorf("go.work:\n%s\nwant go 1.25rc1 using . and ./plugins/p", data)
	}
	if got, want := strings.Join(listFiles(t, dst), " "), "go.mod go.work main.go plugins/p/go.mod plugins/p/main.go"; got != want {
		t.Errorf("staged %s, want %s", got, want)
	}
}

func TestStageDoesNotOverwrite(t *testing.T) {
	// Staging into a directory that already holds a module file fails
	// rather than mixing two trees.
	_, ws := greeter(t)
	dst := t.TempDir()
	containertest.WriteFiles(t, dst, files{"api/api.go": "stale"})
	if err := Stage(ws, dst, "1.24.4", nil); err == nil || !strings.Contains(err.Error(), "stage module example.com/greeter/api") {
		t.Errorf("Stage over a used directory = %v, want an error naming the module", err)
	}
}

func TestDirHash(t *testing.T) {
	mod := files{
		"go.mod":          "module example.com/m\n\ngo 1.24\n",
		"main.go":         mainGo("m"),
		"internal/x/x.go": "package x\n",
	}
	m := &Module{Path: "example.com/m", Rel: "m"}

	// Two checkouts in different places.
	a, b := t.TempDir(), filepath.Join(t.TempDir(), "elsewhere", "deeper")
	for _, root := range []string{a, b} {
		for name, content := range mod {
			containertest.WriteFiles(t, filepath.Join(root, "m"), files{name: content})
		}
	}
	ha, err := DirHash(a, m)
	if err != nil {
		t.Fatal(err)
	}
	hb, err := DirHash(b, m)
	if err != nil {
		t.Fatal(err)
	}
	if ha != hb {
		t.Errorf("same module in two places: %s != %s", ha, hb)
	}
	// An independent computation: the files named by their path in the
	// module, hashed as go.sum hashes zips.
	if want, err := dirhash.HashDir(filepath.Join(a, "m"), "", dirhash.Hash1); err != nil || ha != want {
		t.Errorf("DirHash = %s, want %s (%v)", ha, want, err)
	}
	if !strings.HasPrefix(ha, "h1:") {
		t.Errorf("DirHash = %s, want an h1: hash", ha)
	}

	// Files around the module do not count.
	containertest.WriteFiles(t, a, files{"go.work": "go 1.24.4\n", "other/go.mod": "module example.com/other\n"})
	if h, _ := DirHash(a, m); h != ha {
		t.Errorf("files outside the module changed its hash")
	}
	// Neither do a nested module, VCS directories or the vendor directory.
	containertest.WriteFiles(t, filepath.Join(a, "m"), files{
		"nested/go.mod":             "module example.com/m/nested\n",
		"nested/n.go":               "package nested\n",
		".git/HEAD":                 "ref: refs/heads/main\n",
		"vendor/modules.txt":        "# x\n",
		"vendor/example.com/x/x.go": "package x\n",
	})
	if h, _ := DirHash(a, m); h != ha {
		t.Errorf("nested module, .git or vendor changed the hash")
	}

	// One changed byte does.
	containertest.WriteFiles(t, filepath.Join(b, "m"), files{"main.go": strings.Replace(mod["main.go"], "m", "n", 1)})
	if h, _ := DirHash(b, m); h == ha {
		t.Error("a changed byte did not change the hash")
	}
	// And so does a renamed file.
	c := t.TempDir()
	containertest.WriteFiles(t, filepath.Join(c, "m"), files{"go.mod": mod["go.mod"], "main2.go": mod["main.go"], "internal/x/x.go": mod["internal/x/x.go"]})
	if h, _ := DirHash(c, m); h == ha {
		t.Error("a renamed file did not change the hash")
	}

	if _, err := DirHash(t.TempDir(), &Module{Path: "example.com/missing", Rel: "missing"}); err == nil || !strings.Contains(err.Error(), "hash module example.com/missing") {
		t.Errorf("DirHash of a missing module = %v, want an error naming it", err)
	}
}

func TestDirHashRootModule(t *testing.T) {
	// The root module's directory is the staging root, which also holds
	// go.work, go.work.sum and the vendor directory after resolving.
	root := &Module{Path: "example.com/app", Rel: "."}
	dir := t.TempDir()
	containertest.WriteFiles(t, dir, files{
		"go.mod":  "module example.com/app\n",
		"main.go": mainGo("app"),
	})
	before, err := DirHash(dir, root)
	if err != nil {
		t.Fatal(err)
	}
	containertest.WriteFiles(t, dir, files{
		"go.work":                        "go 1.24.4\n\nuse .\n",
		"go.work.sum":                    "golang.org/x/text v0.21.0 h1:x\n",
		"vendor/modules.txt":             "# golang.org/x/text v0.21.0\n",
		"vendor/golang.org/x/text/go.go": "package text\n",
		"plugins/p/go.mod":               "module example.com/p\n",
		"plugins/p/main.go":              mainGo("p"),
	})
	if after, err := DirHash(dir, root); err != nil || after != before {
		t.Errorf("DirHash after resolving = %s (%v), want %s", after, err, before)
	}
	containertest.WriteFiles(t, dir, files{"extra.go": "package main\n"})
	if after, _ := DirHash(dir, root); after == before {
		t.Error("a new file in the root module did not change its hash")
	}
}

// TestStageNamesABadFileName: a file whose name has a line break cannot be
// hashed; the error names it (it used to say only "dirhash: ...").
func TestStageNamesABadFileName(t *testing.T) {
	root := t.TempDir()
	containertest.WriteFiles(t, root, map[string]string(greeterFiles()))
	bad := filepath.Join(root, "host", "odd\nname.txt")
	if err := os.WriteFile(bad, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	ws, err := Discover(greeterTargets(root))
	if err != nil {
		t.Fatal(err)
	}
	err = Stage(ws, t.TempDir(), "1.24.4", nil)
	var fe *FileNameError
	if !errors.As(err, &fe) || fe.File != "odd\nname.txt" || !strings.Contains(err.Error(), filepath.Join(root, "host")) {
		t.Fatalf("got %v, want a FileNameError naming host/odd\\nname.txt", err)
	}
}
