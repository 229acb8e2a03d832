package resolve

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/pbuild/pbuild/internal/container/containertest"

	"github.com/pbuild/pbuild/plan"
)

// The tests in this file are about two versions of one plugin built side by
// side (issue 12): two copies of one plugin module, in two directories,
// each staged under its versioned path.

// sideBySideFiles is a host, an api module, and two copies of the plugin
// module example.com/greet (greet1 and greet2, as two checkouts of two
// releases would be), each with a package of its own that its main package
// imports, and each asking for an older x/text than the host.
func sideBySideFiles() files {
	greet := func(version string) files {
		return files{
			"go.mod": "module example.com/greet\n\ngo 1.24\n\nrequire (\n\texample.com/api v0.0.0\n\tgolang.org/x/text v0.20.0\n)\n\nreplace example.com/api => ../api\n",
			"main.go": "package main\n\nimport (\n\t_ \"example.com/api\"\n\t\"example.com/greet/ver\"\n)\n\n" +
				"func Version() string { return ver.V }\n\nfunc main() {}\n",
			"ver/ver.go": "package ver\n\nconst V = \"" + version + "\"\n",
		}
	}
	out := files{
		"api/go.mod":   "module example.com/api\n\ngo 1.24\n",
		"api/api.go":   "package api\n",
		"host/go.mod":  "module example.com/host\n\ngo 1.24\n\nrequire (\n\texample.com/api v0.0.0\n\tgolang.org/x/text v0.21.0\n)\n\nreplace example.com/api => ../api\n",
		"host/main.go": "package main\n\nimport _ \"example.com/api\"\n\nfunc main() {}\n",
	}
	for dir, v := range map[string]string{"greet1": "0.1", "greet2": "0.2"} {
		for name, content := range greet(v) {
			out[dir+"/"+name] = content
		}
	}
	return out
}

// sideBySideTargets are the host and the two copies as plugins greet-V1
// (greet1) and greet-V2 (greet2) at versions v1 and v2 ("": none).
func sideBySideTargets(v1, v2 string) func(root string) []plan.Target {
	name := func(v string) string {
		if v == "" {
			return "greet"
		}
		return "greet-" + v
	}
	return func(root string) []plan.Target {
		n1, n2 := name(v1), name(v2)
		if n1 == n2 {
			n2 += "-copy"
		}
		return []plan.Target{
			{Name: "host", Kind: plan.Host, Dir: filepath.Join(root, "host")},
			{Name: n1, Kind: plan.Plugin, Dir: filepath.Join(root, "greet1"), Version: v1},
			{Name: n2, Kind: plan.Plugin, Dir: filepath.Join(root, "greet2"), Version: v2},
		}
	}
}

// sideBySide writes sideBySideFiles and discovers greet 0.1 and 0.2.
func sideBySide(t *testing.T) (root string, ws *Workspace) {
	t.Helper()
	root = realDir(t, t.TempDir())
	containertest.WriteFiles(t, root, sideBySideFiles())
	ws, err := Discover(sideBySideTargets("0.1", "0.2")(root))
	if err != nil {
		t.Fatal(err)
	}
	return root, ws
}

func TestDiscoverTwoCopiesStagedPaths(t *testing.T) {
	_, ws := sideBySide(t)
	var got []string
	for _, m := range ws.Modules {
		got = append(got, m.Rel+"="+m.StagedPath)
	}
	want := []string{"api=example.com/api", "greet1=example.com/greet/v0_1", "greet2=example.com/greet/v0_2", "host=example.com/host"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("staged paths = %q\nwant           %q", got, want)
	}
	if ws.Packages[1].Module == ws.Packages[2].Module {
		t.Error("the two copies are one Module")
	}
}

// TestStageTwoCopies: each copy is staged in its own directory under its
// own path, its imports of its own packages rewritten to that path, and
// go.work uses both.
func TestStageTwoCopies(t *testing.T) {
	root, ws := sideBySide(t)
	dst := t.TempDir()
	if err := Stage(ws, dst, "1.24.4", nil); err != nil {
		t.Fatal(err)
	}
	for dir, path := range map[string]string{"greet1": "example.com/greet/v0_1", "greet2": "example.com/greet/v0_2"} {
		mod, err := os.ReadFile(filepath.Join(dst, dir, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		f, err := modfile.Parse("go.mod", mod, nil)
		if err != nil || f.Module.Mod.Path != path {
			t.Errorf("%s/go.mod staged as:\n%s", dir, mod)
		}
		main, _ := os.ReadFile(filepath.Join(dst, dir, "main.go"))
		if !strings.Contains(string(main), `"`+path+`/ver"`) || !strings.Contains(string(main), `"example.com/api"`) {
			t.Errorf("%s/main.go staged as:\n%s", dir, main)
		}
		if src, _ := os.ReadFile(filepath.Join(root, dir, "go.mod")); !strings.Contains(string(src), "module example.com/greet\n") {
			t.Errorf("source %s/go.mod changed:\n%s", dir, src)
		}
	}
	data, err := os.ReadFile(filepath.Join(dst, "go.work"))
	if err != nil {
		t.Fatal(err)
	}
	wf, err := modfile.ParseWork("go.work", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	var uses []string
	for _, u := range wf.Use {
		uses = append(uses, u.Path)
	}
	if want := []string{"./api", "./greet1", "./greet2", "./host"}; !reflect.DeepEqual(uses, want) {
		t.Errorf("go.work uses %q, want %q", uses, want)
	}
}

// TestBuildListTwoCopies: the build list names each copy by its staged
// path, with its own directory and hash.
func TestBuildListTwoCopies(t *testing.T) {
	_, ws := sideBySide(t)
	dir := t.TempDir()
	if err := Stage(ws, dir, "1.24.4", nil); err != nil {
		t.Fatal(err)
	}
	listed := []Listed{
		{Path: "example.com/api", Main: true},
		{Path: "example.com/greet/v0_1", Main: true},
		{Path: "example.com/greet/v0_2", Main: true},
		{Path: "example.com/host", Main: true},
	}
	mods, err := BuildList(listed, ws, dir, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	sums := map[string]bool{}
	for _, m := range mods {
		got[m.Path] = m.Dir
		if sums[m.Sum] {
			t.Errorf("two local modules share the hash %s", m.Sum)
		}
		sums[m.Sum] = true
	}
	want := map[string]string{"example.com/api": "api", "example.com/greet/v0_1": "greet1", "example.com/greet/v0_2": "greet2", "example.com/host": "host"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("build list dirs = %v, want %v", got, want)
	}
}

// TestRaisedRequirementsTwoCopies: a raised requirement of one copy names
// that copy's plugin only (both were named, the artifacts being looked up
// by module path).
func TestRaisedRequirementsTwoCopies(t *testing.T) {
	_, ws := sideBySide(t)
	listed := []Listed{
		{Path: "example.com/greet/v0_1", Main: true},
		{Path: "example.com/greet/v0_2", Main: true},
		{Path: "golang.org/x/text", Version: "v0.21.0"},
	}
	var got []string
	for _, r := range RaisedRequirements(ws, listed) {
		got = append(got, r.String())
	}
	want := []string{
		"plugin greet-0.1 asks golang.org/x/text v0.20.0, builds with v0.21.0",
		"plugin greet-0.2 asks golang.org/x/text v0.20.0, builds with v0.21.0",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("raised =\n%q\nwant\n%q", got, want)
	}
}

// TestReplacementsTwoCopies: the copies' identical replacements are one
// note, not one per copy.
func TestReplacementsTwoCopies(t *testing.T) {
	root := realDir(t, t.TempDir())
	f := sideBySideFiles()
	for _, d := range []string{"greet1", "greet2"} {
		f[d+"/go.mod"] += "\nreplace golang.org/x/text v0.20.0 => golang.org/x/text v0.19.0\n"
	}
	containertest.WriteFiles(t, root, f)
	ws, err := Discover(sideBySideTargets("0.1", "0.2")(root))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range Replacements(ws) {
		got = append(got, r.String())
	}
	want := []string{"example.com/greet's go.mod replaces golang.org/x/text@v0.20.0 => golang.org/x/text@v0.19.0"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("replacements = %q, want %q", got, want)
	}
}

// TestStagedTwoCopiesWithGo: the go command of this machine accepts the
// staged workspace of two copies and resolves each plugin's packages in
// its own copy. Skipped without a go command.
func TestStagedTwoCopiesWithGo(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	root := realDir(t, t.TempDir())
	f := sideBySideFiles()
	// No module downloads: the copies and the host need nothing but api.
	for _, d := range []string{"greet1", "greet2", "host"} {
		f[d+"/go.mod"] = "module example.com/" + strings.TrimRight(d, "12") + "\n\ngo 1.24\n\nrequire example.com/api v0.0.0\n\nreplace example.com/api => ../api\n"
	}
	containertest.WriteFiles(t, root, f)
	ws, err := Discover(sideBySideTargets("0.1", "0.2")(root))
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "src")
	if err := Stage(ws, dst, "1.24.4", nil); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	cmd := exec.Command(goCmd, "list", "-deps", "-f", "{{.ImportPath}} {{if .Module}}{{.Module.Path}} {{.Module.Dir}}{{end}}", "./greet1", "./greet2")
	cmd.Dir = dst
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + tmp, "TMPDIR=" + tmp, "GOENV=off", "GOFLAGS=", "GOPROXY=off", "GOTOOLCHAIN=local",
		"GOWORK=" + filepath.Join(dst, "go.work"), "GOCACHE=" + filepath.Join(tmp, "cache"), "GOMODCACHE=" + filepath.Join(tmp, "modcache"), "GOTELEMETRY=off",
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, want := range []string{
		"example.com/greet/v0_1/ver example.com/greet/v0_1 " + filepath.Join(dst, "greet1"),
		"example.com/greet/v0_2/ver example.com/greet/v0_2 " + filepath.Join(dst, "greet2"),
		"example.com/greet/v0_1 example.com/greet/v0_1 " + filepath.Join(dst, "greet1"),
		"example.com/greet/v0_2 example.com/greet/v0_2 " + filepath.Join(dst, "greet2"),
		"example.com/api example.com/api " + filepath.Join(dst, "api"),
	} {
		if !strings.Contains(string(out), want+"\n") {
			t.Errorf("go list does not say %q:\n%s", want, out)
		}
	}
}
