// Package buildkittest builds and runs a real buildkitd for tests: the
// version of the BuildKit client pbuild depends on, with the OCI worker.
package buildkittest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Version is the buildkitd the remote-daemon test builds: the
// version of the client in go.mod.
const Version = "v0.26.0"

// Binary returns a buildkitd built from
// github.com/moby/buildkit/cmd/buildkitd@Version into the test's temporary
// directory. It is built in a throwaway module of its own (this module's
// go.sum does not cover buildkitd's dependencies, and must not be changed),
// with the go command and module proxy of this machine; the go command's
// caches make a second build quick. PBUILD_TEST_BUILDKITD names a binary
// to use instead.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("PBUILD_TEST_BUILDKITD"); p != "" {
		return p
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "buildkitd")
	mod := filepath.Join(dir, "go.mod")
	if err := os.WriteFile(mod, []byte("module pbuildtest/buildkitd\n\ngo 1.24\n\nrequire github.com/moby/buildkit "+Version+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	cmd := exec.Command("go", "build", "-o", bin, "github.com/moby/buildkit/cmd/buildkitd")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0", "TMPDIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		msg := fmt.Sprintf("build buildkitd %s: %v\n%s", Version, err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Logf("built buildkitd %s in %v", Version, time.Since(start).Round(time.Second))
	return bin
}

// Start runs buildkitd with the OCI worker (runc) as root, in a fresh root
// directory, listening at addr (a unix socket there when empty), with more
// flags, and stops it when the test ends. ready reports whether the daemon
// answers at its address. It returns the address. Without root or runc, or
// with -short, the test is skipped, except that under CI=true a missing
// runc or root fails it.
func Start(t testing.TB, addr string, ready func(addr string) error, flags ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the buildkitd test")
	}
	skip := t.Skip
	if os.Getenv("CI") == "true" {
		skip = t.Fatal
	}
	if os.Geteuid() != 0 {
		skip("buildkitd with the OCI worker needs root")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		skip("no runc in PATH: buildkitd's OCI worker needs it (apt-get install runc)")
	}
	bin := Binary(t)
	dir := t.TempDir()
	if addr == "" {
		addr = "unix://" + filepath.Join(dir, "buildkitd.sock")
	}
	logFile, err := os.Create(filepath.Join(dir, "buildkitd.log"))
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--oci-worker=true", "--containerd-worker=false", "--root", filepath.Join(dir, "root"), "--addr", addr}, flags...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start buildkitd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// Only the process this test started, by its ID.
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logFile.Name()); err == nil {
				t.Logf("buildkitd log:\n%s", Tail(string(b), 40))
			}
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := ready(addr)
		if err == nil {
			return addr
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logFile.Name())
			t.Fatalf("buildkitd exited: %v\n%s", err, Tail(string(b), 40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("buildkitd did not answer at %s: %v", addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
