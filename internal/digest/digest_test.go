package digest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("abc"), 0o644)
	got, err := File(p)
	if err != nil || got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("File = %q, %v", got, err)
	}
	if _, err := File(p + "-missing"); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

func TestFileContextCancelled(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("abc"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := FileContext(ctx, p); !errors.Is(err, context.Canceled) {
		t.Errorf("FileContext(cancelled) = %v, want context.Canceled", err)
	}
	if _, err := File(filepath.Dir(p)); err == nil {
		t.Error("File(a directory) succeeded")
	}
}
