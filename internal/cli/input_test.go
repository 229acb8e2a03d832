//go:build unix

package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbuild/pbuild/bundle"
	"github.com/pbuild/pbuild/manifests"

	"github.com/pbuild/pbuild/internal/safefile/safefiletest"
)

// runWithin runs the command line and fails the test when it has not
// exited after d.
func runWithin(t *testing.T, ctx context.Context, d time.Duration, args ...string) (int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- Run(ctx, args, Env{}, &stdout, &stderr) }()
	select {
	case code := <-done:
		return code, stdout.String() + stderr.String()
	case <-time.After(d):
		t.Fatalf("pbuild %s did not exit within %v", strings.Join(args, " "), d)
		return 0, ""
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// writeDist writes a dist of a fake host and plugin with its manifest.
func writeDist(t *testing.T, dir, pluginFile string) {
	t.Helper()
	content := []byte("not a binary")
	tc := manifests.Toolchain{Go: "go1.24.4", GOOS: "linux", GOARCH: "amd64"}
	art := func(name, kind, file string) manifests.Artifact {
		return manifests.Artifact{Name: name, Kind: kind, File: file, Size: int64(len(content)), SHA256: sha256Hex(content)}
	}
	m := &manifests.Manifest{ABIKey: manifests.ABIKey(tc, manifests.Build{}, nil), Toolchain: tc,
		Artifacts: []manifests.Artifact{art("greeter", manifests.KindHost, "greeter"), art("hello", manifests.KindPlugin, pluginFile)}}
	var buf bytes.Buffer
	if err := manifests.Write(&buf, m); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{manifests.FileName: buf.Bytes(), "greeter": content, "plugins/hello.so": content} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCheckInput(t *testing.T) {
	dir := t.TempDir()
	host := filepath.Join(dir, "host")
	os.WriteFile(host, []byte("not a binary"), 0o755)
	fifo := filepath.Join(dir, "plugin.so")
	safefiletest.Mkfifo(t, fifo)
	code, out := runWithin(t, context.Background(), 10*time.Second, "check", host, fifo)
	if code != exitUsage || !strings.Contains(out, "plugin.so: is a named pipe, not a regular file") {
		t.Errorf("check HOST FIFO: exit %d\n%s", code, out)
	}

	dist := filepath.Join(dir, "a", "dist")
	writeDist(t, dist, "../outside.so")
	code, out = runWithin(t, context.Background(), 10*time.Second, "check", "--manifest", filepath.Join(dist, manifests.FileName))
	if code != exitUsage || !strings.Contains(out, `artifacts[1].file: "../outside.so" leaves the output directory`) {
		t.Errorf("check --manifest with ../: exit %d\n%s", code, out)
	}
}

func TestVerifyInput(t *testing.T) {
	dir := t.TempDir()
	dist := filepath.Join(dir, "dist")
	writeDist(t, dist, "plugins/hello.so")
	release := filepath.Join(dir, "release")
	res, err := bundle.Create(context.Background(), dist, bundle.Options{Version: "1.0.0", OutDir: release})
	if err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(release, "greeter_1.0.0_linux_arm64.tar.gz")
	safefiletest.Mkfifo(t, fifo)
	sums, _ := os.ReadFile(res.Checksums)
	sums = append(sums, strings.Repeat("0", 64)+"  greeter_1.0.0_linux_arm64.tar.gz\n"...)
	os.WriteFile(res.Checksums, sums, 0o644)
	code, out := runWithin(t, context.Background(), 10*time.Second, "verify", res.Archive)
	if code != exitFailure || !strings.Contains(out, "FAIL checksums   greeter_1.0.0_linux_arm64.tar.gz: "+fifo+": is a named pipe, not a regular file") {
		t.Errorf("verify with a listed fifo: exit %d\n%s", code, out)
	}

	// Ctrl-C while a huge listed file is hashed: exit 130, at once.
	os.Remove(fifo)
	f, err := os.Create(fifo)
	if err != nil {
		t.Fatal(err)
	}
	err = f.Truncate(2 * bundle.DefaultMaxTotalSize)
	f.Close()
	if err != nil {
		t.Skipf("cannot make a sparse file: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	code, out = runWithin(t, ctx, 10*time.Second, "verify", res.Archive)
	if code != exitInterrupted || time.Since(start) > 2*time.Second {
		t.Errorf("verify, interrupted: exit %d after %v\n%s", code, time.Since(start), out)
	}
}

// TestRebuildRefusesHostileManifest: a manifest is input; its build
// settings get the config's checks before anything runs (a rebuild ran
// GOFLAGS=-toolexec=/bin/false from a manifest's build.env). No engine is
// needed: the manifest is refused first.
func TestRebuildRefusesHostileManifest(t *testing.T) {
	for _, c := range []struct {
		name, key, value, want string
	}{
		{"GOFLAGS", "GOFLAGS", "-toolexec=/bin/false", "build.env: GOFLAGS is set by pbuild and cannot be overridden"},
		{"PATH", "PATH", "/nonexistent", "build.env: PATH is set by pbuild and cannot be overridden"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			tc := manifests.Toolchain{Go: "go1.24.4", GOOS: "linux", GOARCH: "amd64", BaseImage: "pbuild/base:bookworm"}
			b := manifests.Build{Env: map[string]string{c.key: c.value}}
			m := &manifests.Manifest{ABIKey: manifests.ABIKey(tc, b, nil), Toolchain: tc, Build: b}
			var buf bytes.Buffer
			if err := manifests.Write(&buf, m); err != nil {
				t.Fatal(err)
			}
			mf := filepath.Join(dir, manifests.FileName)
			os.WriteFile(mf, buf.Bytes(), 0o644)
			for _, args := range [][]string{{"rebuild", "--source", dir, mf}, {"build", "-f", filepath.Join(dir, "none.yaml"), "--against", mf}} {
				code, out := runWithin(t, context.Background(), 10*time.Second, args...)
				if code != exitUsage {
					t.Errorf("pbuild %v: exit %d, want 2\n%s", args, code, out)
				}
				if args[0] == "rebuild" && !strings.Contains(out, c.want) {
					t.Errorf("pbuild %v:\n%s\nwant %q", args, out, c.want)
				}
			}
		})
	}
}
