package manifests

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/pbuild/pbuild/internal/safefile"
	"github.com/pbuild/pbuild/loader/abi"
	"github.com/pbuild/pbuild/manifests/manifeststest"
)

func fileSum(t *testing.T, p string) (int64, string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return int64(len(b)), hex.EncodeToString(s[:])
}

// TestInspectLibrary inspects real C-ABI libraries: what a C host can use
// of them, the glibc versions they need, their build info and header.
func TestInspectLibrary(t *testing.T) {
	arts := manifeststest.Build(t)
	for _, c := range []struct {
		kind, file, header string
	}{
		{KindCShared, arts.CShared, arts.CSharedHeader},
		{KindCArchive, arts.CArchive, arts.CArchiveHeader},
	} {
		t.Run(c.kind, func(t *testing.T) {
			a, err := InspectLibrary(context.Background(), c.file, c.header)
			if err != nil {
				t.Fatal(err)
			}
			size, sum := fileSum(t, c.file)
			hsize, hsum := fileSum(t, c.header)
			if a.Size != size || a.SHA256 != sum {
				t.Errorf("size %d sha256 %s, want %d %s", a.Size, a.SHA256, size, sum)
			}
			if a.Header == nil || *a.Header != (Header{Size: hsize, SHA256: hsum}) {
				t.Errorf("header %+v, want size %d sha256 %s and no file", a.Header, hsize, hsum)
			}
			if !reflect.DeepEqual(a.CSymbols, manifeststest.Exports) {
				t.Errorf("CSymbols %q, want %q", a.CSymbols, manifeststest.Exports)
			}
			if a.Name != "" || a.Kind != "" || a.File != "" || a.LoadedBy != "" || a.PluginPath != "" {
				t.Errorf("fields left for the caller are set: %+v", a)
			}
			if a.Packages == nil || len(a.Packages) != 0 {
				t.Errorf("packages %v, want {}", a.Packages)
			}
			bi := a.BuildInfo
			if bi.GoVersion != runtime.Version() || bi.Path != "example.com/nbd" || bi.Main != "example.com/nbd" || bi.Settings["-buildmode"] != c.kind || bi.Settings["-trimpath"] != "true" {
				t.Errorf("build info %+v", bi)
			}
			switch c.kind {
			case KindCShared:
				if len(a.GLIBC) == 0 || !strings.HasPrefix(a.GLIBC[0], "GLIBC_2.") {
					t.Errorf("GLIBC %q", a.GLIBC)
				}
				for i := 1; i < len(a.GLIBC); i++ {
					if abi.CompareGLIBC(a.GLIBC[i-1], a.GLIBC[i]) >= 0 {
						t.Errorf("GLIBC %q not sorted numerically", a.GLIBC)
					}
				}
			case KindCArchive:
				if a.GLIBC != nil {
					t.Errorf("a c-archive needs GLIBC %q", a.GLIBC)
				}
			}
			// What InspectLibrary finds, with what the builder adds, is a
			// valid manifest entry.
			a.Name, a.Kind, a.File, a.LoadedBy, a.Header.File = "nbd", c.kind, "lib/"+filepath.Base(c.file), "a C host", "lib/nbd.h"
			m := &Manifest{SchemaVersion: SchemaVersion, ABIKey: ABIKey(Toolchain{}, Build{}, nil), Toolchain: Toolchain{GOOS: "linux", GOARCH: "amd64"}, Artifacts: []Artifact{a}}
			if err := m.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

// TestInspectLibraryRefuses: a Go plugin or an executable is no C-ABI
// library; a file that is not a Go binary, a missing or special header
// and a cancelled context are errors.
func TestInspectLibraryRefuses(t *testing.T) {
	arts := manifeststest.Build(t)
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("not a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	_, err := InspectLibrary(ctx, arts.Plugin, arts.CSharedHeader)
	var nl *NotLibraryError
	if !errors.As(err, &nl) || nl.BuildMode != "plugin" || !strings.Contains(err.Error(), "a Go plugin (-buildmode=plugin), not a C-ABI library") ||
		nl.Hint() != "build it as a library: libraries: [{name, path, buildmode: c-shared}] in pbuild.yaml" {
		t.Errorf("a plugin: %v", err)
	}
	if _, err := InspectLibrary(ctx, arts.Host, arts.CSharedHeader); !errors.As(err, &nl) || nl.BuildMode != "exe" {
		t.Errorf("an executable: %v", err)
	}
	var ng *NotGoBinaryError
	if _, err := InspectLibrary(ctx, text, arts.CSharedHeader); !errors.As(err, &ng) || !errors.Is(err, abi.ErrNotELF) {
		t.Errorf("a text file: %v", err)
	}
	if _, err := InspectLibrary(ctx, arts.CShared, filepath.Join(dir, "missing.h")); err == nil || !strings.Contains(err.Error(), "C header") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing header: %v", err)
	}
	if _, err := InspectLibrary(ctx, arts.CShared, dir); !errors.Is(err, safefile.ErrNotRegular) {
		t.Errorf("a directory as the header: %v", err)
	}
	if _, err := InspectLibrary(ctx, arts.CShared, ""); err == nil {
		t.Error("no header: accepted")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, f := range []string{arts.CShared, arts.CArchive} {
		if _, err := InspectLibrary(cancelled, f, arts.CSharedHeader); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled: %v", err)
		}
	}
}

// TestContextReader: reads stop once the context is cancelled, so parsing
// a large archive does.
func TestContextReader(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f, err := safefile.OpenPath(ctx, p, safefile.NoLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := safefile.ContextReader{Ctx: ctx, File: f}
	b := make([]byte, 4)
	if n, err := r.ReadAt(b, 2); n != 4 || err != nil || string(b) != "2345" || r.Size() != 10 {
		t.Fatalf("ReadAt = %d %v %q, size %d", n, err, b, r.Size())
	}
	cancel()
	if _, err := r.ReadAt(b, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadAt after cancel = %v", err)
	}
}
