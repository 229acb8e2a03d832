package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	"github.com/pbuild/pbuild/internal/owner"
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
// commands answer the toolchain probe, the resolve step and go build from
// canned output.
type fakeEngine struct {
	*containertest.FakeImages

	// list is the stdout of `go list -m -json all`.
	list string
	// buildFail maps an artifact's output file ("/out/plugins/hello.so")
	// to the exit code and output of its go build.
	buildFail map[string]failure
	// outFile, when set, gives the bytes of a built artifact; by default
	// artifacts are short text files.
	outFile func(name string) []byte
	// onBuild, when set, runs inside every go build before it returns; it
	// may block on ctx.
	onBuild func(ctx context.Context, out string) error

	// keep lists the outputs ("/out/greeter") the fake go build finds up
	// to date when they were given: it does not link them again.
	keep map[string]bool
	// tamper lists the outputs whose bytes in the container differ from
	// what was copied in, though their inode did not change.
	tamper map[string]bool

	mu sync.Mutex
	// built records the -o of every successful go build.
	built []string
	// linked are the outputs written by a link (a new inode), removed the
	// ones rm removed, by container ID and output ("c3 /out/greeter").
	linked, removed map[string]bool
	// made are the directories mkdir made, by container ID and path.
	made map[string]bool
}

type failure struct {
	code   int
	output string
}

// newEngine is a fakeEngine whose go list prints list and whose /src/vendor
// is the tar stream vendor.
func newEngine(list string, vendor []byte) *fakeEngine {
	f := &fakeEngine{FakeImages: &containertest.FakeImages{}, list: list, buildFail: map[string]failure{}, linked: map[string]bool{}, removed: map[string]bool{}, made: map[string]bool{}}
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
	f.OnCopyTo = func(id, dir string, files map[string]string) error {
		if dir != "/" {
			return fmt.Errorf("unexpected CopyTo %s", dir)
		}
		return nil
	}
	f.Tars = map[string][]byte{
		"/src/vendor":      vendor,
		"/src/go.work.sum": containertest.Tar(map[string]string{"go.work.sum": ""}),
	}
	f.OnCopyFrom = f.copyOut
	f.OnExec = f.exec
	return f
}

// copyOut serves /out: the artifacts built so far.
func (f *fakeEngine) copyOut(id, p string) ([]byte, error) {
	if p != "/out" {
		return nil, fmt.Errorf("copy %s: %w", p, container.ErrNotFound)
	}
	f.mu.Lock()
	built := slices.Clone(f.built)
	f.mu.Unlock()
	out := map[string]string{}
	for _, o := range built {
		f.mu.Lock()
		removed := f.removed[id+" "+o]
		f.mu.Unlock()
		if removed {
			continue
		}
		name := strings.TrimPrefix(o, "/")
		if f.outFile != nil {
			out[name] = string(f.outFile(name))
		} else {
			out[name] = "fake artifact " + name
		}
	}
	return containertest.Tar(out), nil
}

func (f *fakeEngine) exec(ctx context.Context, id string, e container.Exec) (int, error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	switch {
	case len(e.Cmd) == 3 && e.Cmd[0] == "sh" && e.Cmd[1] == "-c" && strings.HasPrefix(e.Cmd[2], "go version"):
		io.WriteString(e.Stdout, probeOutput)
		return 0, nil
	case strings.Join(e.Cmd, " ") == "go list -mod=readonly -m -json all":
		io.WriteString(e.Stdout, f.list)
		return 0, nil
	case e.Cmd[0] == "cp" && strings.Join(e.Cmd[:4], " ") == "cp -l --parents --" && e.Dir == "/":
		// Pins: made when their file was copied in and the target
		// directory exists, as with GNU cp.
		f.mu.Lock()
		made := f.made[id+" "+e.Cmd[len(e.Cmd)-1]]
		f.mu.Unlock()
		if !made {
			return 1, nil
		}
		copied := f.Copied(id)
		for _, o := range e.Cmd[4 : len(e.Cmd)-1] {
			if _, ok := copied["/"+o]; !ok {
				return 1, nil
			}
		}
		return 0, nil
	case e.Cmd[0] == "stat" && len(e.Cmd) > 4 && e.Cmd[3] == "--":
		// A pin keeps inode 1; an output keeps it unless it was linked.
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, o := range e.Cmd[4:] {
			ino := "1"
			if f.linked[id+" "+o] {
				ino = "2"
			}
			fmt.Fprintf(e.Stdout, "%s %s\n", ino, o)
		}
		return 0, nil
	case e.Cmd[0] == "sha256sum" && len(e.Cmd) > 2 && e.Cmd[1] == "--":
		// The sum of what was copied in, or of a tampered file.
		copied := f.Copied(id)
		for _, o := range e.Cmd[2:] {
			sum := sha256.Sum256([]byte(copied[o]))
			if f.tamper[o] {
				sum[0] ^= 1
			}
			fmt.Fprintf(e.Stdout, "%s  %s\n", hex.EncodeToString(sum[:]), o)
		}
		return 0, nil
	case e.Cmd[0] == "rm" && len(e.Cmd) > 3 && e.Cmd[2] == "--":
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, o := range e.Cmd[3:] {
			f.removed[id+" "+o] = true
		}
		return 0, nil
	case e.Cmd[0] == "mkdir":
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, d := range e.Cmd[1:] {
			f.made[id+" "+d] = true
		}
		return 0, nil
	case strings.Join(e.Cmd, " ") == "go work vendor",
		strings.Join(e.Cmd, " ") == "touch go.work.sum":
		return 0, nil
	case len(e.Cmd) > 2 && e.Cmd[0] == "go" && e.Cmd[1] == "build":
		o := outputOf(e.Cmd)
		if f.onBuild != nil {
			if err := f.onBuild(ctx, o); err != nil {
				return -1, err
			}
		}
		if fl, ok := f.buildFail[o]; ok {
			io.WriteString(e.Stdout, fl.output)
			return fl.code, nil
		}
		f.mu.Lock()
		f.built = append(f.built, o)
		if !f.keep[o] {
			f.linked[id+" "+o] = true
		}
		f.mu.Unlock()
		return 0, nil
	}
	return 127, nil
}

// outputOf is the -o argument of a go build command line.
func outputOf(args []string) string {
	for i, a := range args {
		if a == "-o" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// goBuilds are the go build commands the fake ran.
func (f *fakeEngine) goBuilds() []containertest.ExecCall {
	var out []containertest.ExecCall
	for _, e := range f.Execs() {
		if len(e.Cmd) > 1 && e.Cmd[0] == "go" && e.Cmd[1] == "build" {
			out = append(out, e)
		}
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
		eng:   newEngine(greeterList, containertest.Tar(map[string]string{"vendor/modules.txt": "# golang.org/x/text v0.21.0\n"})),
		sum:   sum,
		tmp:   t.TempDir(),
		proxy: proxy,
	}
	var mu sync.Mutex
	s.opts = Options{
		Engine:     s.eng,
		Fetcher:    fetcher,
		GOOS:       "linux",
		GOARCH:     "amd64",
		ResolveEnv: []string{"GOPROXY=https://proxy.corp.example", "GOFLAGS=-mod=mod"},
		TempDir:    s.tmp,
		OnEvent: func(e Event) {
			mu.Lock()
			defer mu.Unlock()
			s.events = append(s.events, e)
		},
		Log:  io.Discard,
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
