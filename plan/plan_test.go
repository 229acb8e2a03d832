package plan

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pbuild/pbuild/config"
)

func TestKinds(t *testing.T) {
	for _, c := range []struct {
		kind   Kind
		mode   string
		loaded bool
		file   string
	}{
		{Host, "", false, "greeter"},
		{Plugin, "plugin", true, "plugins/greeter.so"},
	} {
		tg := Target{Name: "greeter", Kind: c.kind}
		if tg.Kind.BuildMode() != c.mode || tg.Kind.Loaded() != c.loaded || tg.File() != c.file {
			t.Errorf("%s: mode %q loaded %v file %q", c.kind, tg.Kind.BuildMode(), tg.Kind.Loaded(), tg.File())
		}
	}
	if !slices.Equal(Kinds(), []Kind{Host, Plugin}) {
		t.Errorf("kinds %v", Kinds())
	}
	if got := (Target{Name: "v1.2-beta_x", Kind: Plugin}).File(); got != "plugins/v1.2-beta_x.so" {
		t.Errorf("file %q", got)
	}
}

func TestGoBuildArgs(t *testing.T) {
	key := "sha256:" + strings.Repeat("ab", 32)
	x := "-X github.com/pbuild/pbuild/loader.hostABIKey=" + key + " -X main.pbuildABIKey=" + key
	for _, c := range []struct {
		name string
		s    Settings
		t    Target
		out  string
		want []string
	}{
		{"host without tags or ldflags", Settings{}, Target{Kind: Host}, "/out/greeter",
			[]string{"go", "build", "-mod=vendor", "-trimpath", "-buildvcs=false", "-ldflags=" + x, "-o", "/out/greeter", "."}},
		{"plugin with tags and ldflags", Settings{Tags: []string{"a", "b_c"}, Ldflags: "-s -w"}, Target{Kind: Plugin}, "/out/plugins/p.so",
			[]string{"go", "build", "-mod=vendor", "-trimpath", "-buildvcs=false", "-tags=a,b_c", "-ldflags=-s -w " + x, "-buildmode=plugin", "-o", "/out/plugins/p.so", "."}},
		{"surrounding spaces of ldflags dropped", Settings{Ldflags: "  -s  "}, Target{Kind: Host}, "/out/h",
			[]string{"go", "build", "-mod=vendor", "-trimpath", "-buildvcs=false", "-ldflags=-s   " + x, "-o", "/out/h", "."}},
	} {
		if got := c.s.GoBuildArgs(c.t, key, c.out); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n%q\nwant\n%q", c.name, got, c.want)
		}
	}
	// Flags is a fresh slice each time: one command line cannot change
	// another's.
	f := Flags()
	f[0] = "changed"
	if Flags()[0] != "-mod=vendor" {
		t.Error("Flags shares storage")
	}
}

func TestCompileEnv(t *testing.T) {
	s := Settings{Env: map[string]string{"GOAMD64": "v3", "CGO_CFLAGS": "-O2"}}
	want := []string{"GOWORK=/src/go.work", "GOTOOLCHAIN=local", "GOFLAGS=", "GOPROXY=off", "GOTELEMETRY=off", "HOME=/root", "GOCACHE=/root/.cache/go-build", "CGO_CFLAGS=-O2", "GOAMD64=v3"}
	if got := s.CompileEnv(); !reflect.DeepEqual(got, want) {
		t.Errorf("%q\nwant %q", got, want)
	}
	r := ResolveEnv([]string{"GOPROXY=x"}, true)
	if !slices.Contains(r, "GOPROXY=x") || !slices.Contains(r, "SSL_CERT_FILE="+CABundlePath) || !slices.Contains(r, "GOWORK=/src/go.work") {
		t.Errorf("resolve env %q", r)
	}
	if slices.ContainsFunc(ResolveEnv(nil, false), func(kv string) bool { return strings.HasPrefix(kv, "SSL_CERT_FILE=") }) {
		t.Error("SSL_CERT_FILE without a CA bundle")
	}
}

func TestNewAndPin(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"host", "plugins/a", "plugins/b"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	file := filepath.Join(dir, config.FileName)
	cfg, err := config.Parse(file, []byte("version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: h, path: ./host}\nplugins:\n  - {name: a, path: ./plugins/a}\n  - {name: b, path: ./plugins/b, version: 0.2}\nbuild: {tags: [x], env: {GOAMD64: v3}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := New(cfg, Platform{"linux", "amd64"})
	var names []string
	for _, tg := range p.Targets {
		names = append(names, tg.String())
	}
	if !slices.Equal(names, []string{"host h", "plugin a", "plugin b"}) || p.Targets[2].Version != "0.2" || p.Targets[1].Dir != filepath.Join(dir, "plugins", "a") {
		t.Errorf("targets %+v", p.Targets)
	}
	if h, ok := p.Host(); !ok || h.Name != "h" {
		t.Errorf("host %v %v", h, ok)
	}
	if ph := p.Phases(); len(ph) != 2 || len(ph[0]) != 2 || ph[1][0].Name != "b" {
		t.Errorf("phases %v", ph)
	}
	// The plan owns its settings: the config keeps its own.
	p.Settings.Env["GOAMD64"] = "v1"
	if cfg.Build.Env["GOAMD64"] != "v3" {
		t.Error("the plan shares the config's env")
	}
	// A pin's settings get the config's checks.
	if err := p.Pin("m.json", Settings{Go: "1.24.3", Base: "b"}); err != nil || p.Settings.Go != "1.24.3" {
		t.Errorf("pin: %v, %+v", err, p.Settings)
	}
	var ce *config.Error
	if err := p.Pin("m.json", Settings{Go: "1.24.3", Base: "b", Env: map[string]string{"GOFLAGS": "-x"}}); !errors.As(err, &ce) || ce.File != "m.json" {
		t.Errorf("hostile pin: %v", err)
	}
}
