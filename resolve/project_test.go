package resolve

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/pbuild/pbuild/internal/container/containertest"

	"github.com/pbuild/pbuild/plan"
)

// The tests in this file are about what a user's project says that pbuild
// used to drop or leave pointing at the user's machine.

// TestStageFollowsLinkedDirectories: a package directory reached through
// a symbolic link is staged (the go command builds it), a link back up is
// not walked forever, and a link to another module stays that module's.
func TestStageFollowsLinkedDirectories(t *testing.T) {
	root := realDir(t, t.TempDir())
	containertest.WriteFiles(t, root, greeterFiles())
	containertest.WriteFiles(t, root, files{"shared/util/util.go": "package util\n", "host/deep/x.go": "package deep\n"})
	for link, target := range map[string]string{
		"host/util":      "../shared/util",
		"host/deep/loop": ".",
	} {
		p := filepath.Join(root, filepath.FromSlash(link))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	ws, err := Discover(greeterTargets(root))
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := Stage(ws, dst, "1.24.4", nil); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dst, "host", "util", "util.go")); err != nil || string(data) != "package util\n" {
		t.Errorf("host/util/util.go staged as %q, %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(dst, "host", "deep", "loop")); err == nil {
		t.Error("a link back up was walked again")
	}
	if _, err := os.Stat(filepath.Join(dst, "host", "deep", "x.go")); err != nil {
		t.Error("host/deep/x.go was not staged")
	}
}

// TestStageAbsoluteReplace: a replace by an absolute directory points at
// the staged copy of that module (it was left pointing at the user's
// machine: "conflicting replacements").
func TestStageAbsoluteReplace(t *testing.T) {
	root := realDir(t, t.TempDir())
	fs := greeterFiles()
	fs["plugins/count/go.mod"] = strings.Replace(fs["plugins/count/go.mod"], "=> ../../api", "=> "+filepath.Join(root, "api"), 1)
	containertest.WriteFiles(t, root, fs)
	ws, err := Discover(greeterTargets(root))
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := Stage(ws, dst, "1.24.4", nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dst, "plugins", "count", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Replace) != 1 || f.Replace[0].New.Path != "../../api" {
		t.Errorf("staged replace %+v, want ../../api\n%s", f.Replace[0].New, data)
	}
	// The user's file is untouched.
	if orig, _ := os.ReadFile(filepath.Join(root, "plugins", "count", "go.mod")); !strings.Contains(string(orig), filepath.Join(root, "api")) {
		t.Error("the user's go.mod was changed")
	}
}

// TestDiscoverWorkFile: modules joined only by the project's go.work are
// part of the build (they were ignored, and then the module proxy said
// 400), and its version replacements are kept.
func TestDiscoverWorkFile(t *testing.T) {
	root := realDir(t, t.TempDir())
	fs := greeterFiles()
	// The host needs example.com/extra, which nothing replaces: only the
	// go.work brings it in.
	fs["host/go.mod"] = strings.Replace(fs["host/go.mod"], "example.com/greeter/api v0.0.0\n", "example.com/greeter/api v0.0.0\n\texample.com/extra v0.0.0\n", 1)
	fs["extra/go.mod"] = "module example.com/extra\n\ngo 1.24\n"
	fs["extra/extra.go"] = "package extra\n"
	fs["go.work"] = "go 1.24\n\nuse (\n\t./host\n\t./extra\n)\n\nreplace golang.org/x/text v0.20.0 => golang.org/x/text v0.19.0\n"
	containertest.WriteFiles(t, root, fs)
	if got := FindWorkFile(filepath.Join(root, "host")); got != filepath.Join(root, "go.work") {
		t.Fatalf("FindWorkFile = %q", got)
	}
	ws, err := Discover(greeterTargets(root), WithWorkFile(filepath.Join(root, "go.work")))
	if err != nil {
		t.Fatal(err)
	}
	var joined []string
	for _, m := range ws.Joined {
		joined = append(joined, m.Path)
	}
	if !slices.Equal(joined, []string{"example.com/extra"}) {
		t.Errorf("joined %v, want example.com/extra", joined)
	}
	dst := t.TempDir()
	if err := Stage(ws, dst, "1.24.4", nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dst, "go.work"))
	wf, err := modfile.ParseWork("go.work", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	var uses []string
	for _, u := range wf.Use {
		uses = append(uses, u.Path)
	}
	if !slices.Contains(uses, "./extra") {
		t.Errorf("staged go.work uses %v, want ./extra among them", uses)
	}
	if len(wf.Replace) != 1 || wf.Replace[0].New.Version != "v0.19.0" {
		t.Errorf("staged go.work replaces %v\n%s", wf.Replace, data)
	}
}

// TestDiscoverModuleMain: a plugin whose module is named main cannot be
// loaded; that is said when planning, with the fix (it used to fail after
// the build with "this should not happen").
func TestDiscoverModuleMain(t *testing.T) {
	root := realDir(t, t.TempDir())
	containertest.WriteFiles(t, root, files{
		"host/go.mod": "module example.com/host\n\ngo 1.24\n", "host/main.go": mainGo("host"),
		"p/go.mod": "module main\n\ngo 1.24\n", "p/main.go": mainGo("p"),
	})
	_, err := Discover([]plan.Target{{Name: "host", Kind: plan.Host, Dir: filepath.Join(root, "host")}, {Name: "p", Kind: plan.Plugin, Dir: filepath.Join(root, "p")}})
	var te *TargetError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "module is named main") || !strings.Contains(te.Hint(), "rename the module in "+filepath.Join(root, "p", "go.mod")) {
		t.Fatalf("got %v, want a TargetError about module main", err)
	}
}
