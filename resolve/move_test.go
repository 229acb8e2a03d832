package resolve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/pbuild/pbuild/internal/container/containertest"

	"github.com/pbuild/pbuild/plan"
)

func TestRewriteImports(t *testing.T) {
	src := `// Package main is a plugin.
package main

import (
	"fmt"
	x "example.com/p/internal/x" // kept comment
	"example.com/p"
	"example.com/pp/other"
	_ "example.com/p/sub"
)

var s = "example.com/p/internal/x is not an import"
`
	got, err := rewriteImports("main.go", []byte(src), "example.com/p", "example.com/p/v0_2")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer(
		`x "example.com/p/internal/x"`, `x "example.com/p/v0_2/internal/x"`,
		"\t\"example.com/p\"\n", "\t\"example.com/p/v0_2\"\n",
		`_ "example.com/p/sub"`, `_ "example.com/p/v0_2/sub"`,
	).Replace(src)
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestVersionedPlugin(t *testing.T) {
	root := t.TempDir()
	containertest.WriteFiles(t, root, map[string]string{
		"api/go.mod":         "module example.com/api\n\ngo 1.24\n",
		"api/api.go":         "package api\n",
		"host/go.mod":        "module example.com/host\n\ngo 1.24\n\nrequire example.com/api v0.0.0\n\nreplace example.com/api => ../api\n",
		"host/main.go":       "package main\n\nfunc main() {}\n",
		"hello/go.mod":       "module example.com/hello\n\ngo 1.24\n\nrequire example.com/api v0.0.0\n\nreplace example.com/api => ../api\n",
		"hello/main.go":      "package main\n\nimport (\n\t_ \"example.com/api\"\n\t_ \"example.com/hello/util\"\n)\n",
		"hello/util/util.go": "package util\n",
		"two/go.mod":         "module example.com/two\n\ngo 1.24\n",
		"two/a/main.go":      "package main\n",
		"two/b/main.go":      "package main\n",
		"needed/go.mod":      "module example.com/needed\n\ngo 1.24\n",
		"needed/main.go":     "package main\n",
		"user/go.mod":        "module example.com/user\n\ngo 1.24\n\nrequire example.com/needed v0.0.0\n\nreplace example.com/needed => ../needed\n",
		"user/main.go":       "package main\n",
	})
	ws, err := Discover([]plan.Target{
		{Name: "host", Kind: plan.Host, Dir: filepath.Join(root, "host")},
		{Name: "hello", Kind: plan.Plugin, Dir: filepath.Join(root, "hello"), Version: "0.2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := ws.Packages[1].ImportPath; got != "example.com/hello/v0_2" {
		t.Errorf("import path %q", got)
	}
	dst := t.TempDir()
	if err := Stage(ws, dst, "1.24.4", nil); err != nil {
		t.Fatal(err)
	}
	mod, _ := os.ReadFile(filepath.Join(dst, "hello", "go.mod"))
	if f, err := modfile.Parse("go.mod", mod, nil); err != nil || f.Module.Mod.Path != "example.com/hello/v0_2" {
		t.Errorf("staged go.mod:\n%s", mod)
	}
	main, _ := os.ReadFile(filepath.Join(dst, "hello", "main.go"))
	if !strings.Contains(string(main), `"example.com/hello/v0_2/util"`) || !strings.Contains(string(main), `"example.com/api"`) {
		t.Errorf("staged main.go:\n%s", main)
	}
	if src, _ := os.ReadFile(filepath.Join(root, "hello", "go.mod")); !strings.Contains(string(src), "module example.com/hello\n") {
		t.Errorf("source go.mod changed:\n%s", src)
	}
	work, _ := os.ReadFile(filepath.Join(dst, "go.work"))
	if !strings.Contains(string(work), "./hello") {
		t.Errorf("go.work:\n%s", work)
	}

	for _, tt := range []struct {
		targets []plan.Target
		want    string
	}{
		{[]plan.Target{{Name: "a", Kind: plan.Plugin, Dir: filepath.Join(root, "two/a"), Version: "1"}, {Name: "b", Kind: plan.Plugin, Dir: filepath.Join(root, "two/b")}},
			"versioned, but its module example.com/two also holds plugin b"},
		{[]plan.Target{{Name: "n", Kind: plan.Plugin, Dir: filepath.Join(root, "needed"), Version: "1"}, {Name: "u", Kind: plan.Plugin, Dir: filepath.Join(root, "user")}},
			"versioned, but its module example.com/needed is required by example.com/user"},
	} {
		_, err := Discover(tt.targets)
		if err == nil || !strings.HasSuffix(err.Error(), tt.want) {
			t.Errorf("got %v, want ...%s", err, tt.want)
		}
	}
}
