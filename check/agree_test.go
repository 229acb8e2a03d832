package check

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pbuild/pbuild/loader/abi"
)

// The tests in this file hold pbuild check to what the runtime does.

// TestRenderNeverReached: a plugin that kills the host (a go1.26 plugin
// opened first in a go1.24 host: "fatal error: runtime: no plugin module
// data") is the last one the host opens: the plugins after it are never
// reached, and the verdict says so.
func TestRenderNeverReached(t *testing.T) {
	host := file("dist/greeter", false, "go1.24.4", map[string]string{"runtime": "r1"}, nil)
	good := file("good.so", true, "go1.24.4", map[string]string{"runtime": "r1"}, nil)
	fatal := file("fatal.so", true, "go1.26.8", map[string]string{"runtime": "r9"}, nil)
	later := file("later.so", true, "go1.24.4", map[string]string{"runtime": "r1"}, nil)
	r := result(host, fatal, good, later)
	if r.Report.Loads[2].OK {
		t.Errorf("later.so predicted to load after fatal.so killed the host: %+v", r.Report.Loads[2])
	}
	var b bytes.Buffer
	Render(&b, r)
	out := b.String()
	for _, want := range []string{
		"FAIL    fatal.so\n",
		"NEVER   good.so\n  never reached: the host dies at fatal.so\n",
		"NEVER   later.so\n  never reached: the host dies at fatal.so\n",
		"verdict: 1 of 3 plugins cannot load into the host, 2 never reached (the host dies at fatal.so)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("render lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "ok      later.so") {
		t.Errorf("later.so said to load:\n%s", out)
	}
	var j bytes.Buffer
	if err := WriteJSON(&j, r); err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		Loads []map[string]any `json:"loads"`
	}
	if err := json.Unmarshal(j.Bytes(), &decoded); err != nil {
		t.Fatal(err)
	}
	if l := decoded.Loads[2]; l["neverReached"] != "fatal.so" || l["status"] != "never-reached" || l["ok"] != false {
		t.Errorf("json of later.so: %v", l)
	}
	if l := decoded.Loads[0]; l["status"] != "fail" || l["dies"] != true {
		t.Errorf("json of fatal.so: %v", l)
	}
}

// TestRenderPatchReleaseNote: a plugin from another patch release whose
// shared packages are identical loads, and the report says the toolchains
// differ.
func TestRenderPatchReleaseNote(t *testing.T) {
	host := file("dist/greeter", false, "go1.24.4", map[string]string{"runtime": "r1"}, nil)
	patch := file("patch.so", true, "go1.24.3", map[string]string{"runtime": "r1"}, nil)
	r := result(host, patch)
	if !r.OK() {
		t.Fatalf("%+v", r.Report.Loads)
	}
	var b bytes.Buffer
	Render(&b, r)
	want := "ok      patch.so\n  note: loads, but built with go1.24.3, the host with go1.24.4: a later change to a shared package may stop it loading; build both with one toolchain\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("render lacks\n%s\ngot:\n%s", want, b.String())
	}
	var j bytes.Buffer
	if err := WriteJSON(&j, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(j.String(), `"notes"`) || !strings.Contains(j.String(), "built with go1.24.3") {
		t.Errorf("json lacks the note:\n%s", j.String())
	}
}

// TestFixComplete: a fix names every module whose version differs, and
// the local modules whose packages differ, not the first cause only.
func TestFixComplete(t *testing.T) {
	host := file("host", false, "go1.24.4", map[string]string{
		"github.com/prometheus/common/expfmt":            "c1",
		"github.com/prometheus/client_golang/prometheus": "p1",
		"example.com/api":                                "a1",
	}, map[string]string{"github.com/prometheus/common": "v0.62.0", "github.com/prometheus/client_golang": "v1.20.5", "example.com/api": "(devel)"})
	host.MainModule = "example.com/host"
	plugin := file("plugin.so", true, "go1.24.4", map[string]string{
		"github.com/prometheus/common/expfmt":            "c2",
		"github.com/prometheus/client_golang/prometheus": "p2",
		"example.com/api":                                "a2",
	}, map[string]string{"github.com/prometheus/common": "v0.55.0", "github.com/prometheus/client_golang": "v1.19.1", "example.com/api": "(devel)"})
	plugin.MainModule = "example.com/plugin"
	r := result(host, plugin)
	p := r.Report.Loads[0].Problems[0]
	fix := Fix(p)
	for _, want := range []string{
		"github.com/prometheus/common v0.62.0", "github.com/prometheus/client_golang v1.20.5",
		"go get github.com/prometheus/client_golang@v1.20.5 github.com/prometheus/common@v0.62.0",
		"example.com/api",
	} {
		if !strings.Contains(fix, want) {
			t.Errorf("fix %q lacks %q", fix, want)
		}
	}
	if strings.Contains(fix, "@(") {
		t.Errorf("fix %q suggests a version that is not one", fix)
	}
}

// TestFixLocalModule: a module that is the main module of one side and a
// local (devel) module of the other is named as such, and the fix can run.
func TestFixLocalModule(t *testing.T) {
	a := file("a.so", true, "go1.24.4", map[string]string{"example.com/a": "x1", "example.com/a/lib": "l1"}, nil)
	a.MainModule = "example.com/a"
	b := file("b.so", true, "go1.24.4", map[string]string{"example.com/b": "y1", "example.com/a/lib": "l2"}, map[string]string{"example.com/a": "(devel)"})
	b.MainModule = "example.com/b"
	r := result(nil, a, b)
	p := r.Report.Loads[1].Problems[0]
	fix := Fix(p)
	if strings.Contains(fix, "go get") || strings.Contains(fix, "@(") {
		t.Errorf("fix %q cannot run", fix)
	}
	if !strings.Contains(fix, "same source of example.com/a") {
		t.Errorf("fix %q does not say to build both from the same source of example.com/a", fix)
	}
	var buf bytes.Buffer
	renderProblem(&buf, p)
	if strings.Contains(buf.String(), "have: (devel)") || strings.Contains(buf.String(), "(main module) (") {
		t.Errorf("render names versions that are not versions:\n%s", buf.String())
	}
}

// TestFilesSameFile: plugin.Open identifies plugins by their real path:
// the same file given twice, or once through a symlink, returns the plugin
// already loaded; a copy is a duplicate pluginpath.
func TestFilesSameFile(t *testing.T) {
	host, plugin := buildHostAndPlugin(t)
	link := filepath.Join(t.TempDir(), "link.so")
	if err := os.Symlink(plugin, link); err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "copy.so")
	data, err := os.ReadFile(plugin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cp, data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		second string
		ok     bool
		want   string
	}{
		{"Twice", plugin, true, "already loaded: the runtime returns the plugin it loaded"},
		{"Symlink", link, true, "already loaded: the runtime returns the plugin it loaded"},
		{"Copy", cp, false, "pluginpath example.com/p is already loaded from " + plugin},
	} {
		r, err := Files(context.Background(), host, []string{plugin, c.second}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Report.Loads[0].OK || r.Report.Loads[1].OK != c.ok {
			t.Errorf("%s: %+v", c.name, r.Report.Loads)
		}
		var b bytes.Buffer
		Render(&b, r)
		if !strings.Contains(b.String(), c.want) {
			t.Errorf("%s: render lacks %q:\n%s", c.name, c.want, b.String())
		}
	}
}

// buildHostAndPlugin builds, with the machine's go command, a host that
// can load plugins and a plugin.
func buildHostAndPlugin(t *testing.T) (host, plugin string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a plugin")
	}
	if runtime.GOOS != "linux" {
		t.Skip("plugins are tested on linux")
	}
	for _, tool := range []string{"go", "gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	root := t.TempDir()
	tmp := filepath.Join(root, "tmp")
	for name, content := range map[string]string{
		"h/go.mod":  "module example.com/h\n\ngo 1.22\n",
		"h/main.go": "package main\n\nimport (\n\t\"os\"\n\t\"plugin\"\n)\n\nfunc main() { plugin.Open(os.Args[1]) }\n",
		"p/go.mod":  "module example.com/p\n\ngo 1.22\n",
		"p/main.go": "package main\n\nvar Name = \"p\"\n\nfunc main() {}\n",
		"tmp/.keep": "",
	} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	host, plugin = filepath.Join(root, "host"), filepath.Join(root, "p.so")
	for dir, args := range map[string][]string{"h": {"-o", host}, "p": {"-buildmode=plugin", "-o", plugin}} {
		cmd := exec.Command("go", append(append([]string{"build", "-trimpath"}, args...), ".")...)
		cmd.Dir = filepath.Join(root, dir)
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=1", "GOPROXY=off", "TMPDIR="+tmp)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %v: %v\n%s", args, err, out)
		}
	}
	return host, plugin
}

// TestRenderCSymbolCollision: the later plugin is reported, naming the
// symbol and the object that defines it first.
func TestRenderCSymbolCollision(t *testing.T) {
	p := abi.Problem{Kind: abi.CSymbolCollision, Plugin: "c2.so", Against: "c1.so", Symbols: []string{"pb_answer"},
		Detail: "C symbol pb_answer is also defined by plugin c1.so, loaded first: the dynamic linker binds this plugin's uses of it to c1.so's definition"}
	var b strings.Builder
	renderProblem(&b, p)
	for _, want := range []string{"pb_answer", "c1.so", "fix: "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("render lacks %q:\n%s", want, b.String())
		}
	}
	if fix := Fix(p); !strings.Contains(fix, "static") || !strings.Contains(fix, "pb_answer") {
		t.Errorf("fix %q", fix)
	}
}

// TestFixNewKinds: every problem kind the runtime's identity rules and
// module list give has a fix.
func TestFixNewKinds(t *testing.T) {
	for _, c := range []struct {
		p    abi.Problem
		want string
	}{
		{abi.Problem{Kind: abi.SameObject, Against: "a.so"}, "load each plugin file once"},
		{abi.Problem{Kind: abi.PreviousFailure, Against: "a.so"}, "fix the first failure"},
		{abi.Problem{Kind: abi.ModuleListBroken, Against: "new.so"}, "rebuild new.so with the host's toolchain"},
		{abi.Problem{Kind: abi.PackageMismatch, Causes: []abi.Cause{{Kind: abi.CauseReplace, Subject: "example.com/api"}}}, "build both in one workspace (pbuild build)"},
	} {
		if got := Fix(c.p); !strings.Contains(got, c.want) {
			t.Errorf("Fix(%s) = %q, want it to contain %q", c.p.Kind, got, c.want)
		}
	}
}
