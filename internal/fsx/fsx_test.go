package fsx

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCopyFile(t *testing.T) {
	dir := t.TempDir()
	from := filepath.Join(dir, "a")
	if err := os.WriteFile(from, []byte("content"), 0o555); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(dir, "sub", "dir", "b")
	if err := CopyFile(from, to); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(to)
	fi, _ := os.Stat(to)
	if err != nil || string(data) != "content" || fi.Mode().Perm() != 0o755 {
		t.Errorf("copy = %q, mode %v, %v; want content, 0755", data, fi.Mode().Perm(), err)
	}
	if err := CopyFile(from, to); err == nil {
		t.Error("CopyFile over an existing file succeeded")
	}
	if err := CopyFile(filepath.Join(dir, "missing"), filepath.Join(dir, "c")); err == nil {
		t.Error("CopyFile of a missing file succeeded")
	}
}

func TestLinkOrCopy(t *testing.T) {
	dir := t.TempDir()
	from := filepath.Join(dir, "a")
	if err := os.WriteFile(from, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(dir, "plugins", "a")
	if err := LinkOrCopy(from, to); err != nil {
		t.Fatal(err)
	}
	a, _ := os.Stat(from)
	b, err := os.Stat(to)
	if err != nil || !os.SameFile(a, b) {
		t.Errorf("%s is not a link of %s (%v)", to, from, err)
	}
	if err := LinkOrCopy(from, to); err == nil {
		t.Error("LinkOrCopy over an existing file succeeded")
	}
}
