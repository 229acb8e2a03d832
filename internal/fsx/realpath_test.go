package fsx

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRealPath(t *testing.T) {
	// t.TempDir may itself be below a symbolic link (/tmp on some systems).
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "file"), nil, 0o644))
	must(os.Symlink("a", filepath.Join(dir, "link")))
	must(os.Symlink(filepath.Join(dir, "a", "b"), filepath.Join(dir, "a", "abs")))
	must(os.Symlink("nowhere", filepath.Join(dir, "dangling")))
	must(os.Symlink("loop2", filepath.Join(dir, "loop1")))
	must(os.Symlink("loop1", filepath.Join(dir, "loop2")))
	for _, c := range []struct {
		path, want string
		fails      bool
	}{
		{path: "/", want: "/"},
		{path: dir, want: dir},
		{path: dir + "/a/../a/b/", want: dir + "/a/b"},
		{path: dir + "/missing", want: dir + "/missing"},
		{path: dir + "/missing/x/y", want: dir + "/missing/x/y"},
		{path: dir + "/link", want: dir + "/a"},
		{path: dir + "/link/b/new/deeper", want: dir + "/a/b/new/deeper"},
		{path: dir + "/a/abs/x", want: dir + "/a/b/x"},
		{path: dir + "/dangling/x", want: dir + "/dangling/x"},
		{path: dir + "/file/x", fails: true},  // ENOTDIR is not a missing path
		{path: dir + "/loop1/x", fails: true}, // nor is a loop
	} {
		got, err := RealPath(filepath.FromSlash(c.path))
		switch {
		case c.fails && err == nil:
			t.Errorf("RealPath(%s) = %s, want an error", c.path, got)
		case !c.fails && (err != nil || got != filepath.FromSlash(c.want)):
			t.Errorf("RealPath(%s) = %q, %v; want %s", c.path, got, err, c.want)
		}
	}

	// A relative path is made absolute first.
	t.Chdir(filepath.Join(dir, "link"))
	if got, err := RealPath("b/new"); err != nil || got != filepath.Join(dir, "a", "b", "new") {
		t.Errorf("RealPath(b/new) in %s/link = %q, %v", dir, got, err)
	}
}
