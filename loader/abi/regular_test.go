package abi

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
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

func TestReadFileNotRegular(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no named pipes in the file system")
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "x.so")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	cases := []struct{ path, want string }{
		{fifo, "not a regular file: a named pipe"},
		{dir, "not a regular file: a directory"},
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		cases = append(cases, struct{ path, want string }{"/dev/zero", "not a regular file: a character device"})
	}
	// Through a symbolic link: the link's target counts.
	link := filepath.Join(dir, "link.so")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	cases = append(cases, struct{ path, want string }{link, "not a regular file: a named pipe"})
	for _, c := range cases {
		var err error
		within(t, 5*time.Second, "ReadFile("+c.path+")", func() { _, err = ReadFile(c.path) })
		var re *ReadError
		if !errors.As(err, &re) || re.Path != c.path || !errors.Is(err, ErrNotRegular) || errors.Is(err, ErrNotELF) {
			t.Errorf("ReadFile(%s) = %v, want a *ReadError wrapping ErrNotRegular", c.path, err)
			continue
		}
		if got := err.Error(); got != "read "+c.path+": "+c.want {
			t.Errorf("ReadFile(%s) error %q, want %q", c.path, got, "read "+c.path+": "+c.want)
		}
	}
	// The pipe was never opened for reading as a blocking file: a writer
	// that opens it now without O_NONBLOCK would block, so it is only
	// checked that nothing is left open by asking for a non-blocking writer.
	if fd, err := syscall.Open(fifo, syscall.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		syscall.Close(fd)
		t.Error("the FIFO still has a reader after ReadFile")
	} else if !strings.Contains(err.Error(), "no such device") {
		t.Logf("non-blocking writer: %v", err)
	}
}
