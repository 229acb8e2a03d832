package safefile

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func write(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Skipf("symlink: %v", err)
	}
}

// returnsWithin runs f and fails the test when it has not returned after d.
func returnsWithin(t *testing.T, d time.Duration, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("did not return within %v", d)
		return nil
	}
}

// TestOpenInside: names inside the directory are read, through links that
// stay inside too; what leaves it is refused by name, before any read.
func TestOpenInside(t *testing.T) {
	top := t.TempDir()
	dir := filepath.Join(top, "dir")
	content := []byte("hello\n")
	write(t, filepath.Join(dir, "a"), content)
	write(t, filepath.Join(dir, "sub", "b"), content)
	write(t, filepath.Join(top, "outside"), content)
	symlink(t, "a", filepath.Join(dir, "link"))
	symlink(t, "../a", filepath.Join(dir, "sub", "up"))
	symlink(t, "sub", filepath.Join(dir, "subdir"))
	symlink(t, "../outside", filepath.Join(dir, "escape"))
	symlink(t, filepath.Join(top, "outside"), filepath.Join(dir, "absolute-link"))
	symlink(t, "/dev/zero", filepath.Join(dir, "zero"))
	symlink(t, "..", filepath.Join(dir, "parent"))

	ctx := context.Background()
	for _, name := range []string{"a", "sub/b", "link", "sub/up", "subdir/b", "sub/../a"} {
		got, err := ReadFile(ctx, dir, name, NoLimit)
		if err != nil || !bytes.Equal(got, content) {
			t.Errorf("ReadFile(%s) = %q, %v", name, got, err)
		}
		if d, err := Digest(ctx, dir, name, 6); err != nil || d != sum(content) {
			t.Errorf("Digest(%s) = %s, %v", name, d, err)
		}
	}
	for name, detail := range map[string]string{
		"../outside":      "leaves " + dir,
		"sub/../../x":     "leaves " + dir,
		"/etc/hostname":   "absolute",
		"escape":          "through a symbolic link",
		"absolute-link":   "through a symbolic link",
		"zero":            "through a symbolic link",
		"parent/outside":  "through a symbolic link",
		"sub/../escape":   "through a symbolic link",
		"subdir/../../x":  "leaves " + dir,
		"sub/up/../../..": "leaves " + dir,
	} {
		err := returnsWithin(t, 10*time.Second, func() error {
			_, err := ReadFile(ctx, dir, name, NoLimit)
			return err
		})
		var fe *Error
		if !errors.As(err, &fe) || !errors.Is(err, ErrOutside) || !strings.Contains(err.Error(), detail) || !strings.Contains(fe.Path, name) {
			t.Errorf("ReadFile(%s) = %v, want an Error naming it, outside, saying %q", name, err, detail)
		}
	}
	if _, err := ReadFile(ctx, dir, "", NoLimit); err == nil {
		t.Error("ReadFile of an empty name succeeded")
	}
	if _, err := ReadFile(ctx, dir, "missing", NoLimit); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("ReadFile(missing) = %v, want a not-exist error naming it", err)
	}
	if _, err := ReadFile(ctx, filepath.Join(top, "nodir"), "a", NoLimit); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile in a missing directory = %v, want a not-exist error", err)
	}
}

// TestOpenPath follows links wherever they lead, but reads regular files
// only.
func TestOpenPath(t *testing.T) {
	top := t.TempDir()
	content := []byte("hello\n")
	write(t, filepath.Join(top, "outside"), content)
	os.Mkdir(filepath.Join(top, "d"), 0o755)
	symlink(t, filepath.Join(top, "outside"), filepath.Join(top, "d", "link"))
	ctx := context.Background()
	f, err := OpenPath(ctx, filepath.Join(top, "d", "link"), NoLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, err := f.ReadAll(ctx); err != nil || !bytes.Equal(got, content) || f.Size() != 6 || f.Name() != filepath.Join(top, "d", "link") {
		t.Errorf("ReadAll = %q, %v; size %d, name %s", got, err, f.Size(), f.Name())
	}
	symlink(t, "/dev/zero", filepath.Join(top, "zero"))
	err = returnsWithin(t, 10*time.Second, func() error {
		_, err := OpenPath(ctx, filepath.Join(top, "zero"), NoLimit)
		return err
	})
	if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "is a character device, not a regular file") {
		t.Errorf("OpenPath(-> /dev/zero) = %v, want a character device refused", err)
	}
	if _, err := OpenPath(ctx, top, NoLimit); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), top+": is a directory") {
		t.Errorf("OpenPath(dir) = %v, want a directory refused", err)
	}
}

func TestDirectoryRefused(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "sub", "a"), nil)
	_, err := Digest(context.Background(), dir, "sub", NoLimit)
	if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "is a directory, not a regular file") {
		t.Errorf("Digest(sub) = %v, want a directory refused", err)
	}
}

func TestLimit(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "f"), []byte("0123456789"))
	ctx := context.Background()
	if b, err := ReadFile(ctx, dir, "f", 10); err != nil || string(b) != "0123456789" {
		t.Errorf("ReadFile at the limit = %q, %v", b, err)
	}
	if b, err := ReadFile(ctx, dir, "f", 0); err == nil || !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadFile with limit 0 = %q, %v", b, err)
	}
	_, err := Digest(ctx, dir, "f", 9)
	var fe *Error
	if !errors.As(err, &fe) || !errors.Is(err, ErrTooLarge) || fe.Error() != filepath.Join(dir, "f")+": 10 bytes, over the limit of 9" {
		t.Errorf("Digest over the limit = %v", err)
	}
}

// TestGrowing: a file that grows over the limit after it was opened fails
// every way it is read, instead of being read on.
func TestGrowing(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	write(t, p, []byte("01234"))
	ctx := context.Background()
	f, err := Open(ctx, dir, "f", 8)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if b, err := f.ReadAll(ctx); err != nil || string(b) != "01234" {
		t.Fatalf("ReadAll = %q, %v", b, err)
	}
	write(t, p, []byte("0123456789"))
	if _, err := f.ReadAll(ctx); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "grew over the limit of 8 bytes") {
		t.Errorf("ReadAll of the grown file = %v", err)
	}
	if _, err := f.Digest(ctx); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Digest of the grown file = %v", err)
	}
	b, err := io.ReadAll(f)
	if !errors.Is(err, ErrTooLarge) || string(b) != "01234567" {
		t.Errorf("Read of the grown file = %q, %v", b, err)
	}
	buf := make([]byte, 4)
	if n, err := f.ReadAt(buf, 6); n != 2 || !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadAt over the limit = %d, %v", n, err)
	}
	if n, err := f.ReadAt(buf, 2); n != 4 || err != nil || string(buf) != "2345" {
		t.Errorf("ReadAt inside the limit = %d, %v, %q", n, err, buf)
	}

	// Read and ReadAt at the end of a file within its limit say io.EOF.
	write(t, filepath.Join(dir, "g"), []byte("0123"))
	g, err := Open(ctx, dir, "g", 4)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if b, err := io.ReadAll(g); err != nil || string(b) != "0123" {
		t.Errorf("io.ReadAll = %q, %v", b, err)
	}
	if n, err := g.ReadAt(buf, 2); n != 2 || err != io.EOF {
		t.Errorf("ReadAt past the end = %d, %v", n, err)
	}
}

// TestCancel: cancelling the context stops reading a file that would take
// long (a huge sparse file) or a reader that never ends, promptly.
func TestCancel(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sparse")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 30); err != nil {
		f.Close()
		t.Skipf("cannot make a sparse file: %v", err)
	}
	f.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	err = returnsWithin(t, 10*time.Second, func() error {
		_, err := Digest(ctx, dir, "sparse", NoLimit)
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Digest of a 64 GiB file, cancelled = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Digest returned %v after it started, more than 2s", d)
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel2)
	err = returnsWithin(t, 10*time.Second, func() error {
		_, err := Copy(ctx2, io.Discard, endless{})
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Copy of an endless reader, cancelled = %v, want context.Canceled", err)
	}

	// A context cancelled before: nothing is opened.
	if _, err := ReadFile(ctx, dir, "sparse", NoLimit); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadFile with a cancelled context = %v", err)
	}
	if _, err := OpenPath(ctx, p, NoLimit); !errors.Is(err, context.Canceled) {
		t.Errorf("OpenPath with a cancelled context = %v", err)
	}
}

// endless reads zeros forever, like /dev/zero.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
