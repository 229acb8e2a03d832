package resolve

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbuild/pbuild/internal/container/containertest"

	"github.com/pbuild/pbuild/plan"
)

// files is a file tree to write: slash path -> content.
type files map[string]string

// realDir returns dir with symbolic links resolved, so expected paths match
// whatever the code computes from it.
func realDir(t *testing.T, dir string) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mainGo(doc string) string {
	return "// " + doc + "\npackage main\n\nfunc main() {}\n"
}

// greeterFiles is a project laid out like examples/greeter: a shared api
// module, a host and two plugins in modules of their own that replace the
// api module with a relative path. hello asks for an older x/text than the
// host.
func greeterFiles() files {
	return files{
		"api/go.mod": "module example.com/greeter/api\n\ngo 1.24\n",
		"api/api.go": "package api\n\ntype Greeter interface{ Greet(string) string }\n",

		"host/go.mod": `module example.com/greeter/host

go 1.24

require (
	example.com/greeter/api v0.0.0
	golang.org/x/text v0.21.0
)

replace example.com/greeter/api => ../api
`,
		"host/go.sum": "golang.org/x/text v0.21.0 " + containertest.FakeSum("text 0.21.0") + "\n" +
			"golang.org/x/text v0.21.0/go.mod " + containertest.FakeSum("text 0.21.0 go.mod") + "\n",
		"host/main.go": mainGo("host"),

		"plugins/hello/go.mod": `module example.com/greeter/plugins/hello

go 1.24

require (
	example.com/greeter/api v0.0.0
	golang.org/x/text v0.20.0
)

replace example.com/greeter/api => ../../api
`,
		"plugins/hello/go.sum": "golang.org/x/text v0.20.0 " + containertest.FakeSum("text 0.20.0") + "\n" +
			"golang.org/x/text v0.20.0/go.mod " + containertest.FakeSum("text 0.20.0 go.mod") + "\n",
		"plugins/hello/main.go": mainGo("hello"),

		"plugins/count/go.mod": `module example.com/greeter/plugins/count

go 1.24

require example.com/greeter/api v0.0.0

replace example.com/greeter/api => ../../api
`,
		"plugins/count/main.go": mainGo("count"),

		"README.md": "not part of any module\n",
	}
}

// greeterTargets are the host and plugins of greeterFiles under root.
func greeterTargets(root string) []plan.Target {
	return []plan.Target{
		{Name: "greeter", Kind: plan.Host, Dir: filepath.Join(root, "host")},
		{Name: "count", Kind: plan.Plugin, Dir: filepath.Join(root, "plugins", "count")},
		{Name: "hello", Kind: plan.Plugin, Dir: filepath.Join(root, "plugins", "hello")},
	}
}

// greeter writes greeterFiles into a new directory and discovers it.
func greeter(t *testing.T) (root string, ws *Workspace) {
	t.Helper()
	root = realDir(t, t.TempDir())
	containertest.WriteFiles(t, root, greeterFiles())
	ws, err := Discover(greeterTargets(root))
	if err != nil {
		t.Fatal(err)
	}
	return root, ws
}

func moduleRels(ws *Workspace) string {
	var out []string
	for _, m := range ws.Modules {
		out = append(out, m.Rel+"="+m.Path)
	}
	return strings.Join(out, " ")
}
