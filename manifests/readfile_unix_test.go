//go:build unix

package manifests

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadFileRefusesSpecialFiles: a manifest path naming a pipe or a
// device (as --manifest, --against or rebuild take one) is an error at
// once, not a hang.
func TestReadFileRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	t.Cleanup(func() {
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
	})
	zero := filepath.Join(dir, "zero.json")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{fifo: "named pipe", zero: "device", dir: "directory"} {
		done := make(chan error, 1)
		go func() {
			_, err := readManifestFile(p)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), p) {
				t.Errorf("ReadFile(%s) = %v, want an error naming it and saying %q", p, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("ReadFile(%s) did not return within 10s", p)
		}
	}
}

func readManifestFile(p string) (*Manifest, error) { return ReadFile(context.Background(), p) }
