package builder

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/pbuild/pbuild/resolve"
)

func TestBuildInputs(t *testing.T) {
	stage := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		f := filepath.Join(stage, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.work", "go 1.24.4\n\nuse (\n\t./api\n\t./host\n\t./plugins/a\n\t./plugins/b\n\t./.pbuild-pins\n)\n")
	write("vendor/modules.txt", "")
	mod := func(rel, path string, requires ...string) *resolve.Module {
		src := "module " + path + "\n\ngo 1.24\n"
		for _, r := range requires {
			src += "\nrequire " + r + " v0.0.0\n"
		}
		f, err := modfile.Parse(rel+"/go.mod", []byte(src), nil)
		if err != nil {
			t.Fatal(err)
		}
		return &resolve.Module{Path: path, Rel: rel, File: f, StagedPath: path}
	}
	api := mod("api", "example.com/api", "golang.org/x/text")
	base := mod("plugins/base", "example.com/base", "example.com/api")
	a := mod("plugins/a", "example.com/a", "example.com/base", "golang.org/x/text")
	b := mod("plugins/b", "example.com/b")
	host := mod("host", "example.com/host", "example.com/api")
	ws := &resolve.Workspace{Modules: []*resolve.Module{api, host, a, b, base}}

	inputsOf, err := buildInputs(stage, ws)
	if err != nil {
		t.Fatal(err)
	}
	got := inputsOf(resolve.Package{Module: a})
	want := []string{".pbuild-pins/go.mod", "api", "api/go.mod", "go.work", "go.work.sum", "host/go.mod", "plugins/a", "plugins/a/go.mod", "plugins/b/go.mod", "plugins/base", "vendor"}
	if !slices.Equal(got, want) {
		t.Errorf("plugin a reads %q, want %q", got, want)
	}
	if got := inputsOf(resolve.Package{Module: b}); slices.Contains(got, "api") || !slices.Contains(got, "plugins/b") {
		t.Errorf("plugin b reads %q: its own module, not api", got)
	}

	// A module at the workspace's root: the whole workspace.
	root := mod(".", "example.com/root")
	rootInputs, err := buildInputs(stage, &resolve.Workspace{Modules: []*resolve.Module{root}})
	if err != nil {
		t.Fatal(err)
	}
	if got := rootInputs(resolve.Package{Module: root}); got != nil {
		t.Errorf("root module: %q, %v; want nil (everything)", got, err)
	}
	// No vendor directory: none mounted.
	os.RemoveAll(filepath.Join(stage, "vendor"))
	if inputsOf, err = buildInputs(stage, ws); err != nil {
		t.Fatal(err)
	}
	if got := inputsOf(resolve.Package{Module: b}); slices.Contains(got, "vendor") {
		t.Errorf("inputs %q name a missing vendor directory", got)
	}
}
