package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/dirhash"

	"github.com/pbuild/pbuild/config"
	"github.com/pbuild/pbuild/internal/container"
	"github.com/pbuild/pbuild/internal/container/containertest"
	"github.com/pbuild/pbuild/internal/outdir"
	"github.com/pbuild/pbuild/internal/owner"
	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/plan"
	"github.com/pbuild/pbuild/resolve"
)

func TestPlanErrors(t *testing.T) {
	tests := []struct {
		name   string
		extra  files
		remove []string // files of greeterProject to delete
		yaml   string   // greeterYAML when empty
		edit   func(cfg *config.Config)
		// want is the exact error text; ROOT stands for the project.
		want string
		kind string // "target" or "module"
	}{
		{
			name:  "plugin is not package main",
			extra: files{"plugins/lib/go.mod": "module example.com/lib\n", "plugins/lib/lib.go": "package lib\n"},
			yaml:  strings.Replace(greeterYAML, "  - { name: shout, path: ./plugins/shout }\n", "  - { name: shout, path: ./plugins/shout }\n  - { name: lib, path: ./plugins/lib }\n", 1),
			want:  "plugin lib (ROOT/plugins/lib): package lib is not a main package",
			kind:  "target",
		},
		{
			// config.Parse refuses this; the planner does too, for a
			// Config made another way.
			name: "two plugins naming the same directory",
			edit: func(cfg *config.Config) {
				cfg.Plugins = append(cfg.Plugins, config.Artifact{Name: "hello2", Path: "./plugins/hello"})
			},
			want: "plugin hello2 (ROOT/plugins/hello): pluginpath example.com/greeter/plugins/hello is also plugin hello's",
			kind: "target",
		},
		{
			name: "two plugin directories with one import path",
			extra: files{
				"other/go.mod":        "module example.com/greeter/plugins\n",
				"other/hello/main.go": mainGo("impostor"),
			},
			yaml: strings.Replace(greeterYAML, "  - { name: shout, path: ./plugins/shout }\n", "  - { name: shout, path: ./plugins/shout }\n  - { name: hello-copy, path: ./other/hello }\n", 1),
			want: "plugin hello-copy (ROOT/other/hello): pluginpath example.com/greeter/plugins/hello is also plugin hello's",
			kind: "target",
		},
		{
			name:   "missing go.mod",
			remove: []string{"host/go.mod"},
			want:   "host greeter (ROOT/host): not inside a Go module (no go.mod above it)",
			kind:   "target",
		},
		{
			name:  "two directories declaring one module path",
			extra: files{"plugins/count/go.mod": "module example.com/greeter/host\n"},
			want:  "module example.com/greeter/host: declared twice, in ROOT/host and ROOT/plugins/count",
			kind:  "module",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := tt.yaml
			if y == "" {
				y = greeterYAML
			}
			s := newSetup(t, tt.extra, y)
			for _, r := range tt.remove {
				if err := os.Remove(filepath.Join(s.root, filepath.FromSlash(r))); err != nil {
					t.Fatal(err)
				}
			}
			if tt.name == "missing go.mod" {
				for d := s.root; ; d = filepath.Dir(d) {
					if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
						t.Skipf("%s/go.mod governs the temp dir", d)
					}
					if filepath.Dir(d) == d {
						break
					}
				}
			}
			if tt.edit != nil {
				tt.edit(s.cfg)
			}
			res, err := Build(context.Background(), s.cfg, s.opts)
			if err == nil {
				t.Fatalf("Build succeeded: %+v", res)
			}
			if want := strings.ReplaceAll(tt.want, "ROOT", s.root); err.Error() != want {
				t.Errorf("error = %q\nwant    %q", err, want)
			}
			var te *resolve.TargetError
			var me *resolve.ModuleError
			switch tt.kind {
			case "target":
				if !errors.As(err, &te) {
					t.Errorf("error is %T, want *resolve.TargetError", err)
				}
			case "module":
				if !errors.As(err, &me) {
					t.Errorf("error is %T, want *resolve.ModuleError", err)
				}
			}
			if len(s.eng.Created()) != 0 || len(s.eng.Lookups()) != 0 || len(s.be.resolves) != 0 {
				t.Errorf("planning failed but the engine was used: containers %v, images %v", s.eng.Created(), s.eng.Lookups())
			}
			if n := s.proxy.Total(); n != 0 {
				t.Errorf("planning failed but the toolchain was fetched (%d requests)", n)
			}
			if _, err := os.Stat(s.cfg.OutputDir()); err == nil {
				t.Error("an output directory was created")
			}
			s.checkNoTemp(t)
		})
	}
}

func TestPlanSameDirectoryRejectedByConfig(t *testing.T) {
	// The planner's own check is a second line: config.Parse already
	// refuses two artifacts in one directory.
	s := newSetup(t, nil, greeterYAML)
	y := strings.Replace(greeterYAML, "%s", s.sum, 1)
	y = strings.Replace(y, "  - { name: shout, path: ./plugins/shout }\n", "  - { name: shout, path: ./plugins/shout }\n  - { name: hello2, path: ./plugins/hello }\n", 1)
	if _, err := config.Parse(s.cfg.File, []byte(y)); err == nil || !strings.Contains(err.Error(), "is the same directory as") {
		t.Errorf("config.Parse = %v, want the same-directory error", err)
	}
}

// localSum is the hash a local module of the project must get: every file
// in its directory (the fixtures have no nested modules or vendor/).
func localSum(t *testing.T, root, rel string) string {
	t.Helper()
	h, err := dirhash.HashDir(filepath.Join(root, filepath.FromSlash(rel)), "", dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// greeterKey is the ABI key a build of greeterYAML must stamp, computed
// here from its inputs: the probed toolchain, the build settings and every
// dependency and the shared local module api, hashed from its sources (the
// host and plugin modules, which nothing requires, are not part of the ABI).
func greeterKey(t *testing.T, s *setup) string {
	t.Helper()
	return manifests.ABIKey(
		manifests.Toolchain{Go: "go1.24.4", ModuleSum: s.sum, GOOS: "linux", GOARCH: "amd64", GOAMD64: "v3", CC: "cc (Debian 12.2.0) 12.2.0"},
		manifests.Build{
			Flags:   []string{"-mod=vendor", "-trimpath", "-buildvcs=false"},
			Tags:    []string{"netgo", "extra"},
			Ldflags: "-s -w",
			Env:     map[string]string{"CGO_ENABLED": "1", "GOAMD64": "v3", "CGO_CFLAGS": "-O2"},
		},
		[]manifests.Module{
			{Path: "example.com/greeter/api", Sum: localSum(t, s.root, "api")},
			{Path: "golang.org/x/text", Version: "v0.21.0", Sum: sumText21},
		})
}

// abiKeyRE matches the ABI key stamped into the host and plugins.
var abiKeyRE = regexp.MustCompile(`-X main\.pbuildABIKey=(sha256:[0-9a-f]{64})$`)

func TestBuildFlow(t *testing.T) {
	s := newSetup(t, nil, greeterYAML)
	s.withMarker(t)
	_, err := Build(context.Background(), s.cfg, s.opts)

	// The fake's artifacts are not Go binaries: the build stops when
	// reading them, after everything this test looks at.
	var nge *manifests.NotGoBinaryError
	if !errors.As(err, &nge) {
		t.Fatalf("Build = %v (%T), want *manifests.NotGoBinaryError from the fake artifacts", err, err)
	}
	if !strings.Contains(nge.Path, string(filepath.Separator)+".dist.pbuild-") {
		t.Errorf("artifacts were read from %s, want a temporary directory beside dist", nge.Path)
	}
	s.checkOutputUntouched(t)
	s.eng.CheckAllRemoved(t)

	// One resolve, one compile, both in the probed toolchain.
	if len(s.be.resolves) != 1 || len(s.be.compiles) != 1 {
		t.Fatalf("%d resolves and %d compiles, want one each", len(s.be.resolves), len(s.be.compiles))
	}
	rr, cr := s.be.resolves[0], s.be.compiles[0]
	for _, tc := range []string{rr.Toolchain.Image, cr.Toolchain.Image} {
		if !strings.HasPrefix(tc, "pbuild/toolchain:go1.24.4-") {
			t.Errorf("built in %s, want the toolchain image", tc)
		}
	}
	if rr.Project != s.cfg.File || cr.Project != s.cfg.File {
		t.Errorf("labelled for projects %q, %q, want %q", rr.Project, cr.Project, s.cfg.File)
	}
	for _, kv := range s.opts.ResolveEnv {
		if !slices.Contains(rr.Env, kv) {
			t.Errorf("resolve env %q lacks %s", rr.Env, kv)
		}
	}
	if want := []string{"GOWORK=/src/go.work", "GOTOOLCHAIN=local", "GOFLAGS=", "GOPROXY=off", "GOTELEMETRY=off", "HOME=/root", "GOCACHE=/root/.cache/go-build", "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=1", "CGO_CFLAGS=-O2", "GOAMD64=v3"}; !reflect.DeepEqual(cr.Env, want) {
		t.Errorf("compile env %q\nwant        %q", cr.Env, want)
	}
	for _, kv := range cr.Env {
		if slices.Contains(s.opts.ResolveEnv, kv) {
			t.Errorf("resolve-only setting %s reached the compile", kv)
		}
	}

	// The compile sees every staged file, the resolve's vendor/ and
	// go.work.sum included, at the time its content decides: no fact the
	// go command caches by a file's time outlives its content.
	if len(s.be.unstamped) > 0 {
		t.Errorf("staged files not at their content time when compiled: %q", s.be.unstamped)
	}

	// What the resolve saw: the staged workspace; never the output
	// directory. The compile gets it vendored.
	for _, f := range []string{"go.work", "api/api.go", "host/main.go", "plugins/hello/go.sum"} {
		if !slices.Contains(s.be.staged, f) {
			t.Errorf("%s not staged", f)
		}
	}
	for _, f := range s.be.staged {
		if strings.Contains(f, "dist/") || strings.Contains(f, "marker") || strings.HasPrefix(f, "vendor/") {
			t.Errorf("%s staged for the resolve", f)
		}
	}
	if cr.PreviousDir != s.cfg.OutputDir() || cr.Force {
		t.Errorf("compile previous dir %s, force %v", cr.PreviousDir, cr.Force)
	}

	// The units: the host and the first plugin first, the others after both.
	var phases [][]string
	byFile := map[string]Unit{}
	for _, ph := range cr.Phases {
		var files []string
		for _, u := range ph {
			files = append(files, u.Target.File())
			byFile[u.Target.File()] = u
		}
		phases = append(phases, files)
	}
	if want := [][]string{{"greeter", "plugins/count.so"}, {"plugins/hello.so", "plugins/shout.so"}}; !reflect.DeepEqual(phases, want) {
		t.Errorf("phases %v, want %v", phases, want)
	}
	wantDirs := map[string]string{
		"greeter":          "/src/host",
		"plugins/count.so": "/src/plugins/count",
		"plugins/hello.so": "/src/plugins/hello",
		"plugins/shout.so": "/src/plugins/shout",
	}
	for f, dir := range wantDirs {
		if u := byFile[f]; u.Dir != dir || u.Out != "/out/"+f {
			t.Errorf("unit %s runs in %s writing %s, want %s and /out/%s", f, u.Dir, u.Out, dir, f)
		}
	}
	host := byFile["greeter"].Args
	m := abiKeyRE.FindStringSubmatch(host[len(host)-4])
	if m == nil {
		t.Fatalf("host command line %q has no ABI key in -ldflags", host)
	}
	key := m[1]
	wantHost := []string{"go", "build", "-mod=vendor", "-trimpath", "-buildvcs=false", "-tags=netgo,extra", "-ldflags=-s -w -X github.com/pbuild/pbuild/loader.hostABIKey=" + key + " -X main.pbuildABIKey=" + key, "-o", "/out/greeter", "."}
	if !reflect.DeepEqual(host, wantHost) {
		t.Errorf("host go build =\n%q\nwant\n%q", host, wantHost)
	}
	for _, name := range []string{"count", "hello", "shout"} {
		got := byFile["plugins/"+name+".so"].Args
		want := append(slices.Clone(wantHost[:7]), "-buildmode=plugin", "-o", "/out/plugins/"+name+".so", ".")
		if !reflect.DeepEqual(got, want) {
			t.Errorf("plugin %s go build =\n%q\nwant\n%q", name, got, want)
		}
	}
	// Each unit reads its own module and the modules it requires.
	if in := byFile["plugins/hello.so"].Inputs; !slices.Contains(in, "plugins/hello") || !slices.Contains(in, "api") || slices.Contains(in, "plugins/count") {
		t.Errorf("hello's inputs %v", in)
	}

	// The key covers the toolchain, the build settings and every module.
	if wantKey := greeterKey(t, s); key != wantKey {
		t.Errorf("ABI key %s, want %s", key, wantKey)
	}

	// Progress reports. (Raised requirements are reported once the
	// artifacts say what they link: these fake ones never get there.)
	wantEvents := []Event{
		{StepPlan, "4 artifacts in 5 local modules under " + s.root},
		{StepCompile, "4 artifacts for linux/amd64 on fake"},
	}
	for _, e := range wantEvents {
		if !slices.Contains(s.events, e) {
			t.Errorf("no event %+v in %+v", e, s.events)
		}
	}
}

func TestBuildCompileFailure(t *testing.T) {
	syntax := "# example.com/greeter/plugins/hello\n./main.go:3:1: syntax error: unexpected }\n"
	tests := []struct {
		name    string
		fail    map[string]failure
		want    []string // names of the failed artifacts
		ran     []string // go build -o of every attempted build
		message string   // exact Error() of the first CompileError
	}{
		{
			name:    "a plugin built in the second phase",
			fail:    map[string]failure{"plugins/hello.so": {1, syntax}},
			want:    []string{"plugin hello"},
			ran:     []string{"greeter", "plugins/count.so", "plugins/hello.so", "plugins/shout.so"},
			message: "build plugin hello: exit 1\n" + strings.TrimSpace(syntax),
		},
		{
			name: "two plugins in one phase: both reported",
			fail: map[string]failure{"plugins/hello.so": {1, "hello broke"}, "plugins/shout.so": {2, "shout broke"}},
			want: []string{"plugin hello", "plugin shout"},
			ran:  []string{"greeter", "plugins/count.so", "plugins/hello.so", "plugins/shout.so"},
		},
		{
			name:    "the first plugin: later plugins are not built",
			fail:    map[string]failure{"plugins/count.so": {1, "count broke"}},
			want:    []string{"plugin count"},
			ran:     []string{"greeter", "plugins/count.so"},
			message: "build plugin count: exit 1\ncount broke",
		},
		{
			name:    "the host",
			fail:    map[string]failure{"greeter": {1, "host broke"}},
			want:    []string{"host greeter"},
			ran:     []string{"greeter", "plugins/count.so"},
			message: "build host greeter: exit 1\nhost broke",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSetup(t, nil, greeterYAML)
			s.withMarker(t)
			s.be.fail = tt.fail
			_, err := Build(context.Background(), s.cfg, s.opts)
			ces := compileErrors(err)
			var got []string
			for _, ce := range ces {
				got = append(got, ce.Kind+" "+ce.Name)
				if f := tt.fail[plan.Target{Name: ce.Name, Kind: plan.Kind(ce.Kind)}.File()]; ce.Code != f.code || ce.Output != f.output {
					t.Errorf("%s %s: code %d output %q, want %d %q", ce.Kind, ce.Name, ce.Code, ce.Output, f.code, f.output)
				}
			}
			slices.Sort(got)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Build = %v\ncompile errors for %v, want %v", err, got, tt.want)
			}
			var ce *CompileError
			if !errors.As(err, &ce) || !strings.Contains(ce.Hint(), "output directory was left as it was") {
				t.Errorf("errors.As(*CompileError) failed or hint wrong: %v", err)
			}
			if tt.message != "" && err.Error() != tt.message {
				t.Errorf("error = %q\nwant    %q", err, tt.message)
			}
			ran := s.be.builtFiles()
			slices.Sort(ran)
			if !reflect.DeepEqual(ran, tt.ran) {
				t.Errorf("built %v, want %v", ran, tt.ran)
			}
			s.checkOutputUntouched(t)
			s.eng.CheckAllRemoved(t)
		})
	}
}

func TestBuildCancelled(t *testing.T) {
	s := newSetup(t, nil, greeterYAML)
	s.withMarker(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{})
	s.be.onBuild = func(bctx context.Context, out string) error {
		if out != "plugins/count.so" {
			return nil
		}
		close(started)
		select {
		case <-bctx.Done():
			return bctx.Err()
		case <-time.After(30 * time.Second):
			return errors.New("go build was not cancelled")
		}
	}
	go func() {
		<-started
		cancel() // Ctrl-C while go build runs
	}()
	_, err := Build(ctx, s.cfg, s.opts)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Build = %v, want context.Canceled", err)
	}
	for _, o := range s.be.builtFiles() {
		if o == "plugins/hello.so" || o == "plugins/shout.so" {
			t.Errorf("%s was built after the cancellation", o)
		}
	}
	s.checkOutputUntouched(t)
	s.eng.CheckAllRemoved(t)
}

// hostOnlySetup is the greeter project without plugins, whose fake engine
// hands back a real Go ELF binary (this test's own) for the host, so that
// the whole build runs: inspect, manifest, install. It returns the binary.
func hostOnlySetup(t *testing.T) (*setup, []byte) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs the test binary to be an ELF file")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := manifests.InspectFile(context.Background(), exe); err != nil {
		t.Skipf("the test binary is not inspectable: %v", err)
	}
	y := strings.Replace(greeterYAML, "plugins:\n  - { name: count, path: ./plugins/count }\n  - { name: hello, path: ./plugins/hello }\n  - { name: shout, path: ./plugins/shout }\n", "", 1)
	if y == greeterYAML {
		t.Fatal("could not drop the plugins from the config")
	}
	s := newSetup(t, nil, y)
	s.be.list = `{"Path": "example.com/greeter/api", "Main": true}
{"Path": "example.com/greeter/host", "Main": true}
{"Path": "golang.org/x/text", "Version": "v0.21.0"}
`
	s.be.outFile = func(name string) []byte { return bin }
	return s, bin
}

func TestBuildHostOnly(t *testing.T) {
	s, bin := hostOnlySetup(t)
	s.withMarker(t)

	res, err := Build(context.Background(), s.cfg, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Dir != s.cfg.OutputDir() || res.Dir != filepath.Join(s.root, "dist") {
		t.Errorf("result dir %s, want %s", res.Dir, s.cfg.OutputDir())
	}
	// The output directory was replaced as a whole.
	if _, err := os.Stat(filepath.Join(s.root, "dist", "marker")); !errors.Is(err, os.ErrNotExist) {
		t.Error("dist/marker survived a successful build")
	}
	got, err := os.ReadFile(filepath.Join(s.root, "dist", "greeter"))
	if err != nil || !slices.Equal(got, bin) {
		t.Errorf("dist/greeter differs from what the container built (%v)", err)
	}
	if fi, err := os.Stat(filepath.Join(s.root, "dist")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("dist mode = %v, %v; want 0755", fi.Mode().Perm(), err)
	}
	m, err := manifests.ReadFile(context.Background(), filepath.Join(s.root, "dist", manifests.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, res.Manifest) {
		t.Error("the manifest written differs from the one returned")
	}
	sum := sha256.Sum256(bin)
	if len(m.Artifacts) != 1 || m.Artifacts[0].Name != "greeter" || m.Artifacts[0].Kind != manifests.KindHost || m.Artifacts[0].File != "greeter" || m.Artifacts[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("artifacts = %+v", m.Artifacts)
	}
	builds := s.be.built
	if len(builds) != 1 {
		t.Fatalf("go builds: %v", builds)
	}
	args := builds[0].Args
	i := slices.IndexFunc(args, func(a string) bool { return strings.HasPrefix(a, "-ldflags=") })
	if i < 0 {
		t.Fatalf("no -ldflags in %q", args)
	}
	if km := abiKeyRE.FindStringSubmatch(args[i]); km == nil || km[1] != m.ABIKey || !strings.HasPrefix(args[i], "-ldflags=-s -w -X ") {
		t.Errorf("host stamped with %q, manifest key %s", args[i], m.ABIKey)
	}
	if slices.Contains(args, "-buildmode=plugin") {
		t.Errorf("host built as a plugin: %q", args)
	}
	var mods []string
	for _, mod := range m.Modules {
		mods = append(mods, mod.Path+" "+mod.Sum)
	}
	wantMods := []string{
		"example.com/greeter/api " + localSum(t, s.root, "api"),
		"example.com/greeter/host " + localSum(t, s.root, "host"),
		"golang.org/x/text " + sumText21,
	}
	if !reflect.DeepEqual(mods, wantMods) {
		t.Errorf("modules =\n%q\nwant\n%q", mods, wantMods)
	}
	if m.Toolchain.Go != "go1.24.4" || m.Toolchain.ModuleSum != s.sum || m.Toolchain.GOAMD64 != "v3" || m.Toolchain.BaseImageID != "sha256:base" {
		t.Errorf("toolchain = %+v", m.Toolchain)
	}
	s.checkNoTemp(t)
	s.eng.CheckAllRemoved(t)
	if !slices.Contains(s.events, Event{StepInstall, s.cfg.OutputDir()}) {
		t.Errorf("no output event in %v", s.events)
	}
}

func TestBuildOutputInsideModule(t *testing.T) {
	// The output directory may lie inside an artifact's module: it is
	// never staged, so neither the containers nor the module's hash see it.
	y := strings.Replace(greeterYAML, "output: dist\n", "output: host/dist\n", 1)
	s := newSetup(t, nil, y)
	containertest.WriteFiles(t, s.root, files{"host/dist/marker": "previous build\n"})
	if err := owner.Mark(filepath.Join(s.root, "host", "dist"), s.opts.Self, []string{"marker"}); err != nil {
		t.Fatal(err)
	}
	// What a killed build left beside the output: a partial new output,
	// and the old output moved aside. Neither may be staged.
	for _, left := range []string{".dist.pbuild-123", ".dist.pbuild-456.old"} {
		dir := filepath.Join(s.root, "host", left)
		containertest.WriteFiles(t, dir, files{"plugins/partial.so": "half a plugin"})
		if err := owner.Mark(dir, deadOwner(t), nil); err != nil {
			t.Fatal(err)
		}
	}
	if s.cfg.OutputDir() != filepath.Join(s.root, "host", "dist") {
		t.Fatalf("output dir %s", s.cfg.OutputDir())
	}
	_, err := Build(context.Background(), s.cfg, s.opts)
	var nge *manifests.NotGoBinaryError
	if !errors.As(err, &nge) {
		t.Fatalf("Build = %v, want *manifests.NotGoBinaryError from the fake artifacts", err)
	}
	for _, f := range s.be.staged {
		if strings.HasPrefix(f, "host/dist/") || strings.HasPrefix(f, "host/.dist") {
			t.Errorf("%s staged", f)
		}
	}
	if !slices.Contains(s.be.staged, "host/main.go") {
		t.Error("the host's sources were not staged")
	}
	if data, err := os.ReadFile(filepath.Join(s.root, "host", "dist", "marker")); err != nil || string(data) != "previous build\n" {
		t.Errorf("host/dist/marker = %q, %v", data, err)
	}
	entries, _ := os.ReadDir(filepath.Join(s.root, "host"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".dist.pbuild-") {
			t.Errorf("temporary %s left in host/", e.Name())
		}
	}
	// The stamped key hashes the host module without its output directory.
	host := s.be.built
	i := slices.IndexFunc(host, func(u Unit) bool { return u.Target.File() == "greeter" })
	if i < 0 {
		t.Fatal("no host build")
	}
	if err := os.RemoveAll(filepath.Join(s.root, "host", "dist")); err != nil {
		t.Fatal(err)
	}
	wantKey := greeterKey(t, s)
	if m := abiKeyRE.FindStringSubmatch(host[i].Args[6]); m == nil || m[1] != wantKey {
		t.Errorf("host stamped with %q, want key %s", host[i].Args[6], wantKey)
	}
}

// deadOwner is a process of this machine that has exited.
func deadOwner(t *testing.T) owner.ID {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return owner.ID{Machine: self(t).Machine, PID: cmd.Process.Pid, Start: 1}
}

// TestBuildRefusesOutputsItDidNotMake: an output that is not a directory
// pbuild made is refused before anything runs, and left as it was.
func TestBuildRefusesOutputsItDidNotMake(t *testing.T) {
	for _, c := range []struct {
		name   string
		output string
		setup  func(t *testing.T, root string)
		want   any
	}{
		{"a home directory", "home", func(t *testing.T, root string) {
			containertest.WriteFiles(t, root, files{"home/.ssh/id_ed25519": "secret", "home/notes": "mine"})
		}, new(*outdir.NotOwnedError)},
		{"a regular file", "passwd", func(t *testing.T, root string) {
			containertest.WriteFiles(t, root, files{"passwd": "root:x:0:0"})
		}, new(*outdir.NotOwnedError)},
		{"the plugins' sources through a symbolic link", "lnk/plugins", func(t *testing.T, root string) {
			if err := os.Symlink(".", filepath.Join(root, "lnk")); err != nil {
				t.Fatal(err)
			}
		}, new(*PlacementError)},
		{"the host module through a symbolic link", "lnk/host", func(t *testing.T, root string) {
			if err := os.Symlink(".", filepath.Join(root, "lnk")); err != nil {
				t.Fatal(err)
			}
		}, new(*PlacementError)},
	} {
		t.Run(c.name, func(t *testing.T) {
			y := strings.Replace(greeterYAML, "output: dist\n", "output: "+c.output+"\n", 1)
			s := newSetup(t, nil, y)
			c.setup(t, s.root)
			before := treeOf(t, s.root)
			_, err := Build(context.Background(), s.cfg, s.opts)
			if !errors.As(err, c.want) {
				t.Fatalf("Build = %v, want %T", err, c.want)
			}
			if after := treeOf(t, s.root); after != before {
				t.Errorf("the project changed:\nbefore %s\nafter  %s", before, after)
			}
			if n := len(s.eng.Created()) + len(s.be.resolves); n != 0 {
				t.Errorf("%d containers started before the output was checked", n)
			}
		})
	}
}

// treeOf describes every entry below root, links not followed.
func treeOf(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		fmt.Fprintf(&b, "%s %v %d\n", p, fi.Mode(), fi.Size())
		return nil
	})
	return b.String()
}

// TestBuildSweepsKilledBuilds: a build removes what killed pbuild
// processes of this machine left (containers, temporary directories), and
// nothing that running builds or other machines use.
func TestBuildSweepsKilledBuilds(t *testing.T) {
	s := newSetup(t, nil, greeterYAML)
	dead, live, other := deadOwner(t), s.opts.Self, owner.ID{Machine: "000000000000", PID: 1, Start: 1}
	label := func(o owner.ID) map[string]string {
		return map[string]string{container.Label: "1", container.Label + ".step": "build", container.OwnerLabel: o.String()}
	}
	s.eng.Existing = []container.Summary{{ID: "dead1", Labels: label(dead)}, {ID: "live1", Labels: label(live)}, {ID: "other1", Labels: label(other)}}
	deadDir, err := owner.MkdirTemp(s.tmp, "pbuild-", dead)
	if err != nil {
		t.Fatal(err)
	}
	containertest.WriteFiles(t, deadDir, files{"stage/host/main.go": "package main"})
	liveDir, err := owner.MkdirTemp(s.tmp, "pbuild-", live)
	if err != nil {
		t.Fatal(err)
	}
	Build(context.Background(), s.cfg, s.opts)
	var removedExisting []string
	for _, id := range s.eng.Removed() {
		if strings.HasSuffix(id, "1") && !strings.HasPrefix(id, "c") {
			removedExisting = append(removedExisting, id)
		}
	}
	if !slices.Equal(removedExisting, []string{"dead1"}) {
		t.Errorf("removed %v of the existing containers, want only dead1", removedExisting)
	}
	if _, err := os.Stat(deadDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the killed build's %s is still there", deadDir)
	}
	if _, err := os.Stat(liveDir); err != nil {
		t.Errorf("a live build's directory was removed: %v", err)
	}
	s.eng.CheckAllRemoved(t)
}

// TestLinkedRaised: a raised requirement of a module no artifact links (a
// test-only dependency of a local module) is not reported with those that
// change what ships.
func TestLinkedRaised(t *testing.T) {
	raised := []resolve.Raised{
		{Module: "example.com/host", Dep: "golang.org/x/text", Asked: "v0.20.0", Got: "v0.21.0"},
		{Module: "example.com/api", Dep: "github.com/stretchr/testify", Asked: "v1.8.0", Got: "v1.9.0"},
	}
	arts := []manifests.Artifact{
		{Name: "host", BuildInfo: manifests.BuildInfo{Deps: map[string]string{"golang.org/x/text": "v0.21.0"}}},
		{Name: "p", BuildInfo: manifests.BuildInfo{Deps: map[string]string{}}},
	}
	linked, unlinked := linkedRaised(raised, arts)
	if len(linked) != 1 || linked[0].Dep != "golang.org/x/text" || len(unlinked) != 1 || unlinked[0].Dep != "github.com/stretchr/testify" {
		t.Errorf("linked %v, unlinked %v", linked, unlinked)
	}
}

// compileErrors are the *CompileErrors in err's tree.
func compileErrors(err error) []*CompileError {
	var out []*CompileError
	var walk func(error)
	walk = func(err error) {
		if ce, ok := err.(*CompileError); ok {
			out = append(out, ce)
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			if e := u.Unwrap(); e != nil {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}
