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
		{CShared, "c-shared", false, "lib/greeter.so"},
		{CArchive, "c-archive", false, "lib/greeter.a"},
	} {
		tg := Target{Name: "greeter", Kind: c.kind}
		if tg.Kind.BuildMode() != c.mode || tg.Kind.Loaded() != c.loaded || tg.File() != c.file {
			t.Errorf("%s: mode %q loaded %v file %q", c.kind, tg.Kind.BuildMode(), tg.Kind.Loaded(), tg.File())
		}
	}
	for _, k := range Kinds() {
		if k.CABI() != (k == CShared || k == CArchive) || k.LoadedBy() == "" {
			t.Errorf("%s: CABI %v, loaded by %q", k, k.CABI(), k.LoadedBy())
		}
	}
	if !slices.Equal(Kinds(), []Kind{Host, Plugin, CShared, CArchive}) {
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
	want := []string{"GOWORK=/src/go.work", "GOTOOLCHAIN=local", "GOFLAGS=", "GOPROXY=off", "GOTELEMETRY=off", "HOME=/root", "GOCACHE=/root/.cache/go-build",
		"GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=1", "CGO_CFLAGS=-O2", "GOAMD64=v3"}
	if got := s.CompileEnv(Platform{"linux", "amd64"}, ""); !reflect.DeepEqual(got, want) {
		t.Errorf("%q\nwant %q", got, want)
	}
	cross := s.CompileEnv(Platform{"linux", "arm64"}, "aarch64-linux-gnu-gcc")
	if !slices.Contains(cross, "GOARCH=arm64") || !slices.Contains(cross, "CC=aarch64-linux-gnu-gcc") {
		t.Errorf("cross env %q", cross)
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
	p, err := New(cfg, Platform{"linux", "amd64"})
	if err != nil {
		t.Fatal(err)
	}
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
	if ph := Phases(p.Targets); len(ph) != 2 || len(ph[0]) != 2 || ph[1][0].Name != "b" {
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

func TestTargetFiles(t *testing.T) {
	arm := Platform{"linux", "arm64"}
	for _, tc := range []struct {
		t     Target
		files []string
	}{
		{Target{Name: "h", Kind: Host}, []string{"h"}},
		{Target{Name: "p", Kind: Plugin}, []string{"plugins/p.so"}},
		{Target{Name: "nbd", Kind: CShared}, []string{"lib/nbd.so", "lib/nbd.h"}},
		{Target{Name: "nbd", Kind: CArchive}, []string{"lib/nbd.a", "lib/nbd.h"}},
		{Target{Name: "g", Kind: Plugin, Version: "0.1", FileTemplate: "plugins/g.so.{{.Version}}"}, []string{"plugins/g.so.0.1"}},
		// The go command's header rule: the last extension replaced.
		{Target{Name: "n", Kind: CShared, Version: "1", FileTemplate: "lib/libn.so.{{.Version}}"}, []string{"lib/libn.so.1", "lib/libn.so.h"}},
		{Target{Name: "g", Kind: Plugin, FileTemplate: "{{.OS}}-{{.Arch}}/{{.Name}}.so", Platform: arm}, []string{"linux-arm64/g.so"}},
	} {
		if got := tc.t.Files(); !slices.Equal(got, tc.files) {
			t.Errorf("%v: files %q, want %q", tc.t, got, tc.files)
		}
	}
}

func TestNewPlatformsAndFiles(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"host", "a", "b", "lib", "liba"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	parse := func(t *testing.T, body string) *config.Config {
		t.Helper()
		cfg, err := config.Parse(filepath.Join(dir, config.FileName), []byte("version: 1\ntoolchain: {go: 1.24.4}\n"+body))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	engine := Platform{"linux", "amd64"}

	p, err := New(parse(t, "platforms: [linux/amd64, linux/arm64]\nlibraries:\n  - {name: nbd, path: ./lib}\n  - {name: nbda, path: ./liba, buildmode: c-archive}\n"), engine)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Host(); ok {
		t.Error("a libraries-only plan has a host")
	}
	if got := p.Platforms; !slices.Equal(got, []Platform{{"linux", "amd64"}, {"linux", "arm64"}}) || p.PlatformDir(got[1]) != "linux_arm64" {
		t.Errorf("platforms %v, dir %q", got, p.PlatformDir(got[1]))
	}
	if k := []Kind{p.Targets[0].Kind, p.Targets[1].Kind}; !slices.Equal(k, []Kind{CShared, CArchive}) {
		t.Errorf("kinds %v", k)
	}
	if ts := p.For(Platform{"linux", "arm64"}); ts[0].Platform.Arch != "arm64" || p.Targets[0].Platform.Arch != "" {
		t.Errorf("For sets the platform on a copy: %+v / %+v", ts[0], p.Targets[0])
	}

	// One platform: the engine's, at the output's top level.
	p, err = New(parse(t, "host: {name: h, path: ./host}\n"), engine)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Platforms; !slices.Equal(got, []Platform{engine}) || p.PlatformDir(engine) != "" {
		t.Errorf("default platforms %v, dir %q", got, p.PlatformDir(engine))
	}

	// Collisions are refused, naming the file.
	for _, body := range []string{
		"host: {name: h, path: ./host}\nplugins:\n  - {name: a, path: ./a, file: x.so}\n  - {name: b, path: ./b, file: x.so}\n",
		"host: {name: h, path: ./host}\nplugins:\n  - {name: a, path: ./a, version: 0.1, file: 'g.so.{{.Name}}'}\n  - {name: b, path: ./b, version: 0.2, file: g.so.a}\n",
		// A library's header on another's file.
		"libraries:\n  - {name: a, path: ./a, file: lib/a.so}\n  - {name: b, path: ./b, file: lib/a.h}\n",
		// A file where another target puts a directory.
		"host: {name: plugins, path: ./host}\nplugins:\n  - {name: a, path: ./a}\n",
		// The same name for every platform of one target is fine, two
		// targets that differ only by platform directory are not.
		"platforms: [linux/amd64, linux/arm64]\nhost: {name: h, path: ./host}\nplugins:\n  - {name: a, path: ./a, file: '{{.Arch}}.so'}\n  - {name: b, path: ./b, file: 'amd64.so'}\n",
	} {
		_, err := New(parse(t, body), engine)
		var fe *FileError
		if !errors.As(err, &fe) || fe.Hint() == "" {
			t.Errorf("%s: New = %v, want *FileError", body, err)
		}
	}
	// A template that renders to no file of the output directory (no
	// version: an empty name).
	_, err = New(parse(t, "host: {name: h, path: ./host}\nplugins:\n  - {name: a, path: ./a, file: 'p/{{.Version}}'}\n"), engine)
	var fe *FileError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "p/") {
		t.Errorf("empty rendered name: %v", err)
	}
}
