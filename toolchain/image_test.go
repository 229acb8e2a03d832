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
	"testing"

	"github.com/pbuild/pbuild/images"
	"github.com/pbuild/pbuild/internal/container"
	"github.com/pbuild/pbuild/internal/container/containertest"
)

func writeZipFile(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "toolchain.zip")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWriteBuildContext(t *testing.T) {
	fs := append([]containertest.ZipFile{}, toolchainFiles...)
	fs = append(fs,
		containertest.ZipFile{Name: "pkg/tool/linux_amd64/sub/notatool", Body: "x"}, // too deep for a tool
		containertest.ZipFile{Name: "bin/sub/notaprogram", Body: "x"},               // too deep for a program
		containertest.ZipFile{Name: "misc/"},                                        // a directory entry: skipped
	)
	zp := writeZipFile(t, containertest.ToolchainZip(t, testVersion, fs))
	var buf bytes.Buffer
	if err := writeBuildContext(context.Background(), &buf, zp); err != nil {
		t.Fatal(err)
	}
	items, err := containertest.ReadTar(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) == 0 || items[0].Name != "Dockerfile" {
		t.Fatalf("first entry = %+v, want Dockerfile", items)
	}
	if items[0].Body != string(images.ToolchainDockerfile()) || items[0].Mode != 0o644 || items[0].Type != tar.TypeReg {
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
		bodies["go/"+f.Name] = f.Body
	}
	seenDirs := map[string]bool{}
	gotFiles := map[string]int64{}
	for _, it := range items[1:] {
		switch it.Type {
		case tar.TypeDir:
			name := strings.TrimSuffix(it.Name, "/")
			if seenDirs[name] {
				t.Errorf("directory %s written twice", name)
			}
			if it.Mode != 0o755 {
				t.Errorf("directory %s mode %o, want 755", name, it.Mode)
			}
			if parent := path.Dir(name); parent != "." && !seenDirs[parent] {
				t.Errorf("directory %s comes before its parent", name)
			}
			seenDirs[name] = true
		case tar.TypeReg:
			if !seenDirs[path.Dir(it.Name)] {
				t.Errorf("file %s comes before its directory", it.Name)
			}
			gotFiles[it.Name] = it.Mode
			if it.Body != bodies[it.Name] {
				t.Errorf("%s = %q, want %q", it.Name, it.Body, bodies[it.Name])
			}
		default:
			t.Errorf("entry %s has type %c", it.Name, it.Type)
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
	if err := writeBuildContext(context.Background(), &first, zp); err != nil {
		t.Fatal(err)
	}
	if err := writeBuildContext(context.Background(), &again, zp); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), again.Bytes()) {
		t.Error("two build contexts of one zip differ")
	}
}

func TestWriteBuildContextErrors(t *testing.T) {
	if err := writeBuildContext(context.Background(), io.Discard, filepath.Join(t.TempDir(), "missing.zip")); err == nil || !strings.HasPrefix(err.Error(), "open toolchain zip: ") {
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
	err := writeBuildContext(context.Background(), io.Discard, writeZipFile(t, buf.Bytes()))
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

// fakeEngine is the engine the toolchain tests run against: a
// containertest.FakeImages whose only command is the toolchain probe,
// answered from canned output.
type fakeEngine struct {
	*containertest.FakeImages

	probe   string // stdout of the probe
	probeRC int
	probeSE string // stderr of the probe
}

func newEngine() *fakeEngine {
	f := &fakeEngine{FakeImages: &containertest.FakeImages{Images: map[string]string{testBase: "sha256:base"}}, probe: goodProbe}
	f.OnCopyTo = func(id, dir string, files map[string]string) error { return errors.New("unexpected CopyTo") }
	f.OnCopyFrom = func(id, p string) ([]byte, error) { return nil, errors.New("unexpected CopyFrom") }
	f.OnExec = func(ctx context.Context, id string, e container.Exec) (int, error) {
		if len(e.Cmd) == 3 && e.Cmd[0] == "sh" && e.Cmd[1] == "-c" && e.Cmd[2] == probeScript {
			io.WriteString(e.Stdout, f.probe)
			io.WriteString(e.Stderr, f.probeSE)
			return f.probeRC, nil
		}
		return 127, nil
	}
	return f
}

const goodProbe = "go version go1.24.4 linux/amd64\nlinux\namd64\nv1\ncc (Debian 12.2.0-14+deb12u1) 12.2.0\n"

const testBase = "pbuild/base:bookworm"

func newMaker(t *testing.T) (*Maker, *fakeEngine, *containertest.Proxy, string) {
	p, sum := goodProxy(t)
	eng := newEngine()
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
	if !reflect.DeepEqual(tc, want) {
		t.Errorf("Ensure =\n%+v\nwant\n%+v", tc, want)
	}
	builds := eng.Builds()
	if len(builds) != 1 {
		t.Fatalf("%d image builds, want 1", len(builds))
	}
	b := builds[0]
	if b.Tag != tag {
		t.Errorf("built %s, want %s", b.Tag, tag)
	}
	if !reflect.DeepEqual(b.Args, map[string]string{"BASE": testBase}) {
		t.Errorf("build args = %v, want BASE=%s", b.Args, testBase)
	}
	wantLabels := map[string]string{
		"org.pbuild.go":            testGo,
		"org.pbuild.toolchain":     testModule,
		"org.pbuild.toolchain.sum": sum,
		"org.pbuild.base":          testBase,
		"org.pbuild.base.id":       "sha256:base",
	}
	if !reflect.DeepEqual(b.Labels, wantLabels) {
		t.Errorf("labels = %v\nwant %v", b.Labels, wantLabels)
	}
	if b.ContextErr != nil || len(b.Context) == 0 || b.Context[0].Name != "Dockerfile" {
		t.Errorf("build context: %v, entries %v", b.ContextErr, b.Context)
	}
	var hasGo bool
	for _, it := range b.Context {
		if it.Name == "go/bin/go" && it.Mode == 0o755 {
			hasGo = true
		}
	}
	if !hasGo {
		t.Error("build context lacks an executable go/bin/go")
	}

	// The probe ran in the new image, in a labelled container that is gone.
	if specs := eng.Specs(); len(specs) != 1 || specs[0].Image != tag || specs[0].Step != "toolchain" || specs[0].Network || specs[0].Project != "/p/pbuild.yaml" {
		t.Errorf("containers = %+v, want one toolchain container of %s without network", specs, tag)
	}
	if removed := eng.Removed(); !reflect.DeepEqual(removed, []string{"c1"}) {
		t.Errorf("removed %v, want c1", removed)
	}
	wantSteps := []string{"fetch golang.org/toolchain@" + testVersion, "make image " + tag}
	if !reflect.DeepEqual(steps, wantSteps) {
		t.Errorf("steps = %q, want %q", steps, wantSteps)
	}
}

func TestEnsureReusesImage(t *testing.T) {
	m, eng, _, sum := newMaker(t)
	tag := ImageTag(testGo, "sha256:base", sum)
	eng.Images[tag] = "sha256:existing"
	var steps []string
	m.OnStep = func(s string) { steps = append(steps, s) }
	tc, err := m.Ensure(context.Background(), testSpec(sum))
	if err != nil {
		t.Fatal(err)
	}
	if builds := eng.Builds(); len(builds) != 0 {
		t.Errorf("built %d images for an existing tag", len(builds))
	}
	if tc.Image != tag || tc.ImageID != "sha256:existing" {
		t.Errorf("toolchain image %s (%s), want %s (sha256:existing)", tc.Image, tc.ImageID, tag)
	}
	if len(steps) != 2 || steps[1] != "reuse image "+tag {
		t.Errorf("steps = %q", steps)
	}
	if execs := eng.Execs(); len(execs) != 1 {
		t.Errorf("execs = %+v, want the probe only", execs)
	}

	// Another base image ID is another tag: the old image is not reused.
	eng.Images[testBase] = "sha256:newbase"
	tc2, err := m.Ensure(context.Background(), testSpec(sum))
	if err != nil {
		t.Fatal(err)
	}
	if tc2.Image == tag || len(eng.Builds()) != 1 {
		t.Errorf("after a base image change: image %s, %d builds; want a new tag built", tc2.Image, len(eng.Builds()))
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
			setup: func(eng *fakeEngine, f *Fetcher, spec *Spec) { delete(eng.Images, testBase) },
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
				clear(eng.Images) // every lookup fails
				eng.OnImageID = func(string) (string, error) { return "", errEngine }
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
			eng.CheckAllRemoved(t)
		})
	}
}

func TestEnsureProbeOtherPlatform(t *testing.T) {
	// On arm64 `go env GOAMD64` prints an empty line.
	m, eng, _, _ := newMaker(t)
	data := containertest.ToolchainZip(t, "v0.0.1-go1.24.4.linux-arm64", toolchainFiles)
	p := containertest.NewProxy(t)
	p.Serve("/arm/golang.org/toolchain/@v/v0.0.1-go1.24.4.linux-arm64.zip", data)
	m.Fetcher.Proxy = p.URL + "/arm"
	eng.probe = "go version go1.24.4 linux/arm64\nlinux\narm64\n\ngcc (Debian 12.2.0-14) 12.2.0\n"
	tc, err := m.Ensure(context.Background(), Spec{Go: testGo, Base: testBase, Sum: containertest.ZipSum(t, data), GOOS: "linux", GOARCH: "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	if tc.GOOS != "linux" || tc.GOARCH != "arm64" || tc.GOAMD64 != "" || tc.CC != "gcc (Debian 12.2.0-14) 12.2.0" || tc.Module != "golang.org/toolchain@v0.0.1-go1.24.4.linux-arm64" {
		t.Errorf("toolchain = %+v", tc)
	}
}

func TestEnsureKeepsProbeByImageID(t *testing.T) {
	m, eng, _, sum := newMaker(t)
	tag := ImageTag(testGo, "sha256:base", sum)
	eng.Images[tag] = "sha256:existing"
	first, err := m.Ensure(context.Background(), testSpec(sum))
	if err != nil {
		t.Fatal(err)
	}
	// The same image again: the kept probe answers, no container runs.
	eng.probe = "go version go1.24.4 linux/amd64\nlinux\namd64\nv9\nother cc\n"
	second, err := m.Ensure(context.Background(), testSpec(sum))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(second, first) || len(eng.Specs()) != 1 {
		t.Errorf("second Ensure = %+v after %d containers, want %+v from the kept probe", second, len(eng.Specs()), first)
	}
	// Another image ID (the image was made again): probed again.
	eng.Images[tag] = "sha256:remade"
	third, err := m.Ensure(context.Background(), testSpec(sum))
	if err != nil {
		t.Fatal(err)
	}
	if third.GOAMD64 != "v9" || third.CC != "other cc" || len(eng.Specs()) != 2 {
		t.Errorf("Ensure of a remade image = %+v after %d containers, want a new probe", third, len(eng.Specs()))
	}
	// A kept probe that no longer parses, or names another Go, is probed
	// again and replaced.
	kept := filepath.Join(m.Fetcher.CacheDir, "probes", "remade")
	for _, bad := range []string{"garbage", "go version go1.22.0 linux/amd64\nlinux\namd64\nv1\ncc\n"} {
		if err := os.WriteFile(kept, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		before := len(eng.Specs())
		if _, err := m.Ensure(context.Background(), testSpec(sum)); err != nil {
			t.Fatal(err)
		}
		if len(eng.Specs()) != before+1 {
			t.Errorf("kept probe %q: not probed again", bad)
		}
		if data, _ := os.ReadFile(kept); string(data) != eng.probe {
			t.Errorf("kept probe = %q, want the new one", data)
		}
	}
}
