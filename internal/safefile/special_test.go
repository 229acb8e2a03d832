//go:build unix

package safefile

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestNamedPipe: a named pipe is refused at once, by Open and OpenPath;
// nothing waits for a writer.
func TestNamedPipe(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	ctx := context.Background()
	for name, open := range map[string]func() error{
		"ReadFile": func() error { _, err := ReadFile(ctx, dir, "fifo", NoLimit); return err },
		"Digest":   func() error { _, err := Digest(ctx, dir, "fifo", NoLimit); return err },
		"OpenPath": func() error { _, err := OpenPath(ctx, p, NoLimit); return err },
	} {
		err := returnsWithin(t, 10*time.Second, open)
		var fe *Error
		if !errors.As(err, &fe) || !errors.Is(err, ErrNotRegular) || fe.Error() != p+": is a named pipe, not a regular file" {
			t.Errorf("%s(fifo) = %v, want %q", name, err, p+": is a named pipe, not a regular file")
		}
	}
}

func TestSocket(t *testing.T) {
	dir := t.TempDir()
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Skipf("listen: %v", err)
	}
	defer l.Close()
	_, err = ReadFile(context.Background(), dir, "sock", NoLimit)
	if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "is a socket") {
		t.Errorf("ReadFile(socket) = %v, want a socket refused", err)
	}
}
