package install

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pbuild/pbuild/internal/owner"
	"github.com/pbuild/pbuild/internal/safefile"
	"github.com/pbuild/pbuild/manifests"
)

// abiA and abiB are two ABI keys.
var (
	abiA = "sha256:" + strings.Repeat("a", 64)
	abiB = "sha256:" + strings.Repeat("b", 64)
)

// art is an artifact of a test dist: its manifest entry's name, kind and
// file, and its content.
type art struct {
	name, kind, file, content string
	header                    string // a C-ABI library's header, in headerFile(file)
}

// headerFile is where a C-ABI library's header goes: lib/nbd.so has
// lib/nbd.h.
func headerFile(file string) string {
	return strings.TrimSuffix(file, filepath.Ext(file)) + ".h"
}

// release1 and release2 are two releases of one host: greet 0.1, then
// greet 0.2 only. The host is byte for byte the same.
var (
	host     = art{"greeter", manifests.KindHost, "greeter", "host binary", ""}
	greet01  = art{"greet-0.1", manifests.KindPlugin, "plugins/greet.so.0.1", "greet 0.1", ""}
	greet02  = art{"greet-0.2", manifests.KindPlugin, "plugins/greet.so.0.2", "greet 0.2", ""}
	release1 = []art{host, greet01}
	release2 = []art{host, greet02}
	// nbd is a C-ABI library with its header.
	nbd = art{"nbd", manifests.KindCShared, "lib/nbd.so", "nbd library", "int nbd(void);\n"}
)

// testSelf is the pbuild the tests install as: this process.
var testSelf = must(owner.Self())

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// manifestOf is a valid manifest listing arts under abiKey; each artifact
// has a local module of its own (example.com/<name>).
func manifestOf(abiKey string, arts []art) *manifests.Manifest {
	m := &manifests.Manifest{
		ABIKey:    abiKey,
		Toolchain: manifests.Toolchain{Go: "go1.24.4", GOOS: "linux", GOARCH: "amd64"},
		Modules:   []manifests.Module{{Path: "golang.org/x/text", Version: "v0.21.0", Sum: "h1:text"}},
	}
	for _, a := range arts {
		ma := manifests.Artifact{Name: a.name, Kind: a.kind, File: a.file, Size: int64(len(a.content)), SHA256: sum(a.content)}
		if a.header != "" {
			ma.Header = &manifests.Header{File: headerFile(a.file), Size: int64(len(a.header)), SHA256: sum(a.header)}
		}
		m.Artifacts = append(m.Artifacts, ma)
		m.Modules = append(m.Modules, manifests.Module{Path: "example.com/" + a.name, Sum: "h1:" + a.name, Local: true, Dir: a.name})
	}
	return m
}

func encode(t *testing.T, m *manifests.Manifest) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := manifests.Write(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeFile(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// writeDist writes a dist of arts with its manifest into dir.
func writeDist(t *testing.T, dir, abiKey string, arts []art) {
	t.Helper()
	for _, a := range arts {
		writeFile(t, filepath.Join(dir, filepath.FromSlash(a.file)), a.content, 0o755)
		if a.header != "" {
			writeFile(t, filepath.Join(dir, filepath.FromSlash(headerFile(a.file))), a.header, 0o644)
		}
	}
	writeFile(t, filepath.Join(dir, manifestName), string(encode(t, manifestOf(abiKey, arts))), 0o644)
}

// snapshot is every entry below root: path -> "file <content>", "dir",
// "link -> <target>".
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case rel == ".":
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[filepath.ToSlash(rel)] = "link -> " + target
		case d.IsDir():
			out[filepath.ToSlash(rel)] = "dir"
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[filepath.ToSlash(rel)] = "file " + string(data)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

func TestInto(t *testing.T) {
	type env struct {
		tmp, dist, dir string
	}
	tests := []struct {
		name string
		// setup writes the dist (tmp/dist) and the release directory's
		// earlier content (tmp/rel).
		setup func(t *testing.T, e env)
		// errType is the error's type ("" for success); errText a
		// fragment of its message.
		errType string
		errText string
		// actions are the result's files and actions, kept its kept
		// artifacts, artifacts how many the manifest lists then.
		actions   map[string]Action
		kept      []string
		artifacts int
	}{
		{
			name:      "a new directory",
			setup:     func(t *testing.T, e env) { writeDist(t, e.dist, abiA, release1) },
			actions:   map[string]Action{"greeter": Copied, "plugins/greet.so.0.1": Copied},
			artifacts: 2,
		},
		{
			name: "a file already there with the same content is left",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dist, abiA, release1)
				writeFile(t, filepath.Join(e.dir, "plugins", "greet.so.0.1"), greet01.content, 0o755)
			},
			actions:   map[string]Action{"greeter": Copied, "plugins/greet.so.0.1": Present},
			artifacts: 2,
		},
		{
			name: "the next release beside the first: the manifests merge",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dir, abiA, release1)
				writeDist(t, e.dist, abiA, release2)
			},
			actions:   map[string]Action{"greeter": Present, "plugins/greet.so.0.2": Copied},
			kept:      []string{"plugin greet-0.1 (plugins/greet.so.0.1)"},
			artifacts: 3,
		},
		{
			name:      "a C-ABI library and its header",
			setup:     func(t *testing.T, e env) { writeDist(t, e.dist, abiA, []art{host, nbd}) },
			actions:   map[string]Action{"greeter": Copied, "lib/nbd.so": Copied, "lib/nbd.h": Copied},
			artifacts: 2,
		},
		{
			name: "a C-ABI library kept beside the next release, with its header",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dir, abiA, []art{host, nbd})
				writeDist(t, e.dist, abiA, release2)
			},
			actions:   map[string]Action{"greeter": Present, "plugins/greet.so.0.2": Copied},
			kept:      []string{"c-shared nbd (lib/nbd.so)"},
			artifacts: 3,
		},
		{
			name: "another header in the way",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dist, abiA, []art{host, nbd})
				writeFile(t, filepath.Join(e.dir, "lib", "nbd.h"), "int nbd(int);\n", 0o644)
			},
			errType: "conflict",
			errText: "rel/lib/nbd.h: already there with other content",
		},
		{
			name: "a dist header that differs from its manifest",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dist, abiA, []art{host, nbd})
				writeFile(t, filepath.Join(e.dist, "lib", "nbd.h"), "int nbd(long);\n", 0o644)
			},
			errType: "dist",
			errText: "nbd.h: sha256 is",
		},
		{
			name: "a file with other content of the same size",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dist, abiA, release1)
				writeFile(t, filepath.Join(e.dir, "greeter"), "HOST BINARY", 0o755)
			},
			errType: "conflict",
			errText: "greeter: already there with other content (sha256 " + sum("HOST BINARY") + ", the dist's " + sum("host binary") + ")",
		},
		{
			name: "a file with other content of another size",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dist, abiA, release1)
				writeFile(t, filepath.Join(e.dir, "plugins", "greet.so.0.1"), "an older greet", 0o755)
			},
			errType: "conflict",
			errText: "greet.so.0.1: already there with other content (14 bytes, the dist's 9)",
		},
		{
			name: "a symbolic link where a file goes, even to the same content",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dist, abiA, release1)
				writeFile(t, filepath.Join(e.tmp, "elsewhere", "greet"), greet01.content, 0o644)
				os.MkdirAll(filepath.Join(e.dir, "plugins"), 0o755)
				if err := os.Symlink(filepath.Join(e.tmp, "elsewhere", "greet"), filepath.Join(e.dir, "plugins", "greet.so.0.1")); err != nil {
					t.Fatal(err)
				}
			},
			errType: "conflict",
			errText: "greet.so.0.1: is a symbolic link, where the dist has a file",
		},
		{
			name: "a symbolic link where a directory goes",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dist, abiA, release1)
				os.MkdirAll(filepath.Join(e.tmp, "elsewhere"), 0o755)
				os.MkdirAll(e.dir, 0o755)
				if err := os.Symlink(filepath.Join(e.tmp, "elsewhere"), filepath.Join(e.dir, "plugins")); err != nil {
					t.Fatal(err)
				}
			},
			errType: "conflict",
			errText: "rel/plugins: is a symbolic link where the dist has a directory (for plugins/greet.so.0.1)",
		},
		{
			name: "a directory where a file goes",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dist, abiA, release1)
				os.MkdirAll(filepath.Join(e.dir, "greeter"), 0o755)
			},
			errType: "conflict",
			errText: "rel/greeter: is a directory, where the dist has a file",
		},
		{
			name: "a file where a directory goes",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dist, abiA, release1)
				writeFile(t, filepath.Join(e.dir, "plugins"), "not a directory", 0o644)
			},
			errType: "conflict",
			errText: "rel/plugins: is a regular file where the dist has a directory",
		},
		{
			name: "the release directory's manifest is a symbolic link",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dist, abiA, release2)
				writeDist(t, filepath.Join(e.tmp, "elsewhere"), abiA, release1)
				os.MkdirAll(e.dir, 0o755)
				if err := os.Symlink(filepath.Join(e.tmp, "elsewhere", manifestName), filepath.Join(e.dir, manifestName)); err != nil {
					t.Fatal(err)
				}
			},
			errType: "conflict",
			errText: "is a symbolic link, not a manifest",
		},
		{
			name: "another ABI key",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dir, abiB, release1)
				writeDist(t, e.dist, abiA, release2)
			},
			errType: "abi",
			errText: "rel/pbuild.manifest.json has ABI key " + abiB + ", the dist " + abiA,
		},
		{
			// The ABI says the most: named before a file in the way (the
			// host of another ABI differs too).
			name: "another ABI key and another host",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dir, abiB, []art{{host.name, host.kind, host.file, "HOST BINARY", ""}, greet01})
				writeDist(t, e.dist, abiA, release2)
			},
			errType: "abi",
			errText: "rel/pbuild.manifest.json has ABI key " + abiB + ", the dist " + abiA,
		},
		{
			name: "one artifact name for two files",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dir, abiA, release1)
				g := greet02
				g.name = greet01.name
				writeDist(t, e.dist, abiA, []art{host, g})
			},
			errType: "merge",
			errText: "artifact greet-0.1 is plugins/greet.so.0.1 in it and plugins/greet.so.0.2 in the dist's",
		},
		{
			name: "one file with two sha256s in the two manifests",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dist, abiA, release2)
				// The directory's greeter is the dist's, its manifest
				// says otherwise.
				writeDist(t, e.dir, abiA, []art{{host.name, host.kind, host.file, "HOST BINARY", ""}, greet01})
				writeFile(t, filepath.Join(e.dir, "greeter"), host.content, 0o755)
			},
			errType: "merge",
			errText: "it lists greeter with sha256 " + sum("HOST BINARY") + ", the dist's with " + sum(host.content),
		},
		{
			name: "two hosts",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dir, abiA, release1)
				writeDist(t, e.dist, abiA, []art{{"greeter2", manifests.KindHost, "greeter2", "host 2", ""}, greet02})
			},
			errType: "merge",
			errText: "a second host",
		},
		{
			name: "a hostile dist manifest: a file outside the dist",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dist, abiA, release1)
				writeFile(t, filepath.Join(e.tmp, "outside"), "secret", 0o644)
				m := manifestOf(abiA, release1)
				m.Artifacts[1].File = "../outside"
				m.Artifacts[1].Size, m.Artifacts[1].SHA256 = 6, sum("secret")
				writeFile(t, filepath.Join(e.dist, manifestName), string(encode(t, m)), 0o644)
			},
			errType: "input",
			errText: `artifacts[1].file: "../outside" leaves the output directory`,
		},
		{
			name: "a hostile dist manifest: an absolute file",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dist, abiA, release1)
				m := manifestOf(abiA, release1)
				m.Artifacts[1].File = "/etc/passwd"
				writeFile(t, filepath.Join(e.dist, manifestName), string(encode(t, m)), 0o644)
			},
			errType: "input",
			errText: `artifacts[1].file: "/etc/passwd" is absolute`,
		},
		{
			name: "a dist file that is a link out of the dist",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dist, abiA, release1)
				writeFile(t, filepath.Join(e.tmp, "outside"), greet01.content, 0o644)
				p := filepath.Join(e.dist, "plugins", "greet.so.0.1")
				os.Remove(p)
				if err := os.Symlink(filepath.Join(e.tmp, "outside"), p); err != nil {
					t.Fatal(err)
				}
			},
			errType: "dist",
			errText: "through a symbolic link",
		},
		{
			name: "a dist file that differs from its manifest",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dist, abiA, release1)
				writeFile(t, filepath.Join(e.dist, "plugins", "greet.so.0.1"), "greet 0.X", 0o755)
			},
			errType: "dist",
			errText: "greet.so.0.1: sha256 is " + sum("greet 0.X") + ", its manifest says " + sum(greet01.content),
		},
		{
			name: "a dist file that is missing",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dist, abiA, release1)
				os.Remove(filepath.Join(e.dist, "greeter"))
			},
			errType: "dist",
			errText: "greeter: missing",
		},
		{
			name:    "no manifest in the dist",
			setup:   func(t *testing.T, e env) { os.MkdirAll(e.dist, 0o755) },
			errType: "input",
			errText: "no such file or directory",
		},
		{
			name: "a release directory inside the dist",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dist, abiA, release1)
				if err := os.Symlink(filepath.Join(e.dist, "sub"), e.dir); err != nil {
					t.Fatal(err)
				}
				os.MkdirAll(filepath.Join(e.dist, "sub"), 0o755)
			},
			errType: "input",
			errText: "inside the dist",
		},
		{
			name: "a release directory that is a file",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dist, abiA, release1)
				writeFile(t, e.dir, "a file", 0o644)
			},
			errType: "input",
			errText: "rel is not a directory",
		},
		{
			name: "an unreadable manifest in the release directory",
			setup: func(t *testing.T, e env) {
				writeDist(t, e.dist, abiA, release1)
				writeFile(t, filepath.Join(e.dir, manifestName), `{"schemaVersion": 1, "what": true}`, 0o644)
			},
			errType: "input",
			errText: "rel/pbuild.manifest.json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			e := env{tmp: tmp, dist: filepath.Join(tmp, "dist"), dir: filepath.Join(tmp, "rel")}
			tt.setup(t, e)
			before := snapshot(t, tmp)
			res, err := Into(context.Background(), e.dist, e.dir, testSelf)
			if tt.errType != "" {
				if err == nil {
					t.Fatalf("Into succeeded: %+v", res)
				}
				checkErrType(t, err, tt.errType)
				if !strings.Contains(err.Error(), tt.errText) {
					t.Errorf("error %q\ndoes not say %q", err, tt.errText)
				}
				var h interface{ Hint() string }
				if !errors.As(err, &h) || h.Hint() == "" {
					t.Errorf("error %T has no hint", err)
				}
				// Refused: nothing changed (a new release directory may
				// have been made, empty).
				after := snapshot(t, tmp)
				if _, was := before["rel"]; !was && after["rel"] == "dir" {
					delete(after, "rel")
				}
				if !reflect.DeepEqual(after, before) {
					t.Errorf("refused, but the files changed:\nbefore %v\nafter  %v", before, after)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]Action{}
			for _, f := range res.Files {
				got[f.File] = f.Action
			}
			if !reflect.DeepEqual(got, tt.actions) {
				t.Errorf("actions = %v, want %v", got, tt.actions)
			}
			if !reflect.DeepEqual(res.Kept, append([]string{}, tt.kept...)) {
				t.Errorf("kept = %q, want %q", res.Kept, tt.kept)
			}
			if res.Artifacts != tt.artifacts || !res.ManifestChanged {
				t.Errorf("artifacts = %d (manifest changed: %v), want %d", res.Artifacts, res.ManifestChanged, tt.artifacts)
			}
			checkInstalled(t, e.dir)
		})
	}
}

func checkErrType(t *testing.T, err error, kind string) {
	t.Helper()
	var ok bool
	switch kind {
	case "conflict":
		var e *ConflictError
		ok = errors.As(err, &e)
	case "abi":
		var e *ABIError
		ok = errors.As(err, &e)
	case "merge":
		var e *MergeError
		ok = errors.As(err, &e)
	case "dist":
		var e *DistError
		ok = errors.As(err, &e)
	case "input":
		var e *InputError
		ok = errors.As(err, &e)
	}
	if !ok {
		t.Errorf("error is %T (%v), want a %s error", err, err, kind)
	}
}

// checkInstalled checks a release directory after an install: its
// manifest reads, every file it lists is there with its sha256, and
// nothing else is (no temporary file left).
func checkInstalled(t *testing.T, dir string) *manifests.Manifest {
	t.Helper()
	m, err := manifests.ReadFile(context.Background(), filepath.Join(dir, manifestName))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{manifestName}
	check := func(file string, size int64, sha string) {
		s, err := safefile.Digest(context.Background(), dir, file, size)
		if err != nil || s != sha {
			t.Errorf("%s: sha256 %s, %v; the manifest says %s", file, s, err, sha)
		}
		want = append(want, file)
	}
	for _, a := range m.Artifacts {
		check(a.File, a.Size, a.SHA256)
		if h := a.Header; h != nil {
			check(h.File, h.Size, h.SHA256)
		}
	}
	var got []string
	for p, what := range snapshot(t, dir) {
		if strings.HasPrefix(what, "file ") {
			got = append(got, p)
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("files = %q, want %q", got, want)
	}
	return m
}

// TestTwoReleases installs release 1 and then release 2 into one
// directory: both plugins are there, and the manifest is release 2's with
// greet-0.1 (and its module) added. Installing release 2 again changes
// nothing.
func TestTwoReleases(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "rel")
	for i, rel := range [][]art{release1, release2} {
		dist := filepath.Join(tmp, "dist")
		os.RemoveAll(dist)
		writeDist(t, dist, abiA, rel)
		if _, err := Into(context.Background(), dist, dir, testSelf); err != nil {
			t.Fatalf("release %d: %v", i+1, err)
		}
	}
	m := checkInstalled(t, dir)
	want := manifestOf(abiA, release2)
	want.Artifacts = append(want.Artifacts, manifestOf(abiA, release1).Artifacts[1])
	want.Modules = append(want.Modules, manifests.Module{Path: "example.com/greet-0.1", Sum: "h1:greet-0.1", Local: true, Dir: "greet-0.1"})
	if got, w := encode(t, m), encode(t, want); !bytes.Equal(got, w) {
		t.Errorf("merged manifest:\n%s\nwant\n%s", got, w)
	}
	if fi, err := os.Stat(filepath.Join(dir, "plugins", "greet.so.0.2")); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("greet.so.0.2 is not executable: %v %v", fi.Mode(), err)
	}

	before := snapshot(t, tmp)
	res, err := Into(context.Background(), filepath.Join(tmp, "dist"), dir, testSelf)
	if err != nil {
		t.Fatal(err)
	}
	if res.ManifestChanged {
		t.Error("the same install again rewrote the manifest")
	}
	for _, f := range res.Files {
		if f.Action != Present {
			t.Errorf("%s: %s the second time", f.File, f.Action)
		}
	}
	if after := snapshot(t, tmp); !reflect.DeepEqual(after, before) {
		t.Errorf("the same install again changed files:\nbefore %v\nafter  %v", before, after)
	}
}

// TestIntoItself: a dist installed into itself is already there.
func TestIntoItself(t *testing.T) {
	dist := filepath.Join(t.TempDir(), "dist")
	writeDist(t, dist, abiA, release1)
	before := snapshot(t, dist)
	res, err := Into(context.Background(), dist, dist, testSelf)
	if err != nil {
		t.Fatal(err)
	}
	if res.ManifestChanged || !reflect.DeepEqual(snapshot(t, dist), before) {
		t.Errorf("installing a dist into itself changed it: %+v", res)
	}
}

func TestIntoMultiPlatformDist(t *testing.T) {
	tmp := t.TempDir()
	dist := filepath.Join(tmp, "dist")
	writeDist(t, filepath.Join(dist, "linux_amd64"), abiA, release1)
	writeDist(t, filepath.Join(dist, "linux_arm64"), abiB, release1)
	_, err := Into(context.Background(), dist, filepath.Join(tmp, "rel"), testSelf)
	var ie *InputError
	if !errors.As(err, &ie) || !strings.Contains(ie.Hint(), "pbuild install --to DIR/linux_amd64 "+filepath.Join(dist, "linux_amd64")) {
		t.Fatalf("error %v, hint %q", err, ie.Hint())
	}
}

func TestIntoCancelled(t *testing.T) {
	tmp := t.TempDir()
	dist := filepath.Join(tmp, "dist")
	writeDist(t, dist, abiA, release1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	before := snapshot(t, tmp)
	if _, err := Into(ctx, dist, filepath.Join(tmp, "rel"), testSelf); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if !reflect.DeepEqual(snapshot(t, tmp), before) {
		t.Error("a cancelled install wrote files")
	}
}

// TestIntoWaitsForTheLock: a second install into one directory waits for
// the first, until its context ends.
func TestIntoWaitsForTheLock(t *testing.T) {
	tmp := t.TempDir()
	dist, dir := filepath.Join(tmp, "dist"), filepath.Join(tmp, "rel")
	writeDist(t, dist, abiA, release1)
	os.MkdirAll(dir, 0o755)
	unlock, err := lock(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 300e6)
	defer cancel()
	if _, err := Into(ctx, dist, dir, testSelf); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want it to wait for the lock until the deadline", err)
	}
	if _, err := os.Stat(filepath.Join(dir, manifestName)); err == nil {
		t.Error("installed while another install held the lock")
	}
}

// TestRenameNoReplace: the rename that puts a new file in place never
// replaces one.
func TestRenameNoReplace(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "new"), "new", 0o644)
	writeFile(t, filepath.Join(dir, "old"), "old", 0o644)
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := renameNoReplace(int(d.Fd()), "new", "old"); !errors.Is(err, unix.EEXIST) {
		t.Errorf("renameNoReplace over a file: %v, want EEXIST", err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "old")); string(data) != "old" {
		t.Errorf("old now holds %q", data)
	}
	if err := renameNoReplace(int(d.Fd()), "new", "fresh"); err != nil {
		t.Fatal(err)
	}
}

// deadProcess is the ID of a process that ran on this machine and exited.
func deadProcess(t *testing.T, self owner.ID) owner.ID {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return owner.ID{Machine: self.Machine, PID: cmd.Process.Pid}
}

// TestIntoRemovesKilledInstallsTemps: the temporary files an install
// killed before it renamed them are removed by the next install into the
// directory when their process is dead; those of a live process, of
// another machine, and everything else stay.
func TestIntoRemovesKilledInstallsTemps(t *testing.T) {
	tmp := t.TempDir()
	dist, dir := filepath.Join(tmp, "dist"), filepath.Join(tmp, "rel")
	writeDist(t, dist, abiA, release1)
	dead := deadProcess(t, testSelf)
	live := owner.ID{Machine: testSelf.Machine, PID: os.Getppid()}
	elsewhere := owner.ID{Machine: "0123456789ab", PID: dead.PID}
	temp := func(base string, o owner.ID) string {
		return "." + base + ".pbuild-install-" + o.String() + "-0123456789ab"
	}
	gone := []string{
		temp("greeter", dead),
		temp(manifestName, dead),
		"plugins/" + temp("greet.so.0.1", dead),
	}
	stay := map[string]string{
		"plugins/" + temp("greet.so.0.1", live):       "file live",
		temp("greeter", elsewhere):                    "file another machine",
		".greeter.pbuild-install-0123456789ab":        "file no owner",
		"notes.txt":                                   "file the user's",
		"plugins/" + temp("greet.so.0.1", dead) + "x": "file not a temporary name",
	}
	for _, f := range gone {
		writeFile(t, filepath.Join(dir, filepath.FromSlash(f)), "killed", 0o644)
	}
	for f, what := range stay {
		writeFile(t, filepath.Join(dir, filepath.FromSlash(f)), strings.TrimPrefix(what, "file "), 0o644)
	}
	// A directory with a dead owner's temporary name is not one.
	if err := os.Mkdir(filepath.Join(dir, temp("dir", dead)), 0o755); err != nil {
		t.Fatal(err)
	}
	stay[temp("dir", dead)] = "dir"

	if _, err := Into(context.Background(), dist, dir, testSelf); err != nil {
		t.Fatal(err)
	}
	got := snapshot(t, dir)
	for _, f := range gone {
		if _, ok := got[f]; ok {
			t.Errorf("%s, a dead install's temporary file, is still there", f)
		}
	}
	for f, what := range stay {
		if got[f] != what {
			t.Errorf("%s is %q, want it left as %q", f, got[f], what)
		}
	}
	for _, a := range release1 {
		if got[a.file] != "file "+a.content {
			t.Errorf("%s is %q, want it installed", a.file, got[a.file])
		}
	}
}

// TestTempName: a temporary file's name tells its owner, and is a name a
// directory can hold however long the file's is.
func TestTempName(t *testing.T) {
	self := testSelf
	rnd := [6]byte{1, 2, 3, 4, 5, 6}
	for _, base := range []string{"greeter", manifestName, "a.pbuild-install-x", strings.Repeat("n", 255)} {
		name := tempName(base, self, rnd)
		if o, ok := tempOwner(name); !ok || o != self || len(name) > maxName || !strings.HasPrefix(name, "."+base[:min(len(base), 10)]) {
			t.Errorf("tempName(%.20s…) = %q (%d bytes): owner %v, %v", base, name, len(name), o, ok)
		}
	}
	for _, name := range []string{
		"greeter", ".greeter", ".greeter.pbuild-install-0123456789ab", // no owner: an earlier pbuild's
		"greeter.pbuild-install-" + self.String() + "-010203040506", // no leading dot
		".greeter.pbuild-install-" + self.String() + "-0102030405",  // short random part
		".greeter.pbuild-install-" + self.String() + "-01020304050g",
		".greeter.pbuild-install-" + self.String() + "-010203040506.x",
		".greeter.pbuild-install-m.x.1-010203040506",
	} {
		if o, ok := tempOwner(name); ok {
			t.Errorf("tempOwner(%q) = %v, want none", name, o)
		}
	}
}
