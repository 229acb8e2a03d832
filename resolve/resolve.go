package resolve

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/semver"

	"github.com/pbuild/pbuild/manifests"
)

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
	// By module, not module path: two copies of one plugin module (two
	// versions side by side) have one path.
	artifacts := map[*Module][]string{}
	for _, p := range ws.Packages {
		artifacts[p.Module] = append(artifacts[p.Module], p.Target.String())
	}
	var out []Raised
	for _, m := range ws.Modules {
		for _, req := range m.File.Require {
			got, ok := selected[req.Mod.Path]
			if !ok || semver.Compare(got, req.Mod.Version) <= 0 {
				continue
			}
			out = append(out, Raised{Module: m.Path, Artifacts: artifacts[m], Dep: req.Mod.Path, Asked: req.Mod.Version, Got: got})
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
