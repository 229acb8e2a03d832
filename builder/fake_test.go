package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pbuild/pbuild/config"
	"github.com/pbuild/pbuild/internal/container"
	"github.com/pbuild/pbuild/internal/container/containertest"
	"github.com/pbuild/pbuild/internal/fsx"
	"github.com/pbuild/pbuild/internal/owner"
	"github.com/pbuild/pbuild/plan"
	"github.com/pbuild/pbuild/toolchain"
)

// This file holds the fakes the builder tests run against: a container
// engine that runs nothing, a module proxy serving a tiny toolchain, and a
// project laid out like examples/greeter.

const (
	testGo      = "1.24.4"
	testVersion = "v0.0.1-go1.24.4.linux-amd64"
	testBase    = "pbuild/base:bookworm"
	probeOutput = "go version go1.24.4 linux/amd64\nlinux\namd64\nv1\ncc (Debian 12.2.0) 12.2.0\n"
)

// fakeEngine is the container engine the builder tests run against: a
// containertest.FakeImages holding the base and toolchain images, whose
// only command answers the toolchain probe.
type fakeEngine struct {
	*containertest.FakeImages
}

func newEngine() *fakeEngine {
	f := &fakeEngine{FakeImages: &containertest.FakeImages{}}
	f.Images = map[string]string{testBase: "sha256:base"}
	f.OnImageID = func(ref string) (string, error) {
		if strings.HasPrefix(ref, "pbuild/toolchain:go"+testGo+"-") {
			return "sha256:toolchain", nil
		}
		return "", fmt.Errorf("image %s: %w", ref, container.ErrNotFound)
	}
	f.OnBuildImage = func(containertest.Build) (string, error) {
		return "", errors.New("unexpected BuildImage: the toolchain image exists")
	}
	f.OnExec = func(ctx context.Context, id string, e container.Exec) (int, error) {
		if len(e.Cmd) == 3 && e.Cmd[0] == "sh" && e.Cmd[1] == "-c" && strings.HasPrefix(e.Cmd[2], "go version") {
			io.WriteString(e.Stdout, probeOutput)
			return 0, nil
		}
		return 127, nil
	}
	return f
}

// fakeBackend is the Backend the builder tests run against: its resolve
// lists list and vendors vendor, its compile writes every unit's file
// (outFile's bytes, or a short text) unless told the unit fails.
type fakeBackend struct {
	list   string
	vendor map[string]string // file below vendor/ -> content
	// fail maps a unit's file ("plugins/hello.so") to the exit code and
	// output of its go build.
	fail map[string]failure
	// outFile, when set, gives the bytes of a built artifact.
	outFile func(file string) []byte
	// onBuild, when set, runs for every unit before it is built; it may
	// block on ctx.
	onBuild func(ctx context.Context, file string) error
	// keep lists the files of Previous the fake finds up to date: it
	// reports them kept and does not write them.
	keep map[string]bool

	mu       sync.Mutex
	staged   []string // the staged files the first resolve saw
	resolves []ResolveRequest
	compiles []CompileRequest
	built    []Unit // in the order they were built
	// unstamped are the staged files the first compile saw whose time is
	// not the one their content decides (fsx.ContentTime).
	unstamped []string
}

type failure struct {
	code   int
	output string
}

func newBackend(list string) *fakeBackend {
	return &fakeBackend{list: list, vendor: map[string]string{"modules.txt": "# golang.org/x/text v0.21.0\n"}, fail: map[string]failure{}}
}

func (b *fakeBackend) Name() string { return "fake" }

func (b *fakeBackend) Resolve(ctx context.Context, r ResolveRequest) (*ResolveOutput, error) {
	staged := listFiles(r.Stage)
	b.mu.Lock()
	b.resolves = append(b.resolves, r)
	if b.staged == nil {
		b.staged = staged
	}
	b.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	files := map[string]string{"go.work.sum": ""}
	for k, v := range b.vendor {
		files["vendor/"+k] = v
	}
	for name, content := range files {
		if err := writeStaged(r.Stage, name, []byte(content)); err != nil {
			return nil, err
		}
	}
	return &ResolveOutput{List: []byte(b.list)}, nil
}

func (b *fakeBackend) Compile(ctx context.Context, r CompileRequest) (*CompileOutput, error) {
	b.mu.Lock()
	if b.compiles == nil {
		b.unstamped = unstampedFiles(r.Stage)
	}
	b.compiles = append(b.compiles, r)
	b.mu.Unlock()
	var out CompileOutput
	for _, phase := range r.Phases {
		var errs []error
		for _, u := range phase {
			f := u.Target.File()
			if b.onBuild != nil {
				if err := b.onBuild(ctx, f); err != nil {
					return nil, err
				}
			}
			b.mu.Lock()
			b.built = append(b.built, u)
			b.mu.Unlock()
			if fl, ok := b.fail[f]; ok {
				errs = append(errs, &CompileError{Name: u.Target.Name, Kind: string(u.Target.Kind), Code: fl.code, Output: fl.output})
				continue
			}
			if _, given := r.Previous[f]; given && b.keep[f] {
				out.Kept = append(out.Kept, f)
				continue
			}
			data := []byte("fake artifact " + f)
			if b.outFile != nil {
				data = b.outFile(f)
			}
			if err := writeStaged(r.Out, f, data); err != nil {
				return nil, err
			}
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}
	return &out, nil
}

// builtFiles are the files of the units the fake built, in order.
func (b *fakeBackend) builtFiles() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, u := range b.built {
		out = append(out, u.Target.File())
	}
	return out
}

// toolchainProxy serves a tiny golang.org/toolchain zip and returns the
// fetcher to use with it, the zip's h1 hash to pin and the proxy.
func toolchainProxy(t *testing.T) (*toolchain.Fetcher, string, *containertest.Proxy) {
	t.Helper()
	data := containertest.ToolchainZip(t, testVersion, []containertest.ZipFile{
		{Name: "bin/go", Body: "fake go"},
		{Name: "pkg/tool/linux_amd64/compile", Body: "fake compile"},
		{Name: "VERSION", Body: "go" + testGo + "\n"},
	})
	p := containertest.NewProxy(t)
	p.Serve("/golang.org/toolchain/@v/"+testVersion+".zip", data)
	f := &toolchain.Fetcher{Proxy: p.URL, SumDB: "off", CacheDir: t.TempDir(), HTTP: containertest.LoopbackClient()}
	return f, containertest.ZipSum(t, data), p
}

// files is a file tree: slash path -> content.
type files map[string]string

var (
	sumText21 = containertest.FakeSum("text 0.21.0")
	sumText20 = containertest.FakeSum("text 0.20.0")
)

func mainGo(name string) string {
	return "package main\n\n// " + name + "\nfunc main() {}\n"
}

// greeterProject is a project like examples/greeter: an api module, a host
// and three plugins, each in its own module replacing the api with a
// relative path.
func greeterProject() files {
	plugin := func(name, text string) files {
		req := "require example.com/greeter/api v0.0.0\n"
		sum := ""
		if text != "" {
			req = "require (\n\texample.com/greeter/api v0.0.0\n\tgolang.org/x/text " + text + "\n)\n"
			s := sumText21
			if text == "v0.20.0" {
				s = sumText20
			}
			sum = "golang.org/x/text " + text + " " + s + "\ngolang.org/x/text " + text + "/go.mod " + containertest.FakeSum("go.mod "+text) + "\n"
		}
		fs := files{
			"plugins/" + name + "/go.mod":  "module example.com/greeter/plugins/" + name + "\n\ngo 1.24\n\n" + req + "\nreplace example.com/greeter/api => ../../api\n",
			"plugins/" + name + "/main.go": mainGo(name),
		}
		if sum != "" {
			fs["plugins/"+name+"/go.sum"] = sum
		}
		return fs
	}
	fs := files{
		"api/go.mod":   "module example.com/greeter/api\n\ngo 1.24\n",
		"api/api.go":   "package api\n",
		"host/go.mod":  "module example.com/greeter/host\n\ngo 1.24\n\nrequire (\n\texample.com/greeter/api v0.0.0\n\tgolang.org/x/text v0.21.0\n)\n\nreplace example.com/greeter/api => ../api\n",
		"host/go.sum":  "golang.org/x/text v0.21.0 " + sumText21 + "\n",
		"host/main.go": mainGo("greeter"),
	}
	for _, p := range []files{plugin("count", ""), plugin("hello", "v0.20.0"), plugin("shout", "v0.21.0")} {
		for k, v := range p {
			fs[k] = v
		}
	}
	return fs
}

// greeterList is `go list -m -json all` for greeterProject.
const greeterList = `{"Path": "example.com/greeter/api", "Main": true, "Dir": "/src/api"}
{"Path": "example.com/greeter/host", "Main": true, "Dir": "/src/host"}
{"Path": "example.com/greeter/plugins/count", "Main": true, "Dir": "/src/plugins/count"}
{"Path": "example.com/greeter/plugins/hello", "Main": true, "Dir": "/src/plugins/hello"}
{"Path": "example.com/greeter/plugins/shout", "Main": true, "Dir": "/src/plugins/shout"}
{"Path": "golang.org/x/text", "Version": "v0.21.0", "Dir": "/go/pkg/mod/golang.org/x/text@v0.21.0"}
`

const greeterYAML = `version: 1
toolchain:
  go: 1.24.4
  base: pbuild/base:bookworm
  sum: %s
host: { name: greeter, path: ./host }
plugins:
  - { name: count, path: ./plugins/count }
  - { name: hello, path: ./plugins/hello }
  - { name: shout, path: ./plugins/shout }
build:
  tags: [netgo, extra]
  ldflags: "-s -w"
  env: { GOAMD64: v3, CGO_CFLAGS: "-O2" }
output: dist
`

// setup is one project with its fakes.
type setup struct {
	root   string
	cfg    *config.Config
	eng    *fakeEngine
	be     *fakeBackend
	opts   Options
	events []Event
	sum    string
	tmp    string // Options.TempDir
	proxy  *containertest.Proxy
}

// newSetup writes the project (greeterProject with extra files), parses
// yamlText (with %s standing for the pinned toolchain sum) and wires the
// fakes.
func newSetup(t *testing.T, extra files, yamlText string) *setup {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	fs := greeterProject()
	for k, v := range extra {
		fs[k] = v
	}
	containertest.WriteFiles(t, root, fs)
	fetcher, sum, proxy := toolchainProxy(t)
	data := fmt.Sprintf(yamlText, sum)
	cfgFile := filepath.Join(root, config.FileName)
	if err := os.WriteFile(cfgFile, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(cfgFile, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	s := &setup{
		root:  root,
		cfg:   cfg,
		eng:   newEngine(),
		be:    newBackend(greeterList),
		sum:   sum,
		tmp:   t.TempDir(),
		proxy: proxy,
	}
	var mu sync.Mutex
	s.opts = Options{
		Engine:     s.eng,
		Backend:    s.be,
		Fetcher:    fetcher,
		Platform:   plan.Platform{OS: "linux", Arch: "amd64"},
		ResolveEnv: []string{"GOPROXY=https://proxy.corp.example", "GOFLAGS=-mod=mod"},
		TempDir:    s.tmp,
		OnEvent: func(e Event) {
			mu.Lock()
			defer mu.Unlock()
			s.events = append(s.events, e)
		},
		Self: self(t),
	}
	return s
}

// withMarker gives the output directory previous contents, as an earlier
// pbuild made them.
func (s *setup) withMarker(t *testing.T) {
	t.Helper()
	containertest.WriteFiles(t, s.root, files{"dist/marker": "previous build\n", "dist/plugins/old.so": "old"})
	if err := owner.Mark(filepath.Join(s.root, "dist"), s.opts.Self, []string{"marker", "plugins/old.so"}); err != nil {
		t.Fatal(err)
	}
}

// checkOutputUntouched fails unless the output directory holds exactly what
// withMarker put there and no temporary directory is left beside it or in
// TempDir.
func (s *setup) checkOutputUntouched(t *testing.T) {
	t.Helper()
	for name, want := range map[string]string{"dist/marker": "previous build\n", "dist/plugins/old.so": "old"} {
		data, err := os.ReadFile(filepath.Join(s.root, filepath.FromSlash(name)))
		if err != nil || string(data) != want {
			t.Errorf("%s = %q, %v; want %q", name, data, err, want)
		}
	}
	var all []string
	filepath.WalkDir(filepath.Join(s.root, "dist"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() != owner.MarkerFile {
			rel, _ := filepath.Rel(s.root, p)
			all = append(all, filepath.ToSlash(rel))
		}
		return nil
	})
	if len(all) != 2 {
		t.Errorf("output directory holds %v, want only its previous contents", all)
	}
	s.checkNoTemp(t)
}

func (s *setup) checkNoTemp(t *testing.T) {
	t.Helper()
	entries, err := os.ReadDir(s.root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".dist.pbuild-") || strings.Contains(e.Name(), "pbuild-") {
			t.Errorf("temporary %s left beside the output directory", e.Name())
		}
	}
	if left, _ := os.ReadDir(s.tmp); len(left) != 0 {
		t.Errorf("staging left %d entries in TempDir: %v", len(left), left[0].Name())
	}
}

// self is the test process's owner ID.
func self(t *testing.T) owner.ID {
	t.Helper()
	id, err := owner.Self()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// listFiles lists the regular files below dir, slash paths, sorted.
// unstampedFiles lists the files below dir whose modification time is
// not their content time.
func unstampedFiles(dir string) []string {
	var out []string
	for _, rel := range listFiles(dir) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		want, err := fsx.FileContentTime(p)
		fi, serr := os.Stat(p)
		if err != nil || serr != nil || !fi.ModTime().Equal(want) {
			out = append(out, rel)
		}
	}
	return out
}

func listFiles(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(out)
	return out
}
