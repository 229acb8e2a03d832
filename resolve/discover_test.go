package resolve

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbuild/pbuild/internal/container/containertest"

	"github.com/pbuild/pbuild/plan"
)

// pkgView is what a test checks of a discovered package.
type pkgView struct {
	Name       string
	Kind       plan.Kind
	ImportPath string
	Module     string
	Rel        string
}

func TestDiscover(t *testing.T) {
	tests := []struct {
		name    string
		files   files
		targets func(root string) []plan.Target
		// root is the expected workspace root, relative to the temp dir.
		root    string
		modules string // moduleRels
		pkgs    []pkgView
	}{
		{
			name:    "greeter: api found through the replace directives",
			files:   greeterFiles(),
			targets: greeterTargets,
			root:    ".",
			modules: "api=example.com/greeter/api host=example.com/greeter/host plugins/count=example.com/greeter/plugins/count plugins/hello=example.com/greeter/plugins/hello",
			pkgs: []pkgView{
				{"greeter", plan.Host, "example.com/greeter/host", "example.com/greeter/host", "host"},
				{"count", plan.Plugin, "example.com/greeter/plugins/count", "example.com/greeter/plugins/count", "plugins/count"},
				{"hello", plan.Plugin, "example.com/greeter/plugins/hello", "example.com/greeter/plugins/hello", "plugins/hello"},
			},
		},
		{
			name: "replace chain two deep",
			files: files{
				"app/go.mod":  "module example.com/app\n\ngo 1.24\n\nrequire example.com/lib v0.0.0\n\nreplace example.com/lib => ../libs/lib\n",
				"app/main.go": mainGo("app"),
				"libs/lib/go.mod": "module example.com/lib\n\ngo 1.24\n\nrequire example.com/base v0.0.0\n\n" +
					"replace example.com/base => ../../base\n",
				"libs/lib/lib.go": "package lib\n",
				// base replaces a module with a version: not local, not followed.
				"base/go.mod":      "module example.com/base\n\ngo 1.24\n\nreplace golang.org/x/text => golang.org/x/text v0.21.0\n",
				"base/base.go":     "package base\n",
				"unrelated/go.mod": "module example.com/unrelated\n",
			},
			targets: func(root string) []plan.Target {
				return []plan.Target{{Name: "app", Kind: plan.Host, Dir: filepath.Join(root, "app")}}
			},
			root:    ".",
			modules: "app=example.com/app base=example.com/base libs/lib=example.com/lib",
			pkgs:    []pkgView{{"app", plan.Host, "example.com/app", "example.com/app", "app"}},
		},
		{
			name: "packages in subdirectories of one module",
			files: files{
				"repo/go.mod":                "module example.com/mono\n\ngo 1.24\n",
				"repo/cmd/host/main.go":      mainGo("host"),
				"repo/plugins/p/main.go":     mainGo("p"),
				"repo/plugins/p/p_test.go":   "package p_test\n",
				"repo/plugins/p/_ignored.go": "package ignored\n",
				"repo/internal/x/x.go":       "package x\n",
			},
			targets: func(root string) []plan.Target {
				return []plan.Target{
					{Name: "host", Kind: plan.Host, Dir: filepath.Join(root, "repo", "cmd", "host")},
					{Name: "p", Kind: plan.Plugin, Dir: filepath.Join(root, "repo", "plugins", "p")},
				}
			},
			root:    "repo",
			modules: ".=example.com/mono",
			pkgs: []pkgView{
				{"host", plan.Host, "example.com/mono/cmd/host", "example.com/mono", "cmd/host"},
				{"p", plan.Plugin, "example.com/mono/plugins/p", "example.com/mono", "plugins/p"},
			},
		},
		{
			name: "root is the deepest common ancestor",
			files: files{
				"w/x/deep/host/go.mod":  "module example.com/host\n\nreplace example.com/api => ../../../y/api\n",
				"w/x/deep/host/main.go": mainGo("host"),
				"w/y/api/go.mod":        "module example.com/api\n",
			},
			targets: func(root string) []plan.Target {
				return []plan.Target{{Name: "host", Kind: plan.Host, Dir: filepath.Join(root, "w", "x", "deep", "host")}}
			},
			root:    "w",
			modules: "x/deep/host=example.com/host y/api=example.com/api",
			pkgs:    []pkgView{{"host", plan.Host, "example.com/host", "example.com/host", "x/deep/host"}},
		},
		{
			name: "a plugin in the host module's root directory tree",
			files: files{
				"go.mod":            "module example.com/app\n",
				"main.go":           mainGo("host"),
				"plugins/a/main.go": mainGo("a"),
				"plugins/b/go.mod":  "module example.com/b\n\nreplace example.com/app => ../..\n",
				"plugins/b/b.go":    mainGo("b"),
			},
			targets: func(root string) []plan.Target {
				return []plan.Target{
					{Name: "app", Kind: plan.Host, Dir: root},
					{Name: "a", Kind: plan.Plugin, Dir: filepath.Join(root, "plugins", "a")},
					{Name: "b", Kind: plan.Plugin, Dir: filepath.Join(root, "plugins", "b")},
				}
			},
			root:    ".",
			modules: ".=example.com/app plugins/b=example.com/b",
			pkgs: []pkgView{
				{"app", plan.Host, "example.com/app", "example.com/app", "."},
				{"a", plan.Plugin, "example.com/app/plugins/a", "example.com/app", "plugins/a"},
				{"b", plan.Plugin, "example.com/b", "example.com/b", "plugins/b"},
			},
		},
		{
			// Issue 12: two copies of one plugin module, at two versions,
			// were refused as "declared twice".
			name:    "two copies of one plugin module at two versions",
			files:   sideBySideFiles(),
			targets: sideBySideTargets("0.1", "0.2"),
			root:    ".",
			modules: "api=example.com/api greet1=example.com/greet greet2=example.com/greet host=example.com/host",
			pkgs: []pkgView{
				{"host", plan.Host, "example.com/host", "example.com/host", "host"},
				{"greet-0.1", plan.Plugin, "example.com/greet/v0_1", "example.com/greet", "greet1"},
				{"greet-0.2", plan.Plugin, "example.com/greet/v0_2", "example.com/greet", "greet2"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := realDir(t, t.TempDir())
			containertest.WriteFiles(t, tmp, tt.files)
			ws, err := Discover(tt.targets(tmp))
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(tmp, filepath.FromSlash(tt.root)); ws.Root != want {
				t.Errorf("Root = %s, want %s", ws.Root, want)
			}
			if got := moduleRels(ws); got != tt.modules {
				t.Errorf("modules = %s\nwant      %s", got, tt.modules)
			}
			for _, m := range ws.Modules {
				if want := filepath.Join(ws.Root, filepath.FromSlash(m.Rel)); m.Dir != want {
					t.Errorf("module %s: Dir = %s, want %s", m.Path, m.Dir, want)
				}
				if m.File == nil || m.File.Module.Mod.Path != m.Path {
					t.Errorf("module %s: File does not hold its go.mod", m.Path)
				}
			}
			var got []pkgView
			for _, p := range ws.Packages {
				got = append(got, pkgView{p.Name, p.Kind, p.ImportPath, p.Module.Path, p.Rel})
			}
			if len(got) != len(tt.pkgs) {
				t.Fatalf("packages = %+v\nwant       %+v", got, tt.pkgs)
			}
			for i := range got {
				if got[i] != tt.pkgs[i] {
					t.Errorf("package %d = %+v\nwant        %+v", i, got[i], tt.pkgs[i])
				}
			}
		})
	}
}

// noModuleAbove reports whether no go.mod governs dir.
func noModuleAbove(dir string) bool {
	_, found := findModule(dir)
	return !found
}

func TestDiscoverErrors(t *testing.T) {
	tests := []struct {
		name    string
		files   files
		targets func(root string) []plan.Target
		// want is the exact error text; "ROOT" stands for the temp dir.
		want     string
		kind     string // "target" or "module": the error's type
		needNoGo bool   // needs a temp dir with no go.mod above it
	}{
		{
			name:  "missing directory",
			files: greeterFiles(),
			targets: func(root string) []plan.Target {
				return append(greeterTargets(root), plan.Target{Name: "gone", Kind: plan.Plugin, Dir: filepath.Join(root, "plugins", "gone")})
			},
			want: "plugin gone (ROOT/plugins/gone): directory does not exist",
			kind: "target",
		},
		{
			name:  "a file, not a directory",
			files: files{"host/go.mod": "module example.com/h\n", "host/main.go": mainGo("h")},
			targets: func(root string) []plan.Target {
				return []plan.Target{{Name: "h", Kind: plan.Host, Dir: filepath.Join(root, "host", "main.go")}}
			},
			want: "host h (ROOT/host/main.go): directory does not exist",
			kind: "target",
		},
		{
			name:  "no go.mod above",
			files: files{"host/main.go": mainGo("h")},
			targets: func(root string) []plan.Target {
				return []plan.Target{{Name: "h", Kind: plan.Host, Dir: filepath.Join(root, "host")}}
			},
			want:     "host h (ROOT/host): not inside a Go module (no go.mod above it)",
			kind:     "target",
			needNoGo: true,
		},
		{
			name: "not a main package",
			files: files{
				"host/go.mod":  "module example.com/h\n",
				"host/main.go": mainGo("h"),
				"lib/go.mod":   "module example.com/lib\n",
				"lib/lib.go":   "package foo\n",
			},
			targets: func(root string) []plan.Target {
				return []plan.Target{
					{Name: "h", Kind: plan.Host, Dir: filepath.Join(root, "host")},
					{Name: "lib", Kind: plan.Plugin, Dir: filepath.Join(root, "lib")},
				}
			},
			want: "plugin lib (ROOT/lib): package foo is not a main package",
			kind: "target",
		},
		{
			name: "no Go files",
			files: files{
				"host/go.mod":     "module example.com/h\n",
				"host/README":     "docs only\n",
				"host/x_test.go":  "package main\n",
				"host/.hidden.go": "package main\n",
			},
			targets: func(root string) []plan.Target {
				return []plan.Target{{Name: "h", Kind: plan.Host, Dir: filepath.Join(root, "host")}}
			},
			want: "host h (ROOT/host): no Go files",
			kind: "target",
		},
		{
			name: "two packages in one directory",
			files: files{
				"host/go.mod": "module example.com/h\n",
				"host/a.go":   "package a\n",
				"host/b.go":   "package b\n",
			},
			targets: func(root string) []plan.Target {
				return []plan.Target{{Name: "h", Kind: plan.Host, Dir: filepath.Join(root, "host")}}
			},
			want: "host h (ROOT/host): more than one package",
			kind: "target",
		},
		{
			name:  "one directory listed as two plugins",
			files: greeterFiles(),
			targets: func(root string) []plan.Target {
				return append(greeterTargets(root), plan.Target{Name: "hello2", Kind: plan.Plugin, Dir: filepath.Join(root, "plugins", "hello")})
			},
			want: "plugin hello2 (ROOT/plugins/hello): pluginpath example.com/greeter/plugins/hello is also plugin hello's",
			kind: "target",
		},
		{
			// Different directories, different modules, one import path.
			name: "two plugin directories with one import path",
			files: files{
				"host/go.mod":  "module example.com/h\n",
				"host/main.go": mainGo("h"),
				"a/go.mod":     "module example.com/p\n",
				"a/main.go":    mainGo("a"),
				"b/go.mod":     "module example.com\n",
				"b/p/main.go":  mainGo("b"),
			},
			targets: func(root string) []plan.Target {
				return []plan.Target{
					{Name: "h", Kind: plan.Host, Dir: filepath.Join(root, "host")},
					{Name: "a", Kind: plan.Plugin, Dir: filepath.Join(root, "a")},
					{Name: "b", Kind: plan.Plugin, Dir: filepath.Join(root, "b", "p")},
				}
			},
			want: "plugin b (ROOT/b/p): pluginpath example.com/p is also plugin a's",
			kind: "target",
		},
		{
			name: "two directories declaring one module path",
			files: files{
				"host/go.mod":   "module example.com/dup\n",
				"host/main.go":  mainGo("h"),
				"other/go.mod":  "module example.com/dup\n",
				"other/main.go": mainGo("o"),
			},
			targets: func(root string) []plan.Target {
				return []plan.Target{
					{Name: "h", Kind: plan.Host, Dir: filepath.Join(root, "host")},
					{Name: "o", Kind: plan.Plugin, Dir: filepath.Join(root, "other")},
				}
			},
			want: "module example.com/dup: declared twice, in ROOT/host and ROOT/other",
			kind: "duplicate",
		},
		{
			// Two copies of one plugin module at one version would be
			// one module of the staged workspace.
			name:    "two copies of one plugin module at one version",
			files:   sideBySideFiles(),
			targets: sideBySideTargets("0.1", "0.1"),
			want:    "module example.com/greet: declared twice, in ROOT/greet1 and ROOT/greet2, both staged as example.com/greet/v0_1",
			kind:    "duplicate",
		},
		{
			// Copies build side by side only when each is a versioned
			// plugin's: the unversioned one would be the module every
			// requirement of the path names.
			name:    "two copies of one plugin module, one without a version",
			files:   sideBySideFiles(),
			targets: sideBySideTargets("", "0.2"),
			want:    "module example.com/greet: declared twice, in ROOT/greet1 and ROOT/greet2",
			kind:    "duplicate",
		},
		{
			name:    "two copies of one plugin module without versions",
			files:   sideBySideFiles(),
			targets: sideBySideTargets("", ""),
			want:    "module example.com/greet: declared twice, in ROOT/greet1 and ROOT/greet2",
			kind:    "duplicate",
		},
		{
			// A versioned copy may not take a path another module has.
			name: "a module declaring a versioned plugin's staged path",
			files: func() files {
				f := sideBySideFiles()
				f["greet2/go.mod"] = "module example.com/greet/v0_1\n\ngo 1.24\n"
				return f
			}(),
			targets: sideBySideTargets("0.1", ""),
			want:    "module example.com/greet in ROOT/greet1 and module example.com/greet/v0_1 in ROOT/greet2 are both staged as example.com/greet/v0_1",
			kind:    "duplicate",
		},
		{
			name: "two replacements declaring one module path",
			files: files{
				"host/go.mod":     "module example.com/host\n\nreplace example.com/api => ../api\n",
				"host/main.go":    mainGo("h"),
				"plugin/go.mod":   "module example.com/plugin\n\nreplace example.com/api => ../api-copy\n",
				"plugin/main.go":  mainGo("p"),
				"api/go.mod":      "module example.com/api\n",
				"api-copy/go.mod": "module example.com/api\n",
			},
			targets: func(root string) []plan.Target {
				return []plan.Target{
					{Name: "h", Kind: plan.Host, Dir: filepath.Join(root, "host")},
					{Name: "p", Kind: plan.Plugin, Dir: filepath.Join(root, "plugin")},
				}
			},
			want: "module example.com/api: declared twice, in ROOT/api and ROOT/api-copy",
			kind: "duplicate",
		},
		{
			name: "replacement directory without go.mod",
			files: files{
				"host/go.mod":  "module example.com/host\n\nreplace example.com/api => ../nope\n",
				"host/main.go": mainGo("h"),
			},
			targets: func(root string) []plan.Target {
				return []plan.Target{{Name: "h", Kind: plan.Host, Dir: filepath.Join(root, "host")}}
			},
			want: "module example.com/api: replaced by ../nope in example.com/host: read module ROOT/nope: open ROOT/nope/go.mod: no such file or directory",
			kind: "module",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := realDir(t, t.TempDir())
			if tt.needNoGo && !noModuleAbove(root) {
				t.Skipf("a go.mod above %s governs the temp dir", root)
			}
			containertest.WriteFiles(t, root, tt.files)
			ws, err := Discover(tt.targets(root))
			if err == nil {
				t.Fatalf("Discover succeeded with modules %s", moduleRels(ws))
			}
			if want := strings.ReplaceAll(tt.want, "ROOT", root); err.Error() != want {
				t.Errorf("error = %q\nwant    %q", err, want)
			}
			var te *TargetError
			var me *ModuleError
			switch tt.kind {
			case "target":
				if !errors.As(err, &te) {
					t.Fatalf("error is %T, want *TargetError", err)
				}
				if te.Hint() == "" {
					t.Error("TargetError has no hint")
				}
			case "module":
				if !errors.As(err, &me) {
					t.Fatalf("error is %T, want *ModuleError", err)
				}
				if !strings.Contains(me.Hint(), "go.mod") {
					t.Errorf("ModuleError hint %q does not mention go.mod", me.Hint())
				}
			case "duplicate":
				var de *DuplicateModuleError
				if !errors.As(err, &de) {
					t.Fatalf("error is %T, want *DuplicateModuleError", err)
				}
				if !errors.As(err, &me) {
					t.Error("a DuplicateModuleError is not a *ModuleError")
				}
				// The hint names both directories.
				for _, c := range de.Copies {
					if !strings.Contains(de.Hint(), c.Dir) {
						t.Errorf("hint %q does not name %s", de.Hint(), c.Dir)
					}
				}
				// Two plugin copies: the fix is a version for each.
				plugins := de.Copies[0].Versionable && de.Copies[1].Versionable
				if got := strings.Contains(de.Hint(), "`version:`"); got != plugins {
					t.Errorf("hint %q: mentions version: %v, want %v (both copies hold plugins: %v)", de.Hint(), got, plugins, plugins)
				}
			}
		})
	}
}

func TestDiscoverDoesNotWrite(t *testing.T) {
	root, _ := greeter(t)
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "README.md api host plugins" {
		t.Errorf("project holds %s after Discover", got)
	}
}
