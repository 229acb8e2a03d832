//go:build unix

package check

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbuild/pbuild/manifests"

	"github.com/pbuild/pbuild/internal/safefile/safefiletest"
)

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// testManifest is a manifest of a host and one plugin with the given
// files and contents (the contents are not Go binaries).
func testManifest(hostFile, pluginFile string, content []byte) *manifests.Manifest {
	tc := manifests.Toolchain{Go: "go1.24.4", GOOS: "linux", GOARCH: "amd64"}
	b := manifests.Build{}
	art := func(name, kind, file string) manifests.Artifact {
		return manifests.Artifact{Name: name, Kind: kind, File: file, Size: int64(len(content)), SHA256: sha256Hex(content),
			BuildInfo: manifests.BuildInfo{GoVersion: "go1.24.4", Path: "example.com/" + name, Main: "example.com/" + name}}
	}
	return &manifests.Manifest{
		SchemaVersion: manifests.SchemaVersion,
		ABIKey:        manifests.ABIKey(tc, b, nil),
		Toolchain:     tc,
		Build:         b,
		Artifacts:     []manifests.Artifact{art("greeter", manifests.KindHost, hostFile), art("hello", manifests.KindPlugin, pluginFile)},
	}
}

func writeManifest(t *testing.T, p string, m *manifests.Manifest) {
	t.Helper()
	var buf bytes.Buffer
	if err := manifests.Write(&buf, m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestManifestRefusesArtifactNames: check --manifest reads no artifact
// outside the manifest's directory, whatever its file name says.
func TestManifestRefusesArtifactNames(t *testing.T) {
	for _, tt := range []struct{ file, contains string }{
		{"../outside", "leaves the output directory"},
		{"../../outside", "leaves the output directory"},
		{"/etc/hostname", "absolute"},
		{"plugins/../../outside", "leaves the output directory"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			top := t.TempDir()
			dir := filepath.Join(top, "a", "dist")
			os.MkdirAll(dir, 0o755)
			content := []byte("not a binary")
			os.WriteFile(filepath.Join(top, "outside"), content, 0o644)
			os.WriteFile(filepath.Join(top, "a", "outside"), content, 0o644)
			os.WriteFile(filepath.Join(dir, "greeter"), content, 0o755)
			mp := filepath.Join(dir, manifests.FileName)
			writeManifest(t, mp, testManifest("greeter", tt.file, content))
			err := safefiletest.Within(t, 10*time.Second, "Manifest", func() error {
				_, err := checkManifest(mp)
				return err
			})
			var ie *InputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tt.contains) || !strings.Contains(err.Error(), "artifacts[1].file") {
				t.Errorf("Manifest = %v, want an InputError naming artifacts[1].file, containing %q", err, tt.contains)
			}
		})
	}
}

// TestDirRefusesArtifacts: the artifacts of a manifest given as a value
// (as pbuild build and verify do) are read only as regular files inside
// the directory: never outside it, never a pipe or a device, never hanging.
func TestDirRefusesArtifacts(t *testing.T) {
	content := []byte("not a binary")
	tests := []struct {
		name     string
		file     string
		make     func(t *testing.T, top, dir string)
		contains string
	}{
		{
			name: "dot-dot", file: "../outside",
			contains: "leaves",
		},
		{
			name: "symlink to /dev/zero", file: "plugins/hello.so",
			make: func(t *testing.T, top, dir string) {
				if err := os.Symlink("/dev/zero", filepath.Join(dir, "plugins", "hello.so")); err != nil {
					t.Fatal(err)
				}
			},
			contains: "leaves",
		},
		{
			name: "symlink leaving the directory", file: "plugins/hello.so",
			make: func(t *testing.T, top, dir string) {
				if err := os.Symlink(filepath.Join(top, "outside"), filepath.Join(dir, "plugins", "hello.so")); err != nil {
					t.Fatal(err)
				}
			},
			contains: "leaves",
		},
		{
			name: "fifo", file: "plugins/hello.so",
			make:     func(t *testing.T, top, dir string) { safefiletest.Mkfifo(t, filepath.Join(dir, "plugins", "hello.so")) },
			contains: "named pipe",
		},
		{
			name: "directory", file: "plugins",
			contains: "directory",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top := t.TempDir()
			dir := filepath.Join(top, "dist")
			os.MkdirAll(filepath.Join(dir, "plugins"), 0o755)
			os.WriteFile(filepath.Join(top, "outside"), content, 0o644)
			os.WriteFile(filepath.Join(dir, "greeter"), content, 0o755)
			if tt.make != nil {
				tt.make(t, top, dir)
			}
			m := testManifest("greeter", tt.file, content)
			err := safefiletest.Within(t, 10*time.Second, "Dir", func() error {
				_, err := checkDir(dir, m)
				return err
			})
			var ie *InputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tt.contains) || !strings.Contains(err.Error(), "hello") || !strings.Contains(err.Error(), tt.file) {
				t.Errorf("Dir = %v, want an InputError naming artifact hello and %s, containing %q", err, tt.file, tt.contains)
			}
		})
	}
}

// TestFilesRefusesFIFO: pbuild check HOST PLUGIN with a named pipe returns
// an input error at once.
func TestFilesRefusesFIFO(t *testing.T) {
	dir := t.TempDir()
	host := filepath.Join(dir, "host")
	os.WriteFile(host, []byte("not a binary"), 0o755)
	fifo := filepath.Join(dir, "plugin.so")
	safefiletest.Mkfifo(t, fifo)
	for _, args := range [][]string{{host, fifo}, {fifo, host}} {
		err := safefiletest.Within(t, 10*time.Second, "Files", func() error {
			_, err := checkFiles(args[0], args[1:])
			return err
		})
		var ie *InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), "named pipe") {
			t.Errorf("Files(%q) = %v, want an InputError saying a named pipe", args, err)
		}
	}
}

// The calls under test, in one place.
func checkManifest(p string) (*Result, error) {
	return Manifest(context.Background(), p, Options{})
}
func checkDir(dir string, m *manifests.Manifest) (*Result, error) {
	return Dir(context.Background(), dir, m, Options{})
}
func checkFiles(host string, plugins []string) (*Result, error) {
	return Files(context.Background(), host, plugins, Options{})
}

// TestDirCancel: Ctrl-C while check hashes a huge artifact returns the
// context's error promptly, not an input error.
func TestDirCancel(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "greeter"), []byte("not a binary"), 0o755)
	os.MkdirAll(filepath.Join(dir, "plugins"), 0o755)
	f, err := os.Create(filepath.Join(dir, "plugins", "hello.so"))
	if err != nil {
		t.Fatal(err)
	}
	err = f.Truncate(MaxFileSize) // sparse: hashing it takes seconds
	f.Close()
	if err != nil {
		t.Skipf("cannot make a sparse file: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	err = safefiletest.Within(t, 10*time.Second, "Dir", func() error {
		_, err := Dir(ctx, dir, testManifest("greeter", "plugins/hello.so", []byte("not a binary")), Options{})
		return err
	})
	var ie *InputError
	if !errors.Is(err, context.Canceled) || errors.As(err, &ie) {
		t.Errorf("Dir, cancelled = %v (%T), want context.Canceled", err, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Dir returned after %v, more than 2s", d)
	}
}

// TestErrorMessages pins what a user reads.
func TestErrorMessages(t *testing.T) {
	top := t.TempDir()
	dir := filepath.Join(top, "dist")
	os.MkdirAll(filepath.Join(dir, "plugins"), 0o755)
	os.WriteFile(filepath.Join(dir, "greeter"), []byte("x"), 0o755)
	safefiletest.Mkfifo(t, filepath.Join(dir, "plugins", "hello.so"))
	_, err := Dir(context.Background(), dir, testManifest("greeter", "plugins/hello.so", []byte("x")), Options{})
	if want := "artifact hello: " + filepath.Join(dir, "plugins", "hello.so") + ": is a named pipe, not a regular file"; err == nil || err.Error() != want {
		t.Errorf("Dir = %v\nwant %s", err, want)
	}
	_, err = Dir(context.Background(), dir, testManifest("greeter", "../x", []byte("x")), Options{})
	if want := `artifact hello: "../x" leaves the output directory`; err == nil || err.Error() != want {
		t.Errorf("Dir = %v\nwant %s", err, want)
	}
}
