package check

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbuild/pbuild/loader/abi"
	"github.com/pbuild/pbuild/manifests"
)

func file(path string, plugin bool, goVersion string, pkgs map[string]string, deps map[string]string) *abi.File {
	mode := "exe"
	if plugin {
		mode = "plugin"
	}
	return &abi.File{Path: path, Class: elf.ELFCLASS64, Machine: elf.EM_X86_64, Plugin: plugin, PluginPath: "example.com/" + path,
		Packages: pkgs, GoVersion: goVersion, Deps: deps,
		Settings: map[string]string{"-buildmode": mode, "-trimpath": "true", "GOOS": "linux", "GOARCH": "amd64", "GOAMD64": "v1"}}
}

func result(host *abi.File, plugins ...*abi.File) *Result {
	return &Result{Host: host, Plugins: plugins, Report: abi.Check(host, plugins, abi.Options{})}
}

func TestRender(t *testing.T) {
	host := file("dist/greeter", false, "go1.24.4", map[string]string{"runtime": "r1", "golang.org/x/text/cases": "t1"}, map[string]string{"golang.org/x/text": "v0.21.0"})
	good := file("good.so", true, "go1.24.4", map[string]string{"runtime": "r1"}, nil)
	skewed := file("skewed.so", true, "go1.26.8", map[string]string{"runtime": "r2", "golang.org/x/text/cases": "t2"}, map[string]string{"golang.org/x/text": "v0.20.0"})
	r := result(host, skewed, good)
	var b bytes.Buffer
	Render(&b, r)
	want := `host    dist/greeter  (go1.24.4, linux/amd64 v1)
FAIL    skewed.so
  plugin was built with a different version of 2 packages than the host
  (loading it can kill the host: fatal error: runtime: no plugin module data)
  toolchain:
    have: go1.26.8 (plugin)
    want: go1.24.4 (host)
  golang.org/x/text:
    have: v0.20.0 (plugin)
    want: v0.21.0 (host)
  packages: runtime, golang.org/x/text/cases
  fix: rebuild the plugin with go1.24.4, the exact toolchain of the host (toolchain.go in pbuild.yaml); build the plugin with golang.org/x/text v0.21.0 (go get golang.org/x/text@v0.21.0)
NEVER   good.so
  never reached: the host dies at skewed.so
verdict: 1 of 2 plugins cannot load into the host, 1 never reached (the host dies at skewed.so)
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	if r.OK() || r.Err() == nil || r.Err().Error() != "check: 1 of 2 plugins cannot load into the host, 1 never reached (the host dies at skewed.so)" {
		t.Errorf("verdict %v %v", r.OK(), r.Err())
	}
	var j bytes.Buffer
	if err := WriteJSON(&j, r); err != nil {
		t.Fatal(err)
	}
	var decoded JSON
	if err := json.Unmarshal(j.Bytes(), &decoded); err != nil {
		t.Fatal(err)
	}
	if decoded.OK || len(decoded.Loads) != 2 || decoded.Loads[0].OK || decoded.Loads[1].OK || decoded.Loads[1].Status != "never-reached" ||
		decoded.Loads[0].Problems[0].Causes[0].Kind != abi.CauseToolchain || !strings.Contains(decoded.Loads[0].Fixes[0], "go1.24.4") {
		t.Errorf("json: %s", j.String())
	}
}

func TestFix(t *testing.T) {
	tests := []struct {
		p    abi.Problem
		want string
	}{
		{abi.Problem{Kind: abi.DuplicatePluginPath}, "give each plugin its own package path"},
		{abi.Problem{Kind: abi.HostCannotLoad}, "CGO_ENABLED=1"},
		{abi.Problem{Kind: abi.PackageMismatch, Causes: []abi.Cause{{Kind: abi.CauseDependency, Subject: "golang.org/x/text", Want: "v0.21.0"}}}, "go get golang.org/x/text@v0.21.0"},
		{abi.Problem{Kind: abi.PackageMismatch, Causes: []abi.Cause{{Kind: abi.CauseTrimpath}}}, "-trimpath"},
		{abi.Problem{Kind: abi.PackageMismatch, Causes: []abi.Cause{{Kind: abi.CauseTags}}}, "build.tags"},
		{abi.Problem{Kind: abi.PackageMismatch, Causes: []abi.Cause{{Kind: abi.CauseGOEXPERIMENT}}}, "GOEXPERIMENT"},
		{abi.Problem{Kind: abi.PackageMismatch, Causes: []abi.Cause{{Kind: abi.CauseSource}}}, "same sources"},
	}
	for _, tt := range tests {
		if got := Fix(tt.p); !strings.Contains(got, tt.want) {
			t.Errorf("Fix(%v) = %q, want it to mention %q", tt.p.Kind, got, tt.want)
		}
	}
}

func TestInputErrors(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("not a binary"), 0o644)
	for _, args := range [][]string{{text, text}, {filepath.Join(dir, "missing"), text}} {
		_, err := Files(context.Background(), args[0], args[1:], Options{})
		if _, ok := err.(*InputError); !ok {
			t.Errorf("Files(%v): %T %v, want *InputError", args, err, err)
		}
	}
	bad := filepath.Join(dir, manifests.FileName)
	os.WriteFile(bad, []byte(`{"schemaVersion": 9}`), 0o644)
	if _, err := Manifest(context.Background(), bad, Options{}); err == nil {
		t.Error("bad manifest accepted")
	} else if _, ok := err.(*InputError); !ok {
		t.Errorf("bad manifest: %T", err)
	}
}

func TestHostFromManifest(t *testing.T) {
	a := manifests.Artifact{Name: "greeter", Kind: manifests.KindHost, File: "greeter",
		Packages:  map[string]string{"runtime": "r1", "example.com/api": "a1"},
		BuildInfo: manifests.BuildInfo{GoVersion: "go1.24.4", Path: "example.com/host", Main: "example.com/host", Deps: map[string]string{}, Settings: map[string]string{"GOARCH": "amd64", "-buildmode": "exe", "CGO_ENABLED": "1"}}}
	h := HostFromManifest(a)
	good := file("good.so", true, "go1.24.4", map[string]string{"runtime": "r1", "example.com/api": "a1"}, nil)
	bad := file("bad.so", true, "go1.24.4", map[string]string{"example.com/api": "a2"}, nil)
	r := result(h, good, bad)
	if len(r.Report.HostProblems) != 0 || !r.Report.Loads[0].OK || r.Report.Loads[1].OK {
		t.Fatalf("host %v loads %+v", r.Report.HostProblems, r.Report.Loads)
	}
	if h.Machine != elf.EM_X86_64 || h.MainModule != "example.com/host" {
		t.Errorf("host %+v", h)
	}
}

// TestRenderCorrupt: a damaged plugin is said to be damaged, with the way
// to a good copy, not blamed on a toolchain.
func TestRenderCorrupt(t *testing.T) {
	p := abi.Problem{Kind: abi.CorruptELF, Plugin: "x.so", Detail: "the file is damaged: dynamic section", Fatal: true}
	var b strings.Builder
	renderProblem(&b, p)
	out := b.String()
	for _, want := range []string{"can crash the host: the dynamic linker trusts", "fix: rebuild it, or restore it from its release bundle"} {
		if !strings.Contains(out, want) {
			t.Errorf("render lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "no plugin module data") {
		t.Errorf("a damaged file is blamed on a toolchain:\n%s", out)
	}
}
