package loader

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pbuild/pbuild/loader/abi"
)

// The tests in this file build real plugins for the cases where pbuild
// check and the runtime used to disagree: a stripped copy of a plugin whose
// path the linker escapes, the same file given twice, a directory replace
// against a workspace, a local module that is the main module of one side,
// and C symbols two objects both define.

// agreeFixture is what buildAgreeFixture builds, as absolute paths.
type agreeFixture struct {
	dir    string
	host   string // links api and cshared; opens plugins raw or through the loader
	hostC  string // host, and it defines the C function pb_answer
	hostWS string // host built in a workspace with api and b
	// xpkg is the plugin example.com/ag/x.pkg (a dot in the last path
	// element, which the linker escapes in the pluginpath symbol);
	// xpkgStripped the same built with -ldflags=-s -w.
	xpkg, xpkgStripped string
	// c1 and c2 each define the C function pb_answer (returning 1 and 2);
	// all three link cshared, whose C function pb_shared they share.
	c1, c2, c3 string
	// bRepl uses api through a directory replace, bWS in the workspace.
	bRepl, bWS string
	// apiPlug is a plugin whose main module is api; apiPlugEdited the same
	// from an edited copy of api.
	apiPlug, apiPlugEdited string
}

const agreeHostSource = `// Command host opens plugins in order, with plugin.Open (raw) or the
// loader, and prints one line for each.
package main

import (
	"fmt"
	"os"
	"plugin"

	"example.com/ag/api"
	"example.com/ag/cshared"
	"github.com/pbuild/pbuild/loader"
)

func main() {
	if api.Describe("host") == "" || cshared.Shared() != 5 {
		panic("shared packages broken")
	}
	if os.Args[1] == "raw" {
		for _, f := range os.Args[2:] {
			p, err := plugin.Open(f)
			if err == nil {
				err = answer(p.Lookup)
			}
			report(f, err)
		}
		return
	}
	l, err := loader.New(loader.WithoutManifest())
	if err != nil {
		panic(err)
	}
	for _, f := range os.Args[2:] {
		p, err := l.Open(f)
		if err == nil {
			err = answer(p.Lookup)
		}
		report(f, err)
	}
}

// answer calls the plugin's Answer, if it has one, and compares it with
// its Want: a plugin whose C calls reach another object's code answers
// wrong.
func answer(lookup func(string) (plugin.Symbol, error)) error {
	a, err := lookup("Answer")
	if err != nil {
		return nil
	}
	w, err := lookup("Want")
	if err != nil {
		return err
	}
	if got, want := a.(func() int)(), *w.(*int); got != want {
		return fmt.Errorf("Answer() = %d, want %d", got, want)
	}
	return nil
}

func report(f string, err error) {
	if err != nil {
		fmt.Printf("fail %s: %v\n", f, err)
		return
	}
	fmt.Printf("ok %s\n", f)
}
`

const agreeHostCSource = `//go:build hostc

package main

/*
int pb_answer(void) { return 7; }
*/
import "C"

var hostAnswer = int(C.pb_answer())
`

func cPlugin(answer int) map[string]string {
	return map[string]string{
		"main.go": fmt.Sprintf(`package main

/*
int pb_answer(void);
*/
import "C"

import "example.com/ag/cshared"

var Want = %d

func Answer() int { return int(C.pb_answer()) }

func Shared() int { return cshared.Shared() }

func main() {}
`, answer),
		"answer.c": fmt.Sprintf("int pb_answer(void) { return %d; }\n", answer),
	}
}

func buildAgreeFixture(t *testing.T) *agreeFixture {
	t.Helper()
	skipUnlessPluginsBuild(t, "plugins")
	root := realTempDir(t)
	src, src2, out, tmp := filepath.Join(root, "src"), filepath.Join(root, "src2"), filepath.Join(root, "out"), filepath.Join(root, "tmp")
	files := map[string]string{
		"api/go.mod":            goMod("example.com/ag/api"),
		"api/api.go":            "package api\n\nfunc Describe(s string) string { return \"plugin \" + s }\n",
		"api/plug/main.go":      "package main\n\nimport \"example.com/ag/api\"\n\nvar Name = api.Describe(\"plug\")\n\nfunc main() {}\n",
		"cshared/go.mod":        goMod("example.com/ag/cshared"),
		"cshared/shared.c":      "int pb_shared(void) { return 5; }\n",
		"cshared/cshared.go":    "package cshared\n\n/*\nint pb_shared(void);\n*/\nimport \"C\"\n\nfunc Shared() int { return int(C.pb_shared()) }\n",
		"host/main.go":          agreeHostSource,
		"host/hostc.go":         agreeHostCSource,
		"x.pkg/go.mod":          goMod("example.com/ag/x.pkg"),
		"x.pkg/main.go":         "package main\n\nvar Name = \"x\"\n\nfunc main() {}\n",
		"c3/go.mod":             goMod("example.com/ag/c3", "example.com/ag/cshared", "../cshared"),
		"c3/main.go":            "package main\n\nimport \"example.com/ag/cshared\"\n\nvar Want = 5\n\nfunc Answer() int { return cshared.Shared() }\n\nfunc main() {}\n",
		"b/go.mod":              goMod("example.com/ag/b", "example.com/ag/api", "../api"),
		"b/main.go":             "package main\n\nimport \"example.com/ag/api\"\n\nvar Name = api.Describe(\"b\")\n\nfunc main() {}\n",
		"go.work":               "go 1.22\n\nuse (\n\t./api\n\t./b\n\t./host\n)\n",
		"../src2/api/go.mod":    goMod("example.com/ag/api"),
		"../src2/api/api.go":    "package api\n\nfunc Describe(s string) string { return \"plugin \" + s }\n\n// Edited makes this copy differ.\nfunc Edited() bool { return true }\n",
		"../src2/api/plug/m.go": "package main\n\nimport \"example.com/ag/api\"\n\nvar Name = api.Describe(\"plug\")\n\nfunc main() {}\n",
	}
	var hostMod strings.Builder
	hostMod.WriteString(goMod("example.com/ag/host", "example.com/ag/api", "../api", "example.com/ag/cshared", "../cshared"))
	fmt.Fprintf(&hostMod, "\nrequire github.com/pbuild/pbuild/loader v0.0.0\n\nreplace github.com/pbuild/pbuild/loader => %s\n", filepath.ToSlash(loaderDir(t)))
	files["host/go.mod"] = hostMod.String()
	for i, n := range []int{1, 2} {
		name := fmt.Sprintf("c%d", i+1)
		files[name+"/go.mod"] = goMod("example.com/ag/"+name, "example.com/ag/cshared", "../cshared")
		for f, content := range cPlugin(n) {
			files[name+"/"+f] = content
		}
	}
	writeFiles(t, src, files)
	for _, d := range []string{out, tmp, src2} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	o := func(name string) string { return filepath.Join(out, name) }
	f := &agreeFixture{
		dir: out, host: o("host"), hostC: o("hostc"), hostWS: o("hostws"),
		xpkg: o("xpkg.so"), xpkgStripped: o("xpkg-stripped.so"),
		c1: o("c1.so"), c2: o("c2.so"), c3: o("c3.so"),
		bRepl: o("b.so"), bWS: o("b-ws.so"),
		apiPlug: o("apiplug.so"), apiPlugEdited: o("apiplug-edited.so"),
	}
	type job struct {
		dir, work string
		args      []string
	}
	work := filepath.Join(src, "go.work")
	jobs := []job{
		{dir: "host", args: []string{"-o", f.host}},
		{dir: "host", args: []string{"-tags=hostc", "-o", f.hostC}},
		{dir: "host", work: work, args: []string{"-o", f.hostWS}},
		{dir: "x.pkg", args: []string{"-buildmode=plugin", "-o", f.xpkg}},
		{dir: "x.pkg", args: []string{"-buildmode=plugin", "-ldflags=-s -w", "-o", f.xpkgStripped}},
		{dir: "c1", args: []string{"-buildmode=plugin", "-o", f.c1}},
		{dir: "c2", args: []string{"-buildmode=plugin", "-o", f.c2}},
		{dir: "c3", args: []string{"-buildmode=plugin", "-o", f.c3}},
		{dir: "b", args: []string{"-buildmode=plugin", "-o", f.bRepl}},
		{dir: "b", work: work, args: []string{"-buildmode=plugin", "-o", f.bWS}},
		{dir: "api/plug", args: []string{"-buildmode=plugin", "-o", f.apiPlug}},
		{dir: "../src2/api/plug", args: []string{"-buildmode=plugin", "-o", f.apiPlugEdited}},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(jobs))
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("go", append(append([]string{"build", "-trimpath"}, j.args...), ".")...)
			cmd.Dir = filepath.Join(src, filepath.FromSlash(j.dir))
			cmd.Env = append(buildEnv(""), "TMPDIR="+tmp)
			if j.work != "" {
				cmd.Env = append(cmd.Env, "GOWORK="+j.work, "GOFLAGS=")
			}
			if b, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go build %v in %s: %v\n%s", j.args, j.dir, err, b)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return f
}

// checkFiles reads the files and predicts loading the plugins in order.
func checkFiles(t *testing.T, host string, plugins ...string) *abi.Report {
	t.Helper()
	var h *abi.File
	if host != "" {
		h = readABI(t, host)
	}
	var ps []*abi.File
	for _, p := range plugins {
		ps = append(ps, readABI(t, p))
	}
	return abi.Check(h, ps, abi.Options{})
}

// loads is the verdict of every load of r.
func loads(r *abi.Report) []bool {
	var out []bool
	for _, l := range r.Loads {
		out = append(out, l.OK)
	}
	return out
}

// problemOf is the first problem of the i-th load of r.
func problemOf(t *testing.T, r *abi.Report, i int) abi.Problem {
	t.Helper()
	if r.Loads[i].OK || len(r.Loads[i].Problems) == 0 {
		t.Fatalf("%s predicted to load, want a problem: %+v", r.Loads[i].Plugin, r.Loads)
	}
	return r.Loads[i].Problems[0]
}

func TestAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("builds plugins")
	}
	f := buildAgreeFixture(t)

	t.Run("StrippedCopyWithEscapedPath", func(t *testing.T) {
		// The runtime: "plugin already loaded", in either order. The
		// linker writes example.com/ag/x%2epkg; the stripped copy tells
		// its path only through the build info.
		a, b := readABI(t, f.xpkg), readABI(t, f.xpkgStripped)
		if a.PluginPath != b.PluginPath {
			t.Errorf("pluginpath %q (symbol table) != %q (stripped)", a.PluginPath, b.PluginPath)
		}
		for _, order := range [][]string{{f.xpkg, f.xpkgStripped}, {f.xpkgStripped, f.xpkg}} {
			r := checkFiles(t, f.host, order...)
			if p := problemOf(t, r, 1); p.Kind != abi.DuplicatePluginPath {
				t.Errorf("%s after %s: %+v, want %s", order[1], order[0], p, abi.DuplicatePluginPath)
			}
		}
		lines, _ := runHost(t, f.host, "raw", f.xpkg, f.xpkgStripped)
		checkOutput(t, lines, 0, []string{"ok " + f.xpkg, fmt.Sprintf("fail %s: plugin.Open(%q): plugin already loaded", f.xpkgStripped, strings.TrimSuffix(f.xpkgStripped, ".so"))}, 0)
	})

	t.Run("SameFileTwice", func(t *testing.T) {
		// plugin.Open identifies plugins by their real path: the same
		// file again, directly or through a symlink, returns the plugin
		// it loaded; a copy is another plugin with the same pluginpath.
		link := filepath.Join(t.TempDir(), "link.so")
		if err := os.Symlink(f.c3, link); err != nil {
			t.Fatal(err)
		}
		cp := filepath.Join(t.TempDir(), "copy.so")
		copyFile(t, f.c3, cp)
		for _, c := range []struct {
			name    string
			plugins []string
			want    []bool
		}{
			{"Twice", []string{f.c3, f.c3}, []bool{true, true}},
			{"Symlink", []string{f.c3, link}, []bool{true, true}},
			{"Copy", []string{f.c3, cp}, []bool{true, false}},
		} {
			r := checkFiles(t, f.host, c.plugins...)
			if got := loads(r); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("%s: loads %v, want %v: %+v", c.name, got, c.want, r.Loads)
			}
		}
		lines, _ := runHost(t, f.host, "raw", f.c3, f.c3, link)
		checkOutput(t, lines, 0, []string{"ok " + f.c3, "ok " + f.c3, "ok " + link}, 0)
	})

	t.Run("DirectoryReplaceAgainstWorkspace", func(t *testing.T) {
		// The same source of api, used through a directory replace in the
		// plugin and as a workspace module in the host: -trimpath records
		// other file names, the export data differs, and the cause is the
		// replace, not "different source".
		r := checkFiles(t, f.hostWS, f.bRepl)
		p := problemOf(t, r, 0)
		if len(p.Causes) == 0 || p.Causes[0].Kind != "replace" || p.Causes[0].Subject != "example.com/ag/api" {
			t.Errorf("causes %+v, want the replace of example.com/ag/api first", p.Causes)
		}
		mustContain(t, p.Summary(), "replaced by directory ../api", "workspace module")
		if r := checkFiles(t, f.hostWS, f.bWS); !r.OK() {
			t.Errorf("the workspace build does not load: %+v", r.Loads)
		}
	})

	t.Run("LocalModuleFix", func(t *testing.T) {
		// api is the main module of one plugin and a workspace module of
		// the other: both are local, no version names the difference, and
		// no go get can fix it.
		r := checkFiles(t, "", f.apiPlugEdited, f.bWS)
		p := problemOf(t, r, 1)
		if len(p.Causes) == 0 || p.Causes[0].Kind != "local" || p.Causes[0].Subject != "example.com/ag/api" {
			t.Errorf("causes %+v, want the local module example.com/ag/api first", p.Causes)
		}
		for _, c := range p.Causes {
			if strings.Contains(c.Have+c.Want, "(main module)") && c.Kind == abi.CauseDependency {
				t.Errorf("a local module named as a dependency version: %+v", c)
			}
		}
		mustContain(t, p.Summary(), "main module", "workspace module")
		// The same source as the main module of one and a workspace
		// module of the other loads: both record the module's own path.
		if r := checkFiles(t, "", f.apiPlug, f.bWS); !r.OK() {
			t.Errorf("the same api as main and workspace module: %+v", r.Loads)
		}
	})

	t.Run("CSymbolCollision", func(t *testing.T) {
		// The runtime loads both; the second one's C calls reach the first
		// one's pb_answer.
		lines, _ := runHost(t, f.host, "raw", f.c1, f.c2)
		checkOutput(t, lines, 0, []string{"ok " + f.c1, "fail " + f.c2 + ": Answer() = 1, want 2"}, 0)
		lines, _ = runHost(t, f.hostC, "raw", f.c1)
		checkOutput(t, lines, 0, []string{"fail " + f.c1 + ": Answer() = 7, want 1"}, 0)
		// cshared's pb_shared, defined by all of them, is the same code.
		lines, _ = runHost(t, f.host, "raw", f.c1, f.c3)
		checkOutput(t, lines, 0, []string{"ok " + f.c1, "ok " + f.c3}, 0)

		for _, order := range [][]string{{f.c1, f.c2}, {f.c2, f.c1}} {
			r := checkFiles(t, f.host, order...)
			p := problemOf(t, r, 1)
			if p.Kind != "c-symbol-collision" || p.Against != order[0] {
				t.Errorf("%s after %s: %+v, want a C symbol collision against %s", order[1], order[0], p, order[0])
			}
			mustContain(t, p.Summary(), "pb_answer")
			if !r.Loads[0].OK {
				t.Errorf("%s: %+v", order[0], r.Loads[0])
			}
		}
		if p := problemOf(t, checkFiles(t, f.hostC, f.c1), 0); p.Kind != "c-symbol-collision" || p.Against != f.hostC {
			t.Errorf("c1 in hostc: %+v, want a C symbol collision against the host", p)
		}
		if r := checkFiles(t, f.host, f.c1, f.c3); !r.OK() {
			t.Errorf("c1 and c3 share cshared's C code: %+v", r.Loads)
		}
		// The loader refuses the second before opening it.
		lines, _ = runHost(t, f.host, "loader", f.c1, f.c2, f.c3)
		if len(lines) != 3 || lines[0] != "ok "+f.c1 || !strings.HasPrefix(lines[1], "fail "+f.c2+": refuse ") ||
			!strings.Contains(lines[1], "pb_answer") || lines[2] != "ok "+f.c3 {
			t.Errorf("loader: %q", lines)
		}
	})
}
