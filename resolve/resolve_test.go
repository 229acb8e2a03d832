package resolve

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/dirhash"

	"github.com/pbuild/pbuild/internal/container/containertest"
	"github.com/pbuild/pbuild/manifests"

	"github.com/pbuild/pbuild/plan"
)

// greeterList is `go list -m -json all` over the greeter workspace, as the
// go command prints it: indented objects, main modules first.
const greeterList = `{
	"Path": "example.com/greeter/api",
	"Main": true,
	"Dir": "/src/api",
	"GoMod": "/src/api/go.mod",
	"GoVersion": "1.24"
}
{
	"Path": "example.com/greeter/host",
	"Main": true,
	"Dir": "/src/host",
	"GoMod": "/src/host/go.mod",
	"GoVersion": "1.24"
}
{
	"Path": "example.com/greeter/plugins/count",
	"Main": true,
	"Dir": "/src/plugins/count",
	"GoMod": "/src/plugins/count/go.mod",
	"GoVersion": "1.24"
}
{
	"Path": "example.com/greeter/plugins/hello",
	"Main": true,
	"Dir": "/src/plugins/hello",
	"GoMod": "/src/plugins/hello/go.mod",
	"GoVersion": "1.24"
}
{
	"Path": "golang.org/x/text",
	"Version": "v0.21.0",
	"Time": "2024-12-04T17:30:16Z",
	"Dir": "/go/pkg/mod/golang.org/x/text@v0.21.0",
	"GoMod": "/go/pkg/mod/cache/download/golang.org/x/text/@v/v0.21.0.mod",
	"GoVersion": "1.18"
}
{
	"Path": "golang.org/x/tools",
	"Version": "v0.6.0",
	"Time": "2023-02-08T18:13:54Z",
	"GoMod": "/go/pkg/mod/cache/download/golang.org/x/tools/@v/v0.6.0.mod",
	"GoVersion": "1.18"
}
{
	"Path": "example.com/old",
	"Version": "v1.0.0",
	"Replace": {
		"Path": "example.com/fork",
		"Version": "v1.0.1",
		"GoMod": "/go/pkg/mod/cache/download/example.com/fork/@v/v1.0.1.mod"
	},
	"GoMod": "/go/pkg/mod/cache/download/example.com/fork/@v/v1.0.1.mod"
}
{
	"Path": "example.com/fromworksum",
	"Version": "v0.3.0"
}
`

// greeterSums are the go.sum lines the staged greeter workspace needs for
// greeterList, beyond greeterFiles' own: the fork in host/go.sum, and a
// module only go.work.sum knows.
var (
	sumText   = containertest.FakeSum("text 0.21.0")
	sumFork   = containertest.FakeSum("fork 1.0.1")
	sumWork   = containertest.FakeSum("fromworksum 0.3.0")
	extraSums = files{
		"host/go.sum": "golang.org/x/text v0.21.0 " + sumText + "\n" +
			"golang.org/x/text v0.21.0/go.mod " + containertest.FakeSum("text 0.21.0 go.mod") + "\n" +
			"golang.org/x/tools v0.6.0/go.mod " + containertest.FakeSum("tools go.mod") + "\n" +
			"example.com/fork v1.0.1 " + sumFork + "\n" +
			"example.com/fork v1.0.1/go.mod " + containertest.FakeSum("fork go.mod") + "\n" +
			"not a go.sum line\n" + "\n",
		"go.work.sum": "example.com/fromworksum v0.3.0 " + sumWork + "\n",
	}
)

func TestParseBuildList(t *testing.T) {
	got, err := ParseBuildList([]byte(greeterList))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 8 {
		t.Fatalf("parsed %d modules, want 8: %+v", len(got), got)
	}
	want := []Listed{
		{Path: "example.com/greeter/api", Main: true, Dir: "/src/api"},
		{Path: "golang.org/x/text", Version: "v0.21.0", Dir: "/go/pkg/mod/golang.org/x/text@v0.21.0"},
		{Path: "example.com/old", Version: "v1.0.0", Replace: &Listed{Path: "example.com/fork", Version: "v1.0.1"}},
	}
	for i, w := range want {
		idx := []int{0, 4, 6}[i]
		if !reflect.DeepEqual(got[idx], w) {
			t.Errorf("module %d = %+v, want %+v", idx, got[idx], w)
		}
	}

	if got, err := ParseBuildList(nil); err != nil || len(got) != 0 {
		t.Errorf("ParseBuildList(empty) = %v, %v; want nothing", got, err)
	}
	if _, err := ParseBuildList([]byte(greeterList + "{\"Path\": ")); err == nil || !strings.HasPrefix(err.Error(), "parse build list: ") {
		t.Errorf("truncated stream: error %v, want parse build list: ...", err)
	}
}

func TestReadSums(t *testing.T) {
	_, ws := greeter(t)
	dir := t.TempDir()
	if err := Stage(ws, dir, "1.24.4", nil); err != nil {
		t.Fatal(err)
	}
	containertest.WriteFiles(t, dir, extraSums)
	sums, err := readSums(dir, ws)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"golang.org/x/text v0.21.0":      sumText,
		"golang.org/x/text v0.20.0":      containertest.FakeSum("text 0.20.0"), // plugins/hello/go.sum
		"example.com/fork v1.0.1":        sumFork,
		"example.com/fromworksum v0.3.0": sumWork,
	}
	if !reflect.DeepEqual(sums, want) {
		t.Errorf("readSums =\n%v\nwant\n%v", sums, want)
	}
}

func TestBuildList(t *testing.T) {
	_, ws := greeter(t)
	dir := t.TempDir()
	if err := Stage(ws, dir, "1.24.4", nil); err != nil {
		t.Fatal(err)
	}
	containertest.WriteFiles(t, dir, extraSums)
	listed, err := ParseBuildList([]byte(greeterList))
	if err != nil {
		t.Fatal(err)
	}
	sums, err := readSums(dir, ws)
	if err != nil {
		t.Fatal(err)
	}
	got, err := BuildList(listed, ws, dir, sums)
	if err != nil {
		t.Fatal(err)
	}

	local := func(path, rel string) manifests.Module {
		// Independently: every file of the staged module (these fixtures
		// have no nested modules or vendor directories).
		h, err := dirhash.HashDir(filepath.Join(dir, filepath.FromSlash(rel)), "", dirhash.Hash1)
		if err != nil {
			t.Fatal(err)
		}
		return manifests.Module{Path: path, Sum: h, Local: true, Dir: rel}
	}
	want := []manifests.Module{
		local("example.com/greeter/api", "api"),
		local("example.com/greeter/host", "host"),
		local("example.com/greeter/plugins/count", "plugins/count"),
		local("example.com/greeter/plugins/hello", "plugins/hello"),
		{Path: "example.com/fromworksum", Version: "v0.3.0", Sum: sumWork},
		{Path: "example.com/old", Version: "v1.0.0", Sum: sumFork, Replace: "example.com/fork@v1.0.1"},
		{Path: "golang.org/x/text", Version: "v0.21.0", Sum: sumText},
		// golang.org/x/tools has only a go.mod hash: it provides no
		// package, so it is left out.
	}
	slices.SortFunc(want, func(a, b manifests.Module) int { return strings.Compare(a.Path, b.Path) })
	if !reflect.DeepEqual(got, want) {
		t.Errorf("BuildList =\n%s\nwant\n%s", fmtModules(got), fmtModules(want))
	}
	// The four local hashes differ: each covers its own module.
	seen := map[string]bool{}
	for _, m := range got {
		if m.Local {
			if seen[m.Sum] {
				t.Errorf("two local modules share the hash %s", m.Sum)
			}
			seen[m.Sum] = true
		}
	}
}

func fmtModules(ms []manifests.Module) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "  %+v\n", m)
	}
	return b.String()
}

func TestBuildListErrors(t *testing.T) {
	_, ws := greeter(t)
	dir := t.TempDir()
	if err := Stage(ws, dir, "1.24.4", nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		listed []Listed
		want   string
	}{
		{
			name:   "main module not in the workspace",
			listed: []Listed{{Path: "example.com/ghost", Main: true, Dir: "/src/ghost"}},
			want:   "build list: workspace module example.com/ghost is unknown",
		},
		{
			name:   "directory replacement outside the workspace",
			listed: []Listed{{Path: "example.com/lib", Version: "v1.0.0", Replace: &Listed{Path: "../lib", Dir: "/lib"}}},
			want:   "build list: example.com/lib is replaced by directory ../lib outside the workspace",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := BuildList(tt.listed, ws, dir, map[string]string{})
			if err == nil || err.Error() != tt.want {
				t.Errorf("BuildList error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestRaisedRequirements(t *testing.T) {
	_, ws := greeter(t)
	listed, err := ParseBuildList([]byte(greeterList))
	if err != nil {
		t.Fatal(err)
	}
	got := RaisedRequirements(ws, listed)
	var lines []string
	for _, r := range got {
		lines = append(lines, r.String())
	}
	want := []string{"plugin hello asks golang.org/x/text v0.20.0, builds with v0.21.0"}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("raised = %q, want %q", lines, want)
	}
	if len(got) == 1 {
		r := got[0]
		if r.Module != "example.com/greeter/plugins/hello" || !reflect.DeepEqual(r.Artifacts, []string{"plugin hello"}) || r.Dep != "golang.org/x/text" || r.Asked != "v0.20.0" || r.Got != "v0.21.0" {
			t.Errorf("raised = %+v", r)
		}
	}

	// When the build list selects what everyone asks for, nothing is raised.
	same := slices.Clone(listed)
	for i := range same {
		if same[i].Path == "golang.org/x/text" {
			same[i].Version = "v0.20.0"
		}
	}
	// hello asks v0.20.0 (equal), host asks v0.21.0 (higher than selected:
	// lowered, which MVS cannot do, but it is not "raised" either).
	if got := RaisedRequirements(ws, same); len(got) != 0 {
		t.Errorf("raised with equal versions = %v, want none", got)
	}
}

func TestRaisedRequirementsOrderAndNames(t *testing.T) {
	root := realDir(t, t.TempDir())
	containertest.WriteFiles(t, root, files{
		"host/go.mod":  "module example.com/host\n\nrequire (\n\texample.com/z v1.0.0\n\texample.com/a v1.0.0\n\texample.com/lib v0.0.0\n)\n\nreplace example.com/lib => ../lib\n",
		"host/main.go": mainGo("host"),
		// lib holds no artifact: it is named as a module.
		"lib/go.mod":    "module example.com/lib\n\nrequire example.com/a v1.1.0\n",
		"lib/lib.go":    "package lib\n",
		"p/go.mod":      "module example.com/p\n\nrequire example.com/a v1.0.0\n",
		"p/main.go":     mainGo("p"),
		"p/q/main.go":   mainGo("q"),
		"unused/go.mod": "module example.com/unused\n",
	})
	ws, err := Discover([]plan.Target{
		{Name: "h", Kind: plan.Host, Dir: filepath.Join(root, "host")},
		{Name: "p", Kind: plan.Plugin, Dir: filepath.Join(root, "p")},
		{Name: "q", Kind: plan.Plugin, Dir: filepath.Join(root, "p", "q")},
	})
	if err != nil {
		t.Fatal(err)
	}
	listed := []Listed{
		{Path: "example.com/host", Main: true},
		{Path: "example.com/lib", Main: true},
		{Path: "example.com/p", Main: true},
		{Path: "example.com/a", Version: "v1.2.0"},
		{Path: "example.com/z", Version: "v1.0.0"},
	}
	var got []string
	for _, r := range RaisedRequirements(ws, listed) {
		got = append(got, r.String())
	}
	want := []string{
		"host h asks example.com/a v1.0.0, builds with v1.2.0",
		"module example.com/lib asks example.com/a v1.1.0, builds with v1.2.0",
		"plugin p, plugin q asks example.com/a v1.0.0, builds with v1.2.0",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("raised =\n%q\nwant\n%q", got, want)
	}
}

func TestErrorHint(t *testing.T) {
	tests := []struct {
		output string
		want   string // a fragment of the hint
	}{
		{"go: example.com/p: missing go.sum entry for module providing package golang.org/x/text/cases", "go mod tidy"},
		{"go: updates to go.mod needed; to update it:\n\tgo mod tidy", "go mod tidy"},
		{"tls: failed to verify certificate: x509: certificate signed by unknown authority", "SSL_CERT_FILE"},
		{"go: example.com/m requires go >= 1.25.0 (running go 1.24.4; GOTOOLCHAIN=local)", "raise toolchain.go"},
		{"go: something else", "fix the module problem"},
	}
	for _, tt := range tests {
		e := &Error{Step: "go work vendor", Code: 1, Output: tt.output}
		if h := e.Hint(); !strings.Contains(h, tt.want) {
			t.Errorf("Hint for %q = %q, want it to mention %q", tt.output, h, tt.want)
		}
	}
	e := &Error{Step: "go list -m all", Code: 1, Output: "\n  go: boom  \n"}
	if got, want := e.Error(), "resolve: go list -m all failed (exit 1):\ngo: boom"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestRaisedRequirementsSeeReplacements: a module replaced by another
// version of itself builds with the replacement's: a requirement it meets
// is not raised.
func TestRaisedRequirementsSeeReplacements(t *testing.T) {
	_, ws := greeter(t)
	listed := []Listed{
		{Path: "example.com/greeter/plugins/hello", Main: true},
		{Path: "golang.org/x/text", Version: "v0.21.0", Replace: &Listed{Path: "golang.org/x/text", Version: "v0.20.0"}},
	}
	for _, r := range RaisedRequirements(ws, listed) {
		if r.Dep == "golang.org/x/text" && r.Asked == "v0.20.0" {
			t.Errorf("raised %s, but the build uses v0.20.0", r)
		}
	}
}
