package toolchain

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/pbuild/pbuild/images"
	"github.com/pbuild/pbuild/internal/container"
)

type tarItem struct {
	name string
	typ  byte
	mode int64
	body string
}

func readTar(t *testing.T, r io.Reader) []tarItem {
	t.Helper()
	var out []tarItem
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarItem{hdr.Name, hdr.Typeflag, hdr.Mode, string(body)})
	}
}

func writeZipFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "toolchain.zip")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWriteBuildContext(t *testing.T) {
	fs := append([]zipFile{}, toolchainFiles...)
	fs = append(fs,
		zipFile{"pkg/tool/linux_amd64/sub/notatool", "x"}, // too deep for a tool
		zipFile{"bin/sub/notaprogram", "x"},               // too deep for a program
		zipFile{"misc/", ""},                              // a directory entry: skipped
	)
	zp := writeZipFile(t, makeZip(t, testVersion, fs))
	var buf bytes.Buffer
	if err := writeBuildContext(&buf, zp); err != nil {
		t.Fatal(err)
	}
	items := readTar(t, &buf)
	if len(items) == 0 || items[0].name != "Dockerfile" {
		t.Fatalf("first entry = %+v, want Dockerfile", items)
	}
	if items[0].body != string(images.ToolchainDockerfile()) || items[0].mode != 0o644 || items[0].typ != tar.TypeReg {
		t.Errorf("Dockerfile entry = %+v, want the embedded recipe, 0644", items[0])
	}

	wantFiles := map[string]int64{
		"go/VERSION":                           0o644,
		"go/bin/go":                            0o755,
		"go/bin/gofmt":                         0o755,
		"go/pkg/tool/linux_amd64/compile":      0o755,
		"go/pkg/include/funcdata.h":            0o644,
		"go/src/fmt/print.go":                  0o644,
		"go/pkg/tool/linux_amd64/sub/notatool": 0o644,
		"go/bin/sub/notaprogram":               0o644,
	}
	bodies := map[string]string{}
	for _, f := range fs {
		bodies["go/"+f.name] = f.body
	}
	seenDirs := map[string]bool{}
	gotFiles := map[string]int64{}
	for _, it := range items[1:] {
		switch it.typ {
		case tar.TypeDir:
			name := strings.TrimSuffix(it.name, "/")
			if seenDirs[name] {
				t.Errorf("directory %s written twice", name)
			}
			if it.mode != 0o755 {
				t.Errorf("directory %s mode %o, want 755", name, it.mode)
			}
			if parent := path.Dir(name); parent != "." && !seenDirs[parent] {
				t.Errorf("directory %s comes before its parent", name)
			}
			seenDirs[name] = true
		case tar.TypeReg:
			if !seenDirs[path.Dir(it.name)] {
				t.Errorf("file %s comes before its directory", it.name)
			}
			gotFiles[it.name] = it.mode
			if it.body != bodies[it.name] {
				t.Errorf("%s = %q, want %q", it.name, it.body, bodies[it.name])
			}
		default:
			t.Errorf("entry %s has type %c", it.name, it.typ)
		}
	}
	if !reflect.DeepEqual(gotFiles, wantFiles) {
		t.Errorf("files and modes:\n%v\nwant\n%v", gotFiles, wantFiles)
	}
	for _, d := range []string{"go", "go/bin", "go/pkg", "go/pkg/tool", "go/pkg/tool/linux_amd64", "go/src", "go/src/fmt"} {
		if !seenDirs[d] {
			t.Errorf("parent directory %s missing", d)
		}
	}
	if seenDirs["go/misc"] {
		t.Error("a zip directory entry became a directory of its own")
	}

	// The context is the same every time.
	var first, again bytes.Buffer
	if err := writeBuildContext(&first, zp); err != nil {
		t.Fatal(err)
	}
	if err := writeBuildContext(&again, zp); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), again.Bytes()) {
		t.Error("two build contexts of one zip differ")
	}
}

func TestWriteBuildContextErrors(t *testing.T) {
	if err := writeBuildContext(io.Discard, filepath.Join(t.TempDir(), "missing.zip")); err == nil || !strings.HasPrefix(err.Error(), "open toolchain zip: ") {
		t.Errorf("missing zip: %v", err)
	}
	// An entry outside the module's directory.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	if w, err := zw.Create("stray.txt"); err != nil {
		t.Fatal(err)
	} else {
		w.Write([]byte("x"))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	err := writeBuildContext(io.Discard, writeZipFile(t, buf.Bytes()))
	if err == nil || err.Error() != `toolchain zip: unexpected entry "stray.txt"` {
		t.Errorf("stray entry: %v", err)
	}
}

func TestIsExecutable(t *testing.T) {
	for rel, want := range map[string]bool{
		"bin/go":                       true,
		"bin/gofmt":                    true,
		"pkg/tool/linux_amd64/compile": true,
		"pkg/tool/linux_arm64/link":    true,
		"bin":                          false,
		"bin/sub/x":                    false,
		"pkg/tool/linux_amd64":         false,
		"pkg/tool/linux_amd64/a/b":     false,
		"pkg/include/asm.h":            false,
		"src/cmd/go/main.go":           false,
		"misc/wasm/go_js_wasm_exec":    false,
		"lib/time/zoneinfo.zip":        false,
		"VERSION":                      false,
	} {
		if got := isExecutable(rel); got != want {
			t.Errorf("isExecutable(%q) = %v, want %v", rel, got, want)
		}
	}
}

func TestImageTag(t *testing.T) {
	base := ImageTag("1.24.4", "sha256:base1", "h1:sum1")
	if !regexp.MustCompile(`^pbuild/toolchain:go1\.24\.4-[0-9a-f]{12}$`).MatchString(base) {
		t.Errorf("ImageTag = %q, want pbuild/toolchain:go1.24.4-<12 hex>", base)
	}
	if again := ImageTag("1.24.4", "sha256:base1", "h1:sum1"); again != base {
		t.Errorf("ImageTag is not stable: %q then %q", base, again)
	}
	for _, other := range []string{
		ImageTag("1.24.4", "sha256:base2", "h1:sum1"),
		ImageTag("1.24.4", "sha256:base1", "h1:sum2"),
		// Field boundaries matter: moving a character between the inputs
		// gives another tag.
		ImageTag("1.24.4", "sha256:base1\ntoolchain", " h1:sum1"),
	} {
		if other == base {
			t.Errorf("a changed input kept the tag %q", base)
		}
	}
	if v := ImageTag("1.25rc1", "sha256:base1", "h1:sum1"); !strings.HasPrefix(v, "pbuild/toolchain:go1.25rc1-") {
		t.Errorf("ImageTag = %q", v)
	}
}

// fakeEngine is a toolchain.Engine that builds and runs nothing.
type fakeEngine struct {
	mu      sync.Mutex
	images  map[string]string // ref -> ID
	imageID func(ref string) (string, error)
	builds  []buildCall
	specs   []container.Spec
	removed []string
	execs   [][]string
	probe   string // stdout of the probe
	probeRC int
	probeSE string // stderr of the probe
	nextID  int
}

type buildCall struct {
	tag            string
	args, labels   map[string]string
	context        []tarItem
	contextReadErr error
}

func (f *fakeEngine) ImageID(ctx context.Context, ref string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.imageID != nil {
		return f.imageID(ref)
	}
	if id, ok := f.images[ref]; ok {
		return id, nil
	}
	return "", fmt.Errorf("image %s: %w", ref, container.ErrNotFound)
}

func (f *fakeEngine) BuildImage(ctx context.Context, tag string, buildContext io.Reader, args, labels map[string]string) (string, error) {
	var items []tarItem
	tr := tar.NewReader(buildContext)
	var readErr error
	for {
		hdr, err := tr.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		body, _ := io.ReadAll(tr)
		items = append(items, tarItem{hdr.Name, hdr.Typeflag, hdr.Mode, string(body)})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.builds = append(f.builds, buildCall{tag, args, labels, items, readErr})
	id := "sha256:built-" + tag
	f.images[tag] = id
	return id, nil
}

func (f *fakeEngine) Create(ctx context.Context, spec container.Spec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	f.specs = append(f.specs, spec)
	return fmt.Sprintf("c%d", f.nextID), nil
}

func (f *fakeEngine) Start(ctx context.Context, id string) error { return nil }

func (f *fakeEngine) CopyTo(ctx context.Context, id, dir string, r io.Reader) error {
	return errors.New("unexpected CopyTo")
}

func (f *fakeEngine) CopyFrom(ctx context.Context, id, p string) (io.ReadCloser, error) {
	return nil, errors.New("unexpected CopyFrom")
}

func (f *fakeEngine) Exec(ctx context.Context, id string, e container.Exec) (int, error) {
	f.mu.Lock()
	f.execs = append(f.execs, e.Cmd)
	f.mu.Unlock()
	if len(e.Cmd) == 3 && e.Cmd[0] == "sh" && e.Cmd[1] == "-c" && e.Cmd[2] == probeScript {
		io.WriteString(e.Stdout, f.probe)
		io.WriteString(e.Stderr, f.probeSE)
		return f.probeRC, nil
	}
	return 127, nil
}

func (f *fakeEngine) Remove(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, id)
	return nil
}

const goodProbe = "go version go1.24.4 linux/amd64\nlinux\namd64\nv1\ncc (Debian 12.2.0-14+deb12u1) 12.2.0\n"

const testBase = "pbuild/base:bookworm"

func newMaker(t *testing.T) (*Maker, *fakeEngine, *proxy, string) {
	p, sum := goodProxy(t)
	eng := &fakeEngine{images: map[string]string{testBase: "sha256:base"}, probe: goodProbe}
	f := newFetcher(t, p.URL+"/good")
	return &Maker{Engine: eng, Fetcher: f, Project: "/p/pbuild.yaml"}, eng, p, sum
}

func testSpec(sum string) Spec {
	return Spec{Go: testGo, Base: testBase, Sum: sum, GOOS: "linux", GOARCH: "amd64"}
}

func TestEnsureBuildsMissingImage(t *testing.T) {
	m, eng, _, sum := newMaker(t)
	var steps []string
	m.OnStep = func(s string) { steps = append(steps, s) }
	tc, err := m.Ensure(context.Background(), testSpec(sum))
	if err != nil {
		t.Fatal(err)
	}
	tag := ImageTag(testGo, "sha256:base", sum)
	want := &Toolchain{
		Go: "go1.24.4", Module: testModule, ModuleSum: sum,
		BaseImage: testBase, BaseImageID: "sha256:base",
		Image: tag, ImageID: "sha256:built-" + tag,
		GOOS: "linux", GOARCH: "amd64", GOAMD64: "v1",
		CC: "cc (Debian 12.2.0-14+deb12u1) 12.2.0",
	}
	if *tc != *want {
		t.Errorf("Ensure =\n%+v\nwant\n%+v", tc, want)
	}
	if len(eng.builds) != 1 {
		t.Fatalf("%d image builds, want 1", len(eng.builds))
	}
	b := eng.builds[0]
	if b.tag != tag {
		t.Errorf("built %s, want %s", b.tag, tag)
	}
	if !reflect.DeepEqual(b.args, map[string]string{"BASE": testBase}) {
		t.Errorf("build args = %v, want BASE=%s", b.args, testBase)
	}
	wantLabels := map[string]string{
		"org.pbuild.go":            testGo,
		"org.pbuild.toolchain":     testModule,
		"org.pbuild.toolchain.sum": sum,
		"org.pbuild.base":          testBase,
		"org.pbuild.base.id":       "sha256:base",
	}
	if !reflect.DeepEqual(b.labels, wantLabels) {
		t.Errorf("labels = %v\nwant %v", b.labels, wantLabels)
	}
	if b.contextReadErr != nil || len(b.context) == 0 || b.context[0].name != "Dockerfile" {
		t.Errorf("build context: %v, entries %v", b.contextReadErr, b.context)
	}
	var hasGo bool
	for _, it := range b.context {
		if it.name == "go/bin/go" && it.mode == 0o755 {
			hasGo = true
		}
	}
	if !hasGo {
		t.Error("build context lacks an executable go/bin/go")
	}

	// The probe ran in the new image, in a labelled container that is gone.
	if len(eng.specs) != 1 || eng.specs[0].Image != tag || eng.specs[0].Step != "toolchain" || eng.specs[0].Network || eng.specs[0].Project != "/p/pbuild.yaml" {
		t.Errorf("containers = %+v, want one toolchain container of %s without network", eng.specs, tag)
	}
	if !reflect.DeepEqual(eng.removed, []string{"c1"}) {
		t.Errorf("removed %v, want c1", eng.removed)
	}
	wantSteps := []string{"fetch golang.org/toolchain@" + testVersion, "make image " + tag}
	if !reflect.DeepEqual(steps, wantSteps) {
		t.Errorf("steps = %q, want %q", steps, wantSteps)
	}
}

func TestEnsureReusesImage(t *testing.T) {
	m, eng, _, sum := newMaker(t)
	tag := ImageTag(testGo, "sha256:base", sum)
	eng.images[tag] = "sha256:existing"
	var steps []string
	m.OnStep = func(s string) { steps = append(steps, s) }
	tc, err := m.Ensure(context.Background(), testSpec(sum))
	if err != nil {
		t.Fatal(err)
	}
	if len(eng.builds) != 0 {
		t.Errorf("built %d images for an existing tag", len(eng.builds))
	}
	if tc.Image != tag || tc.ImageID != "sha256:existing" {
		t.Errorf("toolchain image %s (%s), want %s (sha256:existing)", tc.Image, tc.ImageID, tag)
	}
	if len(steps) != 2 || steps[1] != "reuse image "+tag {
		t.Errorf("steps = %q", steps)
	}
	if len(eng.execs) != 1 {
		t.Errorf("execs = %q, want the probe only", eng.execs)
	}

	// Another base image ID is another tag: the old image is not reused.
	eng.images[testBase] = "sha256:newbase"
	tc2, err := m.Ensure(context.Background(), testSpec(sum))
	if err != nil {
		t.Fatal(err)
	}
	if tc2.Image == tag || len(eng.builds) != 1 {
		t.Errorf("after a base image change: image %s, %d builds; want a new tag built", tc2.Image, len(eng.builds))
	}
}

func TestEnsureErrors(t *testing.T) {
	errEngine := errors.New("engine down")
	tests := []struct {
		name  string
		setup func(eng *fakeEngine, f *Fetcher, spec *Spec)
		check func(t *testing.T, err error, eng *fakeEngine)
	}{
		{
			name:  "missing base image",
			setup: func(eng *fakeEngine, f *Fetcher, spec *Spec) { delete(eng.images, testBase) },
			check: func(t *testing.T, err error, eng *fakeEngine) {
				var be *BaseImageError
				if !errors.As(err, &be) {
					t.Fatalf("Ensure = %v (%T), want *BaseImageError", err, err)
				}
				if be.Ref != testBase || !strings.Contains(be.Hint(), "mkbase.sh") || !strings.Contains(be.Hint(), testBase) {
					t.Errorf("BaseImageError %+v, hint %q: want the ref and mkbase.sh", be, be.Hint())
				}
				if want := "base image pbuild/base:bookworm: not present in the engine (nothing is pulled)"; err.Error() != want {
					t.Errorf("error = %q, want %q", err, want)
				}
			},
		},
		{
			name: "engine failure looking up the base image",
			setup: func(eng *fakeEngine, f *Fetcher, spec *Spec) {
				eng.imageID = func(string) (string, error) { return "", errEngine }
			},
			check: func(t *testing.T, err error, eng *fakeEngine) {
				var be *BaseImageError
				if !errors.Is(err, errEngine) || errors.As(err, &be) {
					t.Errorf("Ensure = %v (%T), want the engine's error, not a missing base", err, err)
				}
			},
		},
		{
			name:  "wrong pinned sum",
			setup: func(eng *fakeEngine, f *Fetcher, spec *Spec) { spec.Sum = "h1:" + strings.Repeat("Z", 43) + "=" },
			check: func(t *testing.T, err error, eng *fakeEngine) {
				var ce *ChecksumError
				if !errors.As(err, &ce) {
					t.Fatalf("Ensure = %v, want *ChecksumError", err)
				}
			},
		},
		{
			name: "older Go in the image",
			setup: func(eng *fakeEngine, f *Fetcher, spec *Spec) {
				eng.probe = strings.Replace(goodProbe, "go1.24.4", "go1.24.3", 1)
			},
			check: func(t *testing.T, err error, eng *fakeEngine) {
				var me *MismatchError
				if !errors.As(err, &me) {
					t.Fatalf("Ensure = %v (%T), want *MismatchError", err, err)
				}
				if me.Want != "go1.24.4" || me.Got != "go version go1.24.3 linux/amd64" || !strings.HasPrefix(me.Image, "pbuild/toolchain:go1.24.4-") {
					t.Errorf("MismatchError = %+v", me)
				}
				if want := fmt.Sprintf("toolchain image %s runs %q, want go1.24.4", me.Image, "go version go1.24.3 linux/amd64"); err.Error() != want {
					t.Errorf("error = %q, want %q", err, want)
				}
				if !strings.Contains(me.Hint(), "docker rmi "+me.Image) {
					t.Errorf("hint %q", me.Hint())
				}
			},
		},
		{
			name: "prefix of the pinned version is not the pinned version",
			setup: func(eng *fakeEngine, f *Fetcher, spec *Spec) {
				eng.probe = strings.Replace(goodProbe, "go1.24.4", "go1.24.45", 1)
			},
			check: func(t *testing.T, err error, eng *fakeEngine) {
				var me *MismatchError
				if !errors.As(err, &me) {
					t.Fatalf("Ensure = %v, want *MismatchError", err)
				}
			},
		},
		{
			name: "probe fails",
			setup: func(eng *fakeEngine, f *Fetcher, spec *Spec) {
				eng.probeRC, eng.probeSE = 127, "sh: 1: cc: not found\n"
			},
			check: func(t *testing.T, err error, eng *fakeEngine) {
				if err == nil || !strings.HasSuffix(err.Error(), ": exit 127: sh: 1: cc: not found") {
					t.Errorf("Ensure = %v, want the exit code and stderr", err)
				}
			},
		},
		{
			name:  "short probe output",
			setup: func(eng *fakeEngine, f *Fetcher, spec *Spec) { eng.probe = "go version go1.24.4 linux/amd64\nlinux\n" },
			check: func(t *testing.T, err error, eng *fakeEngine) {
				if err == nil || !strings.Contains(err.Error(), "unexpected output") {
					t.Errorf("Ensure = %v, want unexpected output", err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, eng, _, sum := newMaker(t)
			spec := testSpec(sum)
			tt.setup(eng, m.Fetcher, &spec)
			tc, err := m.Ensure(context.Background(), spec)
			if err == nil {
				t.Fatalf("Ensure succeeded: %+v", tc)
			}
			tt.check(t, err, eng)
			if len(eng.specs) != len(eng.removed) {
				t.Errorf("created %d containers, removed %d", len(eng.specs), len(eng.removed))
			}
		})
	}
}

func TestEnsureProbeOtherPlatform(t *testing.T) {
	// On arm64 `go env GOAMD64` prints an empty line.
	m, eng, _, _ := newMaker(t)
	data := makeZip(t, "v0.0.1-go1.24.4.linux-arm64", toolchainFiles)
	p := newProxy(t)
	p.serve("/arm/golang.org/toolchain/@v/v0.0.1-go1.24.4.linux-arm64.zip", data)
	m.Fetcher.Proxy = p.URL + "/arm"
	eng.probe = "go version go1.24.4 linux/arm64\nlinux\narm64\n\ngcc (Debian 12.2.0-14) 12.2.0\n"
	tc, err := m.Ensure(context.Background(), Spec{Go: testGo, Base: testBase, Sum: zipSum(t, data), GOOS: "linux", GOARCH: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	if tc.GOOS != "linux" || tc.GOARCH != "arm64" || tc.GOAMD64 != "" || tc.CC != "gcc (Debian 12.2.0-14) 12.2.0" || tc.Module != "golang.org/toolchain@v0.0.1-go1.24.4.linux-arm64" {
		t.Errorf("toolchain = %+v", tc)
	}
}
