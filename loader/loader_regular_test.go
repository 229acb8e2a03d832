package loader

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbuild/pbuild/loader/abi"
)

// within runs f and fails the test if it has not returned after d, so
// that a call that blocks fails instead of hanging the suite.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %s", what, d)
	}
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
}

// TestNamedPipes: a FIFO where a plugin or its manifest should be is
// refused at once, never read.
func TestNamedPipes(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "x.so")
	mkfifo(t, fifo)
	fo := &fakeOpener{}
	l := newLoader(t, WithoutManifest(), withOpen(fo.open))
	for name, call := range map[string]func() error{
		"Check": func() error { return l.Check(fifo) },
		"Open":  func() error { _, err := l.Open(fifo); return err },
	} {
		var err error
		within(t, 5*time.Second, name+"(fifo)", func() { err = call() })
		var re *RefusedError
		if !errors.As(err, &re) || !errors.Is(err, abi.ErrNotRegular) || !strings.Contains(err.Error(), "not a regular file: a named pipe") {
			t.Errorf("%s(fifo) = %v, want a refusal naming a named pipe", name, err)
		}
	}
	if fo.count() != 0 {
		t.Errorf("plugin.Open called %d times", fo.count())
	}

	// A manifest that is a FIFO, beside the plugin or one directory up.
	for _, where := range []string{"own", "parent"} {
		t.Run("Manifest"+where, func(t *testing.T) {
			root := t.TempDir()
			plugins := filepath.Join(root, "plugins")
			if err := os.MkdirAll(plugins, 0o755); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(plugins, "x.so")
			if err := os.WriteFile(file, []byte("content"), 0o644); err != nil {
				t.Fatal(err)
			}
			mdir := plugins
			if where == "parent" {
				mdir = root
			}
			mkfifo(t, filepath.Join(mdir, manifestName))
			var err error
			within(t, 5*time.Second, "verifyManifest", func() { err = (&Loader{}).verifyManifest(file) })
			var re *RefusedError
			if !errors.As(err, &re) || !strings.Contains(re.Reason, "cannot read manifest") || !strings.Contains(re.Reason, "not a regular file: a named pipe") {
				t.Errorf("verifyManifest with a FIFO manifest = %v", err)
			}
		})
	}
}

// TestManifestTooLarge: the manifest is read with a bound.
func TestManifestTooLarge(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "x.so")
	if err := os.WriteFile(file, []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, manifestName))
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: no disk space is used.
	if err := f.Truncate(maxManifestSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	err = (&Loader{}).verifyManifest(file)
	var re *RefusedError
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "more than the") {
		t.Errorf("verifyManifest with a huge manifest = %v", err)
	}
}
