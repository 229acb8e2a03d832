package resolve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/semver"

	"github.com/pbuild/pbuild/internal/archive"
	"github.com/pbuild/pbuild/internal/container"
	"github.com/pbuild/pbuild/manifests"
)

// ModCacheVolume is the engine volume that keeps downloaded modules between
// builds.
const ModCacheVolume = "pbuild-gomodcache"

// CABundlePath is where the forwarded CA bundle is placed in the container.
const CABundlePath = "/etc/pbuild/ca-certificates.crt"

// Resolver runs the resolve step in the toolchain image.
type Resolver struct {
	Engine container.Engine
	Image  string
	// Project and Owner label the container (see container.Spec).
	Project string
	Owner   string
	// Env is forwarded into the container: GOPROXY, GOPRIVATE, GONOSUMDB,
	// GOSUMDB, GOFLAGS, proxies (KEY=VALUE).
	Env []string
	// CABundle, when set, is installed in the container and named by
	// SSL_CERT_FILE, so TLS works behind an intercepting proxy.
	CABundle []byte
	// Log receives the go command's output.
	Log io.Writer
	// Constraints, when set, are a released host's versions the build list
	// must keep to (pbuild build --against).
	Constraints *Constraints
}

// Result is the resolved build list.
type Result struct {
	Modules []manifests.Module // every module of the build list, sorted by path
	Raised  []Raised
}

// Raised is a requirement that minimal version selection raised.
type Raised struct {
	Module    string   // the requiring local module
	Artifacts []string // "plugin hello", "host greeter": artifacts in that module
	Dep       string
	Asked     string
	Got       string
}

func (r Raised) String() string {
	who := "module " + r.Module
	if len(r.Artifacts) > 0 {
		who = strings.Join(r.Artifacts, ", ")
	}
	return fmt.Sprintf("%s asks %s %s, builds with %s", who, r.Dep, r.Asked, r.Got)
}

// Error is a failure of the go command while resolving.
type Error struct {
	Step   string
	Code   int
	Output string
}

func (e *Error) Error() string {
	return fmt.Sprintf("resolve: %s failed (exit %d):\n%s", e.Step, e.Code, strings.TrimSpace(e.Output))
}

// Hint tells the user what to do.
func (e *Error) Hint() string {
	if strings.Contains(e.Output, "missing go.sum entry") || strings.Contains(e.Output, "updates to go.mod needed") {
		return "run `go mod tidy` in the module named above and commit go.mod and go.sum; pbuild never edits your files"
	}
	if strings.Contains(e.Output, "no space left on device") {
		return "the Docker engine's disk is full: free space there (docker system df) and build again"
	}
	if strings.Contains(e.Output, "certificate") {
		return "the container cannot verify TLS: set SSL_CERT_FILE to your CA bundle (pbuild forwards it)"
	}
	if strings.Contains(e.Output, "requires go >=") {
		return "a module needs a newer Go than toolchain.go: raise toolchain.go in the config"
	}
	return "fix the module problem reported by the go command above"
}

// Run resolves the staged workspace in dir: it lists the build list and
// vendors it into dir/vendor, in a container that may use the network.
func (r *Resolver) Run(ctx context.Context, ws *Workspace, dir string) (*Result, error) {
	env := append([]string{"GOWORK=/src/go.work", "GOTOOLCHAIN=local", "GOTELEMETRY=off"}, r.Env...)
	if len(r.CABundle) > 0 {
		env = append(env, "SSL_CERT_FILE="+CABundlePath)
	}
	var list bytes.Buffer
	err := container.Use(ctx, r.Engine, container.Spec{
		Image:   r.Image,
		Step:    "resolve",
		Project: r.Project,
		Owner:   r.Owner,
		Env:     env,
		Network: true,
		Mounts:  []container.Mount{{Volume: ModCacheVolume, Target: "/go/pkg/mod"}},
	}, func(c *container.Container) error {
		if err := r.copyIn(ctx, c, dir); err != nil {
			return err
		}
		run := func(name string, out io.Writer, cmd ...string) error {
			var errOut bytes.Buffer
			code, err := c.Exec(ctx, container.Exec{Cmd: cmd, Dir: "/src", Stdout: out, Stderr: io.MultiWriter(&errOut, orDiscard(r.Log))})
			if err != nil {
				return err
			}
			if code != 0 {
				return &Error{Step: name, Code: code, Output: errOut.String()}
			}
			return nil
		}
		listCmd := []string{"go", "list", "-mod=readonly", "-m", "-json", "all"}
		if err := run("go list -m all", &list, listCmd...); err != nil {
			return err
		}
		if r.Constraints != nil {
			if err := r.constrain(ctx, c, run, &list); err != nil {
				return err
			}
		}
		if err := run("go work vendor", r.Log, "go", "work", "vendor"); err != nil {
			return err
		}
		if err := run("go.work.sum", r.Log, "touch", "go.work.sum"); err != nil {
			return err
		}
		back := []string{"/src/vendor", "/src/go.work.sum"}
		if r.Constraints != nil {
			// The pins module and its place in go.work, when used.
			back = append(back, "/src/go.work", "/src/"+PinsDir)
		}
		for _, p := range back {
			if err := copyOut(ctx, c, p, dir); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return Finish(ws, dir, list.Bytes(), r.Constraints)
}

// Finish turns the output of `go list -m -json all` into the result, once
// dir, the staged workspace, holds its vendor directory and go.work.sum:
// the build list with sums, checked against constraints when set, and the
// raised requirements. Both backends end a resolve with it.
func Finish(ws *Workspace, dir string, list []byte, constraints *Constraints) (*Result, error) {
	listed, err := ParseBuildList(list)
	if err != nil {
		return nil, err
	}
	sums, err := readSums(dir, ws)
	if err != nil {
		return nil, err
	}
	mods, err := BuildList(listed, ws, dir, sums)
	if err != nil {
		return nil, err
	}
	if constraints != nil {
		if err := constraints.checkSums(mods); err != nil {
			return nil, err
		}
	}
	return &Result{Modules: mods, Raised: RaisedRequirements(ws, listed)}, nil
}

// constrain keeps the build list to the host's versions: it fails closed
// on a module the plugins need newer than the host has, and raises older
// ones to the host's through the pins module; list is then listed again.
func (r *Resolver) constrain(ctx context.Context, c *container.Container, run func(string, io.Writer, ...string) error, list *bytes.Buffer) error {
	pins := map[string]string{}
	graph := func() ([]byte, error) {
		var g bytes.Buffer
		err := run("go mod graph", &g, "go", "mod", "graph")
		return g.Bytes(), err
	}
	for round := 0; ; round++ {
		mod, err := r.Constraints.Round(round, list.Bytes(), pins, graph)
		if err != nil || mod == nil {
			return err
		}
		if err := c.CopyTo(ctx, "/src", fileTar(PinsDir+"/go.mod", mod)); err != nil {
			return err
		}
		if round == 0 {
			if err := run("go work use", r.Log, "go", "work", "use", "./"+PinsDir); err != nil {
				return err
			}
		}
		list.Reset()
		if err := run("go list -m all", list, "go", "list", "-mod=readonly", "-m", "-json", "all"); err != nil {
			return err
		}
	}
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

func (r *Resolver) copyIn(ctx context.Context, c *container.Container, dir string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.WriteDir(pw, dir, "src")) }()
	err := c.CopyTo(ctx, "/", pr)
	pr.Close()
	if err != nil {
		return err
	}
	if len(r.CABundle) > 0 {
		return c.CopyTo(ctx, "/", caTar(r.CABundle))
	}
	return nil
}

func copyOut(ctx context.Context, c *container.Container, p, dir string) error {
	rc, err := c.CopyFrom(ctx, p)
	if err != nil {
		if errors.Is(err, container.ErrNotFound) && (strings.HasSuffix(p, "vendor") || strings.HasSuffix(p, PinsDir)) {
			return nil // nothing to vendor, or nothing to raise
		}
		return err
	}
	defer rc.Close()
	if err := archive.Extract(rc, dir, ""); err != nil {
		return fmt.Errorf("copy %s out: %w", p, err)
	}
	return nil
}

// Listed is one module as `go list -m -json` prints it.
type Listed struct {
	Path    string
	Version string
	Main    bool
	Dir     string
	Replace *Listed
}

// ParseBuildList decodes the JSON stream of `go list -m -json all`.
func ParseBuildList(data []byte) ([]Listed, error) {
	var out []Listed
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		var m Listed
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("parse build list: %w", err)
		}
		out = append(out, m)
	}
}

// readSums reads every go.sum of the staged workspace and its go.work.sum
// into "path version" -> h1 hash (of the zip; go.mod hashes are skipped).
func readSums(dir string, ws *Workspace) (map[string]string, error) {
	sums := map[string]string{}
	files := []string{filepath.Join(dir, "go.work.sum")}
	for _, m := range ws.Modules {
		files = append(files, filepath.Join(dir, filepath.FromSlash(m.Rel), "go.sum"))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) != 3 || strings.HasSuffix(fields[1], "/go.mod") {
				continue
			}
			sums[fields[0]+" "+fields[1]] = fields[2]
		}
	}
	return sums, nil
}

// BuildList turns the listed modules into manifest modules with sums: a
// directory hash for local (workspace) modules, the go.sum hash for others.
func BuildList(listed []Listed, ws *Workspace, stagedRoot string, sums map[string]string) ([]manifests.Module, error) {
	local := map[string]*Module{}
	for _, m := range ws.Modules {
		local[m.StagedPath] = m
	}
	var out []manifests.Module
	for _, l := range listed {
		mm := manifests.Module{Path: l.Path, Version: l.Version}
		switch {
		case l.Main && l.Path == PinsModule:
			continue
		case l.Main:
			m, ok := local[l.Path]
			if !ok {
				return nil, fmt.Errorf("build list: workspace module %s is unknown", l.Path)
			}
			h, err := DirHash(stagedRoot, m)
			if err != nil {
				return nil, err
			}
			mm.Sum, mm.Local, mm.Dir = h, true, m.Rel
		case l.Replace != nil && l.Replace.Version == "":
			// A directory replacement outside the workspace cannot happen:
			// every local replacement is a workspace module.
			return nil, fmt.Errorf("build list: %s is replaced by directory %s outside the workspace", l.Path, l.Replace.Path)
		default:
			key := l.Path + " " + l.Version
			if l.Replace != nil {
				mm.Replace = l.Replace.Path + "@" + l.Replace.Version
				key = l.Replace.Path + " " + l.Replace.Version
			}
			sum, ok := sums[key]
			if !ok {
				// A module in the graph that provides no package has only
				// a go.mod hash; it is not linked into anything.
				continue
			}
			mm.Sum = sum
		}
		out = append(out, mm)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// RaisedRequirements lists every requirement of a local module that the
// build list satisfies with a higher version.
func RaisedRequirements(ws *Workspace, listed []Listed) []Raised {
	selected := map[string]string{}
	for _, l := range listed {
		if !l.Main {
			selected[l.Path] = effective(l) // a replacement's version is what builds
		}
	}
	artifacts := map[string][]string{}
	for _, p := range ws.Packages {
		artifacts[p.Module.Path] = append(artifacts[p.Module.Path], p.Kind+" "+p.Name)
	}
	var out []Raised
	for _, m := range ws.Modules {
		for _, req := range m.File.Require {
			got, ok := selected[req.Mod.Path]
			if !ok || semver.Compare(got, req.Mod.Version) <= 0 {
				continue
			}
			out = append(out, Raised{Module: m.Path, Artifacts: artifacts[m.Path], Dep: req.Mod.Path, Asked: req.Mod.Version, Got: got})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Module != out[j].Module {
			return out[i].Module < out[j].Module
		}
		return out[i].Dep < out[j].Dep
	})
	return out
}
