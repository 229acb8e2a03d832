package builder

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/pbuild/pbuild/config"
	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/plan"
	"github.com/pbuild/pbuild/resolve"
)

func pinned() *manifests.Manifest {
	return &manifests.Manifest{
		ABIKey:    "sha256:" + strings.Repeat("a", 64),
		Toolchain: manifests.Toolchain{Go: "go1.24.4", ModuleSum: "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", BaseImage: "pbuild/base:bookworm", CC: "cc 12"},
		Build:     manifests.Build{Flags: plan.Flags(), Tags: []string{"x"}, Ldflags: "-s", Env: map[string]string{"CGO_ENABLED": "1", "GOAMD64": "v3"}},
		Modules: []manifests.Module{
			{Path: "example.com/api", Local: true, Dir: "api", Sum: "h1:api"},
			{Path: "golang.org/x/text", Version: "v0.21.0", Sum: "h1:t21"},
		},
		Artifacts: []manifests.Artifact{{Name: "greeter", Kind: manifests.KindHost, File: "greeter", SHA256: "h"}},
	}
}

func TestPinApply(t *testing.T) {
	p := &plan.Plan{Settings: plan.Settings{Go: "1.24.3", Base: "other", Tags: []string{"y"}}}
	var events []Step
	err := (&Pin{Manifest: pinned()}).apply(p, func(step Step, format string, args ...any) { events = append(events, step) })
	if err != nil {
		t.Fatal(err)
	}
	want := plan.Settings{Go: "1.24.4", Base: "pbuild/base:bookworm", Sum: "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", Tags: []string{"x"}, Ldflags: "-s", Env: map[string]string{"GOAMD64": "v3"}}
	if !reflect.DeepEqual(p.Settings, want) {
		t.Errorf("settings %+v\nwant     %+v", p.Settings, want)
	}
	if len(events) != 1 {
		t.Errorf("events %v, want one about the toolchain", events)
	}
}

// TestPinAgainstNoHost: a --against manifest without a host is refused
// when the plan is made, before any toolchain, resolve or compile work.
func TestPinAgainstNoHost(t *testing.T) {
	m := pinned()
	m.Artifacts[0].Kind = manifests.KindPlugin
	p := &plan.Plan{Settings: plan.Settings{Go: "1.24.4"}}
	err := (&Pin{Manifest: m, Host: true}).apply(p, func(Step, string, ...any) {})
	var pe *PinError
	if !errors.As(err, &pe) || pe.What != "the --against manifest lists no host" {
		t.Fatalf("apply = %v, want the PinError naming a manifest without a host", err)
	}
}

// TestPinConfigRefusesWhatAConfigMayNotSay: a manifest is input; its
// settings get the config's checks (a rebuild ran GOFLAGS=-toolexec=... from
// a manifest's build.env).
func TestPinConfigRefusesWhatAConfigMayNotSay(t *testing.T) {
	for _, c := range []struct {
		name  string
		edit  func(m *manifests.Manifest)
		field string
	}{
		{"GOFLAGS in env", func(m *manifests.Manifest) { m.Build.Env["GOFLAGS"] = "-toolexec=/bin/false" }, "build.env"},
		{"PATH in env", func(m *manifests.Manifest) { m.Build.Env["PATH"] = "/nonexistent" }, "build.env"},
		{"bad env name", func(m *manifests.Manifest) { m.Build.Env["A B"] = "x" }, "build.env"},
		{"bad tag", func(m *manifests.Manifest) { m.Build.Tags = []string{"a,b"} }, "build.tags[0]"},
		{"bad go version", func(m *manifests.Manifest) { m.Toolchain.Go = "go1.24.4; rm -rf /" }, "toolchain.go"},
		{"bad base", func(m *manifests.Manifest) { m.Toolchain.BaseImage = "a b" }, "toolchain.base"},
		{"bad sum", func(m *manifests.Manifest) { m.Toolchain.ModuleSum = "h1:x" }, "toolchain.sum"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := pinned()
			c.edit(m)
			err := (&Pin{Manifest: m, Source: "pbuild.manifest.json"}).Check()
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Field != c.field || ce.File != "pbuild.manifest.json" {
				t.Fatalf("got %v, want a config.Error for %s", err, c.field)
			}
		})
	}
}

func TestCheckPinnedModules(t *testing.T) {
	same := pinned().Modules
	if d, err := checkPinnedModules(&Pin{Manifest: pinned()}, same); err != nil || len(d) != 0 {
		t.Errorf("same build list: %v %v", d, err)
	}
	changed := []manifests.Module{
		{Path: "example.com/api", Local: true, Dir: "api", Sum: "h1:edited"},
		{Path: "golang.org/x/text", Version: "v0.22.0", Sum: "h1:t22"},
		{Path: "golang.org/x/sync", Version: "v0.1.0", Sum: "h1:s"},
	}
	d, err := checkPinnedModules(&Pin{Manifest: pinned()}, changed)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"example.com/api: recorded (local api) h1:api, resolved (local api) h1:edited",
		"golang.org/x/sync v0.1.0 h1:s: not in the recorded build list",
		"golang.org/x/text: recorded v0.21.0 h1:t21, resolved v0.22.0 h1:t22",
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("diffs:\n%s\nwant:\n%s", strings.Join(d, "\n"), strings.Join(want, "\n"))
	}
	// Against a host: only local modules the host has are compared, and a
	// difference fails.
	_, err = checkPinnedModules(&Pin{Manifest: pinned(), Host: true}, changed)
	if pe, ok := err.(*PinError); !ok || !strings.Contains(pe.Error(), "example.com/api: your copy hashes to h1:edited, the host was built with h1:api") {
		t.Errorf("against: %v", err)
	}
	if _, err := checkPinnedModules(&Pin{Manifest: pinned(), Host: true}, same); err != nil {
		t.Errorf("against, same api: %v", err)
	}
}

func TestCompareArtifacts(t *testing.T) {
	want := &manifests.Manifest{Artifacts: []manifests.Artifact{
		{Name: "greeter", File: "greeter", SHA256: "1", BuildInfo: manifests.BuildInfo{GoVersion: "go1.24.4", Settings: map[string]string{"-tags": ""}}, Packages: map[string]string{"fmt": "f", "api": "a"}},
		{Name: "hello", File: "plugins/hello.so", SHA256: "2"},
		{Name: "gone", File: "plugins/gone.so", SHA256: "3"},
	}}
	got := &manifests.Manifest{Artifacts: []manifests.Artifact{
		{Name: "greeter", File: "greeter", SHA256: "9", BuildInfo: manifests.BuildInfo{GoVersion: "go1.24.3", Settings: map[string]string{"-tags": "x"}}, Packages: map[string]string{"fmt": "F", "api": "a"}},
		{Name: "hello", File: "plugins/hello.so", SHA256: "2"},
	}}
	d := CompareArtifacts(want, got)
	if len(d) != 2 || d[0].Name != "greeter" || d[1].Name != "gone" {
		t.Fatalf("diffs %+v", d)
	}
	if !reflect.DeepEqual(d[0].Causes, []string{"toolchain: recorded go1.24.4, rebuilt go1.24.3", "-tags: recorded (unset), rebuilt x"}) || !reflect.DeepEqual(d[0].Packages, []string{"fmt"}) {
		t.Errorf("greeter diff %+v", d[0])
	}
	e := (&RebuildError{Diffs: d, Modules: []string{"m: changed"}}).Error()
	for _, s := range []string{"rebuild differs in 2 artifacts:", "the source resolves to another build list:\n    m: changed", "greeter (greeter): recorded sha256 1, rebuilt 9", "packages: fmt", "gone (plugins/gone.so): recorded sha256 3, rebuilt (none)"} {
		if !strings.Contains(e, s) {
			t.Errorf("error lacks %q:\n%s", s, e)
		}
	}
}

func TestSharedModules(t *testing.T) {
	mod := func(path string, requires ...string) *resolve.Module {
		src := "module " + path + "\n"
		for _, r := range requires {
			src += "require " + r + " v0.0.0\n"
		}
		f, err := modfile.Parse("go.mod", []byte(src), nil)
		if err != nil {
			t.Fatal(err)
		}
		return &resolve.Module{Path: path, File: f}
	}
	api, loader := mod("example.com/api", "example.com/base"), mod("example.com/loader")
	base := mod("example.com/base")
	host := mod("example.com/host", "example.com/api", "example.com/loader")
	hello := mod("example.com/hello", "example.com/api")
	ws := &resolve.Workspace{
		Modules: []*resolve.Module{api, base, loader, host, hello},
		Packages: []resolve.Package{
			{Target: plan.Target{Name: "host", Kind: plan.Host}, Module: host},
			{Target: plan.Target{Name: "hello", Kind: plan.Plugin}, Module: hello},
		},
	}
	got := sharedModules(ws)
	if !reflect.DeepEqual(got, map[string]bool{"example.com/api": true, "example.com/base": true}) {
		t.Errorf("shared %v: want the api and what it requires, not the host's loader nor the plugin", got)
	}
}
