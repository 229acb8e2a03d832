package builder

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/sumdb/dirhash"

	"github.com/pbuild/pbuild/config"
	"github.com/pbuild/pbuild/internal/container"
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

// execCall is one command the fake ran.
type execCall struct {
	container string
	cmd       []string
	dir       string
}

// fakeEngine is a builder.Engine that answers the toolchain probe, the
// resolve step and go build from canned output.
type fakeEngine struct {
	mu      sync.Mutex
	nextID  int
	specs   map[string]container.Spec // by container ID
	created []string
	removed []string
	// removeCtxErrs is what Remove saw of its context, per call.
	removeCtxErrs []error
	imageIDs      []string
	copies        map[string][]string // container ID -> regular file names copied in
	copyFroms     []string
	execs         []execCall

	// list is the stdout of `go list -m -json all`.
	list string
	// vendor is the tar stream CopyFrom /src/vendor returns.
	vendor []byte
	// buildFail maps an artifact's output file ("/out/plugins/hello.so")
	// to the exit code and output of its go build.
	buildFail map[string]failure
	// outFile, when set, gives the bytes of a built artifact; by default
	// artifacts are short text files.
	outFile func(name string) []byte
	// onBuild, when set, runs inside every go build before it returns; it
	// may block on ctx.
	onBuild func(ctx context.Context, out string) error
	// built records the -o of every successful go build.
	built []string
}

type failure struct {
	code   int
	output string
}

func newEngine(list string, vendor []byte) *fakeEngine {
	return &fakeEngine{
		specs:     map[string]container.Spec{},
		copies:    map[string][]string{},
		list:      list,
		vendor:    vendor,
		buildFail: map[string]failure{},
	}
}

func (f *fakeEngine) ImageID(ctx context.Context, ref string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.imageIDs = append(f.imageIDs, ref)
	switch {
	case ref == testBase:
		return "sha256:base", nil
	case strings.HasPrefix(ref, "pbuild/toolchain:go"+testGo+"-"):
		return "sha256:toolchain", nil
	}
	return "", fmt.Errorf("image %s: %w", ref, container.ErrNotFound)
}

func (f *fakeEngine) BuildImage(ctx context.Context, tag string, buildContext io.Reader, args, labels map[string]string) (string, error) {
	return "", errors.New("unexpected BuildImage: the toolchain image exists")
}

func (f *fakeEngine) Create(ctx context.Context, spec container.Spec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	id := fmt.Sprintf("c%d-%s", f.nextID, spec.Step)
	f.specs[id] = spec
	f.created = append(f.created, id)
	return id, nil
}

func (f *fakeEngine) Start(ctx context.Context, id string) error { return nil }

func (f *fakeEngine) CopyTo(ctx context.Context, id, dir string, r io.Reader) error {
	if dir != "/" {
		return fmt.Errorf("unexpected CopyTo %s", dir)
	}
	var names []string
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			names = append(names, hdr.Name)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.copies[id] = append(f.copies[id], names...)
	return nil
}

func (f *fakeEngine) CopyFrom(ctx context.Context, id, p string) (io.ReadCloser, error) {
	f.mu.Lock()
	f.copyFroms = append(f.copyFroms, id+":"+p)
	built := slices.Clone(f.built)
	f.mu.Unlock()
	switch p {
	case "/src/vendor":
		return io.NopCloser(bytes.NewReader(f.vendor)), nil
	case "/src/go.work.sum":
		return io.NopCloser(bytes.NewReader(tarOf(map[string][]byte{"go.work.sum": nil}))), nil
	case "/out":
		out := map[string][]byte{}
		for _, o := range built {
			name := strings.TrimPrefix(o, "/")
			if f.outFile != nil {
				out[name] = f.outFile(name)
			} else {
				out[name] = []byte("fake artifact " + name)
			}
		}
		return io.NopCloser(bytes.NewReader(tarOf(out))), nil
	}
	return nil, fmt.Errorf("copy %s: %w", p, container.ErrNotFound)
}

func (f *fakeEngine) Exec(ctx context.Context, id string, e container.Exec) (int, error) {
	f.mu.Lock()
	f.execs = append(f.execs, execCall{container: id, cmd: slices.Clone(e.Cmd), dir: e.Dir})
	f.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	out := e.Stdout
	if out == nil {
		out = io.Discard
	}
	switch {
	case len(e.Cmd) == 3 && e.Cmd[0] == "sh" && e.Cmd[1] == "-c" && strings.HasPrefix(e.Cmd[2], "go version"):
		io.WriteString(out, probeOutput)
		return 0, nil
	case strings.Join(e.Cmd, " ") == "go list -mod=readonly -m -json all":
		io.WriteString(out, f.list)
		return 0, nil
	case strings.Join(e.Cmd, " ") == "go work vendor",
		strings.Join(e.Cmd, " ") == "touch go.work.sum",
		e.Cmd[0] == "mkdir":
		return 0, nil
	case len(e.Cmd) > 2 && e.Cmd[0] == "go" && e.Cmd[1] == "build":
		o := outputOf(e.Cmd)
		if f.onBuild != nil {
			if err := f.onBuild(ctx, o); err != nil {
				return -1, err
			}
		}
		if fl, ok := f.buildFail[o]; ok {
			io.WriteString(out, fl.output)
			return fl.code, nil
		}
		f.mu.Lock()
		f.built = append(f.built, o)
		f.mu.Unlock()
		return 0, nil
	}
	return 127, nil
}

func (f *fakeEngine) Remove(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, id)
	f.removeCtxErrs = append(f.removeCtxErrs, ctx.Err())
	return nil
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
func (f *fakeEngine) goBuilds() []execCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []execCall
	for _, e := range f.execs {
		if len(e.cmd) > 1 && e.cmd[0] == "go" && e.cmd[1] == "build" {
			out = append(out, e)
		}
	}
	return out
}

// checkRemoved fails the test unless every container was removed once,
// with a live context.
func (f *fakeEngine) checkRemoved(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	created, removed := slices.Clone(f.created), slices.Clone(f.removed)
	slices.Sort(created)
	slices.Sort(removed)
	if !slices.Equal(created, removed) {
		t.Errorf("created containers %v, removed %v", f.created, f.removed)
	}
	for i, err := range f.removeCtxErrs {
		if err != nil {
			t.Errorf("container %s removed with a done context: %v", f.removed[i], err)
		}
	}
}

func tarOf(fs map[string][]byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(fs))
	for n := range fs {
		names = append(names, n)
	}
	slices.Sort(names)
	dirs := map[string]bool{}
	for _, n := range names {
		for d := path.Dir(n); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	var dirNames []string
	for d := range dirs {
		dirNames = append(dirNames, d)
	}
	slices.Sort(dirNames)
	for _, d := range dirNames {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755})
	}
	for _, n := range names {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o755, Size: int64(len(fs[n]))})
		tw.Write(fs[n])
	}
	tw.Close()
	return buf.Bytes()
}

// toolchainProxy serves a tiny golang.org/toolchain zip and returns the
// fetcher to use with it and the zip's h1 hash to pin.
func toolchainProxy(t *testing.T) (*toolchain.Fetcher, string, *atomic.Int32) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range map[string]string{
		"bin/go":                       "fake go",
		"pkg/tool/linux_amd64/compile": "fake compile",
		"VERSION":                      "go" + testGo + "\n",
	} {
		w, err := zw.Create(toolchain.ModulePath + "@" + testVersion + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zipFile := filepath.Join(t.TempDir(), "tc.zip")
	if err := os.WriteFile(zipFile, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := dirhash.HashZip(zipFile, dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Path != "/golang.org/toolchain/@v/"+testVersion+".zip" {
			http.NotFound(w, r)
			return
		}
		w.Write(buf.Bytes())
	}))
	t.Cleanup(srv.Close)
	var d net.Dialer
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, _ := net.SplitHostPort(addr)
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return nil, fmt.Errorf("test refuses to dial %s", addr)
			}
			return d.DialContext(ctx, network, addr)
		},
	}}
	f := &toolchain.Fetcher{Proxy: srv.URL, SumDB: "off", CacheDir: t.TempDir(), HTTP: client}
	return f, sum, &requests
}

// files is a file tree: slash path -> content.
type files map[string]string

func writeFiles(t *testing.T, root string, fs files) {
	t.Helper()
	for name, content := range fs {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// h1 is a well-formed, made-up module hash.
func h1(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "h1:" + base64.StdEncoding.EncodeToString(sum[:])
}

var (
	sumText21 = h1("text 0.21.0")
	sumText20 = h1("text 0.20.0")
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
			sum = "golang.org/x/text " + text + " " + s + "\ngolang.org/x/text " + text + "/go.mod " + h1("go.mod "+text) + "\n"
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
	root     string
	cfg      *config.Config
	eng      *fakeEngine
	opts     Options
	events   []Event
	sum      string
	tmp      string // Options.TempDir
	requests *atomic.Int32
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
	writeFiles(t, root, fs)
	fetcher, sum, requests := toolchainProxy(t)
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
		root:     root,
		cfg:      cfg,
		eng:      newEngine(greeterList, tarOf(map[string][]byte{"vendor/modules.txt": []byte("# golang.org/x/text v0.21.0\n")})),
		sum:      sum,
		tmp:      t.TempDir(),
		requests: requests,
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
		Log: io.Discard,
	}
	return s
}

// withMarker gives the output directory previous contents.
func (s *setup) withMarker(t *testing.T) {
	t.Helper()
	writeFiles(t, s.root, files{"dist/marker": "previous build\n", "dist/plugins/old.so": "old"})
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
		if err == nil && !d.IsDir() {
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
