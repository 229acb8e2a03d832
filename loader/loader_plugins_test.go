package loader

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbuild/pbuild/loader/abi"
)

// The tests in this file build real plugins and hosts with the machine's go
// command and run the hosts as subprocesses.

const (
	// testKey is the key the keyed test host is stamped with.
	testKey = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	// otherKey is another build's key.
	otherKey = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	// oldGo is a toolchain other than the host's, used when available.
	oldGo = "go1.24.4"
)

// fixture is what buildFixture builds, as absolute paths.
type fixture struct {
	dir       string
	host      string // test host, unstamped
	keyedHost string // test host stamped with testKey
	good      string // plugin example.com/lt/good
	goodV2    string // plugin example.com/lt/good/v2: another version of good
	skew      string // plugin built against an edited api under the same version
	dup       string // copy of good under another name: same pluginpath
	notPlugin string // a plain executable
	wrongType string // plugin whose Plugin symbol is not an api.Greeter
	broken    string // plugin needing a shared library that is gone
	panicInit string // plugin whose init panics
	exitInit  string // plugin whose init calls os.Exit(3)
	hangInit  string // plugin whose init never returns
	old       string // plugin built with oldGo; "" when that toolchain is unavailable
	cShared   string // C-ABI library (-buildmode=c-shared) of example.com/lt/clib
	cArchive  string // the same as a c-archive
}

const apiSource = `// Package api is the test plugins' contract.
package api

type Greeter interface{ Greet() string }

const Symbol = "Plugin"
`

const hostSource = `package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"example.com/lt/api"
	"github.com/pbuild/pbuild/loader"
)

func main() {
	var opts []loader.Option
	// LT_LOADER: options for the loader, comma-separated.
	for _, o := range strings.Split(os.Getenv("LT_LOADER"), ",") {
		switch {
		case strings.HasPrefix(o, "probe="):
			d, err := time.ParseDuration(strings.TrimPrefix(o, "probe="))
			if err != nil {
				panic(err)
			}
			opts = append(opts, loader.WithProbe(d))
		case o == "require-manifest":
			opts = append(opts, loader.WithRequireManifest())
		}
	}
	l, err := loader.New(opts...)
	if err != nil {
		fmt.Println("new:", err)
		os.Exit(2)
	}
	status := 0
	for _, path := range os.Args[1:] {
		name := strings.TrimSuffix(filepath.Base(path), ".so")
		g, err := load(l, path)
		if err != nil {
			fmt.Printf("refused %s: %v\n", name, err)
			status = 1
			continue
		}
		fmt.Printf("ok %s: %s\n", name, g.Greet())
	}
	os.Exit(status)
}

func load(l *loader.Loader, path string) (api.Greeter, error) {
	p, err := l.Open(path)
	if err != nil {
		return nil, err
	}
	return loader.Lookup[api.Greeter](p, api.Symbol)
}
`

func greeterPlugin(text string) string {
	return `package main

import "example.com/lt/api"

type greeter struct{}

func (greeter) Greet() string { return "` + text + `" }

var Plugin api.Greeter = greeter{}

func main() {}
`
}

const wrongTypeSource = `package main

type other struct{ N int }

var Plugin other

func main() {}
`

const brokenSource = `package main

/*
#cgo LDFLAGS: -L${SRCDIR}/../clib -lltmissing
int lt_answer(void);
*/
import "C"

import (
	"fmt"

	"example.com/lt/api"
)

type greeter struct{}

func (greeter) Greet() string { return fmt.Sprint(int(C.lt_answer())) }

var Plugin api.Greeter = greeter{}

func main() {}
`

// initPlugin is a greeter plugin whose init does body first.
func initPlugin(imports, body string) string {
	return `package main

import (
	"example.com/lt/api"
` + imports + `
)

func init() {
	` + body + `
}

type greeter struct{}

func (greeter) Greet() string { return "never" }

var Plugin api.Greeter = greeter{}

func main() {}
`
}

const clibSource = `int lt_answer(void) { return 42; }
`

// cLibSource is a C-ABI library's main package: what nbdkit-like C hosts
// load with dlopen.
const cLibSource = `package main

import "C"

//export lt_plugin_init
func lt_plugin_init() C.int { return 0 }

func main() {}
`

func goMod(module string, replaces ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "module %s\n\ngo 1.22\n", module)
	for i := 0; i+1 < len(replaces); i += 2 {
		fmt.Fprintf(&b, "\nrequire %s v0.0.0\n\nreplace %s => %s\n", replaces[i], replaces[i], replaces[i+1])
	}
	return b.String()
}

// loaderDir is the directory of this package's source.
func loaderDir(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot find the loader's source directory")
	}
	return filepath.Dir(file)
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// buildEnv is the environment of the go command: the local toolchain
// unless toolchain is set, no workspace, no network.
func buildEnv(toolchain string) []string {
	var env []string
	for _, kv := range os.Environ() {
		switch k, _, _ := strings.Cut(kv, "="); k {
		case "GOTOOLCHAIN", "GOWORK", "GOFLAGS", "CGO_ENABLED", "GOPROXY", "GOOS", "GOARCH":
			continue
		}
		env = append(env, kv)
	}
	if toolchain == "" {
		toolchain = "local"
	}
	return append(env, "GOTOOLCHAIN="+toolchain, "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=1", "GOPROXY=off")
}

func goBuild(dir, toolchain string, args ...string) error {
	cmd := exec.Command("go", append([]string{"build", "-trimpath"}, args...)...)
	cmd.Dir = dir
	cmd.Env = buildEnv(toolchain)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return nil
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// skipUnlessPluginsBuild skips t where what (plugins) cannot be built:
// not on linux, or without the go command or gcc (cgo).
func skipUnlessPluginsBuild(t testing.TB, what string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("plugins are tested on linux")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command: cannot build " + what)
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc: cgo is needed to build " + what)
	}
}

// realTempDir is t.TempDir with its symbolic links resolved, as the
// loader and the runtime report real paths.
func realTempDir(t *testing.T) string {
	root := t.TempDir()
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	return root
}

func buildFixture(t *testing.T) *fixture {
	t.Helper()
	skipUnlessPluginsBuild(t, "plugins")
	root := realTempDir(t)
	src, out := filepath.Join(root, "src"), filepath.Join(root, "out")
	loaderSrc := loaderDir(t)
	writeFiles(t, src, map[string]string{
		"main/api/go.mod": goMod("example.com/lt/api"),
		"main/api/api.go": apiSource,
		"main/host/go.mod": goMod("example.com/lt/host",
			"example.com/lt/api", "../api", "github.com/pbuild/pbuild/loader", filepath.ToSlash(loaderSrc)),
		"main/host/main.go":       hostSource,
		"main/good/go.mod":        goMod("example.com/lt/good", "example.com/lt/api", "../api"),
		"main/good/main.go":       greeterPlugin("hello from good"),
		"main/goodv2/go.mod":      goMod("example.com/lt/good/v2", "example.com/lt/api", "../api"),
		"main/goodv2/main.go":     greeterPlugin("hello from good v2"),
		"main/wrongtype/go.mod":   goMod("example.com/lt/wrongtype"),
		"main/wrongtype/main.go":  wrongTypeSource,
		"main/broken/go.mod":      goMod("example.com/lt/broken", "example.com/lt/api", "../api"),
		"main/broken/main.go":     brokenSource,
		"main/panicinit/go.mod":   goMod("example.com/lt/panicinit", "example.com/lt/api", "../api"),
		"main/panicinit/main.go":  initPlugin("", `panic("boom in init")`),
		"main/exitinit/go.mod":    goMod("example.com/lt/exitinit", "example.com/lt/api", "../api"),
		"main/exitinit/main.go":   initPlugin(`"os"`, `os.Exit(3)`),
		"main/hanginit/go.mod":    goMod("example.com/lt/hanginit", "example.com/lt/api", "../api"),
		"main/hanginit/main.go":   initPlugin(`"time"`, `for { time.Sleep(time.Hour) }`),
		"main/exe/go.mod":         goMod("example.com/lt/exe"),
		"main/exe/main.go":        "package main\n\nfunc main() {}\n",
		"main/old/go.mod":         goMod("example.com/lt/old", "example.com/lt/api", "../api"),
		"main/old/main.go":        greeterPlugin("hello from the old toolchain"),
		"main/clib/lt.c":          clibSource,
		"main/cabi/go.mod":        goMod("example.com/lt/cabi"),
		"main/cabi/main.go":       cLibSource,
		"skew/api/go.mod":         goMod("example.com/lt/api"),
		"skew/api/api.go":         apiSource + "\n// Edited is what makes this copy differ.\nfunc Edited() bool { return true }\n",
		"skew/skewplugin/go.mod":  goMod("example.com/lt/skew", "example.com/lt/api", "../api"),
		"skew/skewplugin/main.go": greeterPlugin("hello from skew"),
	})
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	// The shared library broken links against exists only while building.
	clib := filepath.Join(src, "main", "clib")
	cc := exec.Command("gcc", "-shared", "-fPIC", "-o", filepath.Join(clib, "libltmissing.so"), filepath.Join(clib, "lt.c"))
	if b, err := cc.CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}

	f := &fixture{
		dir:       out,
		host:      filepath.Join(out, "host"),
		keyedHost: filepath.Join(out, "keyedhost"),
		good:      filepath.Join(out, "good.so"),
		goodV2:    filepath.Join(out, "goodv2.so"),
		skew:      filepath.Join(out, "skew.so"),
		dup:       filepath.Join(out, "dup.so"),
		notPlugin: filepath.Join(out, "notplugin.so"),
		wrongType: filepath.Join(out, "wrongtype.so"),
		broken:    filepath.Join(out, "broken.so"),
		panicInit: filepath.Join(out, "panicinit.so"),
		exitInit:  filepath.Join(out, "exitinit.so"),
		hangInit:  filepath.Join(out, "hanginit.so"),
		old:       filepath.Join(out, "old.so"),
		cShared:   filepath.Join(out, "libcabi.so"),
		cArchive:  filepath.Join(out, "libcabi.a"),
	}
	type job struct {
		dir, toolchain string
		args           []string
	}
	plugin := func(dir, out string) job {
		return job{dir: filepath.Join(src, dir), args: []string{"-buildmode=plugin", "-o", out, "."}}
	}
	jobs := []job{
		{dir: filepath.Join(src, "main/host"), args: []string{"-o", f.host, "."}},
		{dir: filepath.Join(src, "main/host"), args: []string{"-ldflags=-X github.com/pbuild/pbuild/loader.hostABIKey=" + testKey, "-o", f.keyedHost, "."}},
		plugin("main/good", f.good),
		plugin("main/goodv2", f.goodV2),
		plugin("main/wrongtype", f.wrongType),
		plugin("main/broken", f.broken),
		plugin("main/panicinit", f.panicInit),
		plugin("main/exitinit", f.exitInit),
		plugin("main/hanginit", f.hangInit),
		plugin("skew/skewplugin", f.skew),
		{dir: filepath.Join(src, "main/exe"), args: []string{"-o", f.notPlugin, "."}},
		{dir: filepath.Join(src, "main/cabi"), args: []string{"-buildmode=c-shared", "-o", f.cShared, "."}},
		{dir: filepath.Join(src, "main/cabi"), args: []string{"-buildmode=c-archive", "-o", f.cArchive, "."}},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(jobs))
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = goBuild(j.dir, j.toolchain, j.args...)
		}()
	}
	// A plugin from another toolchain, if that toolchain is at hand
	// (GOPROXY=off: only from the module cache).
	oldErr := goBuild(filepath.Join(src, "main/old"), oldGo, "-buildmode=plugin", "-o", f.old, ".")
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if oldErr != nil {
		t.Logf("no plugin from %s (%v): its case is skipped", oldGo, oldErr)
		f.old = ""
	}
	if err := os.Remove(filepath.Join(clib, "libltmissing.so")); err != nil {
		t.Fatal(err)
	}
	copyFile(t, f.good, f.dup)
	return f
}

// runHost runs a test host and returns its stdout lines and exit code. The
// host must not crash or hang, and writes nothing on stderr.
func runHost(t *testing.T, host string, args ...string) ([]string, int) {
	t.Helper()
	lines, stderr, code := runHostEnv(t, nil, host, args...)
	if stderr != "" {
		t.Errorf("%s %v wrote on stderr (crash?):\n%s", host, args, stderr)
	}
	return lines, code
}

// runHostEnv runs a test host with env added to its environment and
// returns its stdout lines, its stderr and its exit code. The host must not
// hang.
func runHostEnv(t *testing.T, env []string, host string, args ...string) ([]string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, host, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s %v hung:\n%s", host, args, stdout.String())
	}
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("run %s: %v", host, err)
		}
		code = ee.ExitCode()
	}
	t.Logf("%s %v (exit %d):\n%s", filepath.Base(host), env, cmd.ProcessState.ExitCode(), stdout.String())
	return strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n"), stderr.String(), code
}

func checkOutput(t *testing.T, lines []string, code int, want []string, wantCode int) {
	t.Helper()
	if code != wantCode {
		t.Errorf("exit code %d, want %d", code, wantCode)
	}
	if len(lines) != len(want) {
		t.Errorf("got %d lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i := range want {
		if i >= len(lines) {
			break
		}
		if lines[i] != want[i] {
			t.Errorf("line %d:\n got: %s\nwant: %s", i+1, lines[i], want[i])
		}
	}
}

func readABI(t *testing.T, path string) *abi.File {
	t.Helper()
	f, err := abi.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// onlyProblem returns the one problem abi predicts for p after loaded.
func onlyProblem(t *testing.T, host string, p string, loaded ...string) abi.Problem {
	t.Helper()
	s := abi.NewSession(readABI(t, host), abi.Options{})
	for _, l := range loaded {
		s.Record(readABI(t, l), true)
	}
	ld := s.Predict(readABI(t, p))
	if ld.OK || len(ld.Problems) != 1 {
		t.Fatalf("abi predicts %+v for %s, want one problem", ld, p)
	}
	return ld.Problems[0]
}

func mustContain(t *testing.T, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%q does not contain %q", s, sub)
		}
	}
}

// writeManifest writes a manifest into dir listing the given artifacts
// (file relative to dir -> sha256; "" for the file's real sum).
func writeManifest(t *testing.T, dir, key string, files map[string]string) {
	t.Helper()
	type art struct {
		Name   string `json:"name"`
		Kind   string `json:"kind"`
		File   string `json:"file"`
		SHA256 string `json:"sha256"`
	}
	m := struct {
		SchemaVersion int    `json:"schemaVersion"`
		ABIKey        string `json:"abiKey"`
		Artifacts     []art  `json:"artifacts"`
	}{SchemaVersion: 1, ABIKey: key}
	for file, sum := range files {
		if sum == "" {
			var err error
			if sum, err = fileSHA256(filepath.Join(dir, filepath.FromSlash(file))); err != nil {
				t.Fatal(err)
			}
		}
		name := strings.TrimSuffix(filepath.Base(file), ".so")
		m.Artifacts = append(m.Artifacts, art{Name: name, Kind: "plugin", File: file, SHA256: sum})
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, manifestName), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// distWith makes root/name/plugins/good.so, a copy of good, with the
// manifest written by write into root/name.
func distWith(t *testing.T, root, name, good string, write func(dist string)) string {
	t.Helper()
	dist := filepath.Join(root, name)
	if err := os.MkdirAll(filepath.Join(dist, "plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dist, "plugins", "good.so")
	copyFile(t, good, p)
	write(dist)
	return p
}

func TestPlugins(t *testing.T) {
	if testing.Short() {
		t.Skip("builds plugins")
	}
	f := buildFixture(t)

	t.Run("LoadsAndRefuses", func(t *testing.T) {
		// Every kind of misfit is refused with its cause; the others load;
		// the host survives; the same file opened again is fine.
		args := []string{f.good, f.skew, f.dup, f.notPlugin, f.wrongType, f.good, f.goodV2}
		if f.old != "" {
			args = append(args, f.old)
		}
		skew := onlyProblem(t, f.host, f.skew, f.good)
		dup := onlyProblem(t, f.host, f.dup, f.good)
		notPlugin := onlyProblem(t, f.host, f.notPlugin)
		want := []string{
			"ok good: hello from good",
			"refused skew: refuse " + f.skew + ": " + skew.Summary(),
			"refused dup: refuse " + f.dup + ": " + dup.Summary(),
			"refused notplugin: refuse " + f.notPlugin + ": " + notPlugin.Summary(),
			"refused wrongtype: symbol Plugin in wrongtype.so is *main.other, want api.Greeter or *api.Greeter",
			"ok good: hello from good",
			"ok goodv2: hello from good v2",
		}
		if f.old != "" {
			old := onlyProblem(t, f.host, f.old, f.good, f.wrongType, f.goodV2)
			if strings.HasPrefix(runtime.Version(), "go1.26") {
				// Measured with a go1.26.8 host: a go1.24 plugin opened
				// first kills it; after plugins that loaded, plugin.Open
				// reports "plugin already loaded".
				if first := onlyProblem(t, f.host, f.old); !first.Fatal {
					t.Errorf("a plugin from %s opened first is not reported as fatal: %+v", oldGo, first)
				}
				if old.Fatal {
					t.Errorf("a plugin from %s opened after others is reported as fatal: %+v", oldGo, old)
				}
			}
			if len(old.Causes) == 0 || old.Causes[0].Kind != abi.CauseToolchain {
				t.Errorf("a plugin from %s: causes %+v, want the toolchain first", oldGo, old.Causes)
			}
			mustContain(t, old.Summary(), "toolchain", oldGo, runtime.Version())
			want = append(want, "refused old: refuse "+f.old+": "+old.Summary())
		}
		lines, code := runHost(t, f.host, args...)
		checkOutput(t, lines, code, want, 1)

		// The causes are named.
		if skew.Kind != abi.PackageMismatch || len(skew.Causes) == 0 || skew.Causes[0].Kind != abi.CauseSource ||
			len(skew.Packages) != 1 || skew.Packages[0] != "example.com/lt/api" {
			t.Errorf("skew: %+v, want a source difference in example.com/lt/api", skew)
		}
		mustContain(t, want[1], "example.com/lt/api")
		if dup.Kind != abi.DuplicatePluginPath {
			t.Errorf("dup: %+v", dup)
		}
		mustContain(t, want[2], "example.com/lt/good", f.good)
		if notPlugin.Kind != abi.NotPlugin {
			t.Errorf("notplugin: %+v", notPlugin)
		}
		mustContain(t, want[3], "not a plugin")
	})

	t.Run("AllGood", func(t *testing.T) {
		lines, code := runHost(t, f.host, f.goodV2, f.good)
		checkOutput(t, lines, code, []string{"ok goodv2: hello from good v2", "ok good: hello from good"}, 0)
	})

	t.Run("Poisoned", func(t *testing.T) {
		// broken passes the check (abi does not model missing shared
		// libraries) and fails in plugin.Open: nothing is opened after it.
		openErr := fmt.Sprintf("load %s: plugin.Open(%q): libltmissing.so: cannot open shared object file: No such file or directory"+
			" (the runtime refused a plugin that passed pbuild's load check: please report this as a pbuild bug)", f.broken, f.broken)
		poisoned := func(p string) string {
			return "refuse " + p + ": an earlier plugin failed to load (" + openErr + "); the process's plugin state cannot be trusted: restart the process"
		}
		lines, code := runHost(t, f.host, f.good, f.broken, f.goodV2, f.good)
		checkOutput(t, lines, code, []string{
			"ok good: hello from good",
			"refused broken: " + openErr,
			"refused goodv2: " + poisoned(f.goodV2),
			"refused good: " + poisoned(f.good),
		}, 1)
	})

	t.Run("Manifest", func(t *testing.T) {
		root := t.TempDir()
		sum, err := fileSHA256(f.good)
		if err != nil {
			t.Fatal(err)
		}
		zeros := strings.Repeat("0", 64)
		okDist := distWith(t, root, "ok", f.good, func(d string) { writeManifest(t, d, testKey, map[string]string{"plugins/good.so": ""}) })
		badSum := distWith(t, root, "sum", f.good, func(d string) { writeManifest(t, d, testKey, map[string]string{"plugins/good.so": zeros}) })
		badKey := distWith(t, root, "key", f.good, func(d string) { writeManifest(t, d, otherKey, map[string]string{"plugins/good.so": ""}) })
		unlisted := distWith(t, root, "unlisted", f.good, func(d string) {
			copyFile(t, f.goodV2, filepath.Join(d, "plugins", "goodv2.so"))
			writeManifest(t, d, testKey, map[string]string{"plugins/goodv2.so": ""})
		})
		// A manifest in the plugins' own directory is found first.
		flat := filepath.Join(root, "flat")
		if err := os.MkdirAll(flat, 0o755); err != nil {
			t.Fatal(err)
		}
		copyFile(t, f.good, filepath.Join(flat, "good.so"))
		writeManifest(t, flat, testKey, map[string]string{"good.so": ""})
		writeManifest(t, root, otherKey, map[string]string{}) // the parent's, not used

		mp := func(p string) string { return filepath.Join(filepath.Dir(filepath.Dir(p)), manifestName) }
		for _, c := range []struct {
			name, host, plugin, want string
		}{
			{"Matching", f.keyedHost, okDist, "ok good: hello from good"},
			{"OwnDirectory", f.keyedHost, filepath.Join(flat, "good.so"), "ok good: hello from good"},
			{"WrongSHA256", f.keyedHost, badSum, "refused good: refuse " + badSum + ": sha256 does not match manifest " + mp(badSum) +
				" (artifact good): have " + sum + ", want " + zeros},
			{"WrongABIKey", f.keyedHost, badKey, "refused good: refuse " + badKey + ": abiKey of manifest " + mp(badKey) +
				" is not the host's: have " + otherKey + ", want " + testKey},
			{"NotListed", f.keyedHost, unlisted, "refused good: refuse " + unlisted + ": not listed in manifest " + mp(unlisted) +
				`: no artifact has file "plugins/good.so"`},
			// A host without a key does not compare keys.
			{"UnkeyedHost", f.host, badKey, "ok good: hello from good"},
		} {
			t.Run(c.name, func(t *testing.T) {
				wantCode := 0
				if strings.HasPrefix(c.want, "refused") {
					wantCode = 1
				}
				lines, code := runHost(t, c.host, c.plugin)
				checkOutput(t, lines, code, []string{c.want}, wantCode)
			})
		}

		// The same cases statically, in this process.
		t.Run("Check", func(t *testing.T) {
			l := newLoader(t, WithExecutable(f.keyedHost), WithABIKey(testKey))
			for _, p := range []string{okDist, filepath.Join(flat, "good.so")} {
				if err := l.Check(p); err != nil {
					t.Errorf("Check(%s) = %v", p, err)
				}
			}
			for _, p := range []string{badSum, badKey, unlisted} {
				var re *RefusedError
				if err := l.Check(p); !errors.As(err, &re) || re.Reason == "" || len(re.Problems) != 0 {
					t.Errorf("Check(%s) = %v, want a manifest refusal", p, err)
				}
			}
			// WithABIKey overrides the key, "" disables its check.
			if err := newLoader(t, WithExecutable(f.keyedHost), WithABIKey(otherKey)).Check(badKey); err != nil {
				t.Errorf("WithABIKey(otherKey).Check = %v", err)
			}
			if err := newLoader(t, WithExecutable(f.keyedHost), WithABIKey(otherKey)).Check(okDist); err == nil {
				t.Errorf("WithABIKey(otherKey).Check(%s) = nil, want a key mismatch", okDist)
			}
			if err := newLoader(t, WithExecutable(f.keyedHost), WithABIKey("")).Check(badKey); err != nil {
				t.Errorf(`WithABIKey("").Check = %v`, err)
			}
			if err := newLoader(t, WithExecutable(f.keyedHost), WithABIKey("unknown")).Check(badKey); err != nil {
				t.Errorf(`WithABIKey("unknown").Check = %v`, err)
			}
			// WithoutManifest skips the manifest altogether.
			nm := newLoader(t, WithExecutable(f.keyedHost), WithABIKey(testKey), WithoutManifest())
			for _, p := range []string{badSum, badKey, unlisted} {
				if err := nm.Check(p); err != nil {
					t.Errorf("WithoutManifest: Check(%s) = %v", p, err)
				}
			}
			// WithRequireManifest: a plugin no manifest vouches for is refused.
			rm := newLoader(t, WithExecutable(f.keyedHost), WithABIKey(testKey), WithRequireManifest())
			if err := rm.Check(okDist); err != nil {
				t.Errorf("WithRequireManifest: Check(%s) = %v", okDist, err)
			}
			lone := filepath.Join(t.TempDir(), "lone", "good.so")
			if err := os.MkdirAll(filepath.Dir(lone), 0o755); err != nil {
				t.Fatal(err)
			}
			copyFile(t, f.good, lone)
			if err := rm.Check(lone); err == nil || !strings.Contains(err.Error(), "requires one (WithRequireManifest)") {
				t.Errorf("WithRequireManifest: Check(%s) = %v, want a refusal", lone, err)
			}
			// An unreadable manifest refuses.
			bad := distWith(t, root, "garbage", f.good, func(d string) {
				if err := os.WriteFile(filepath.Join(d, manifestName), []byte("{"), 0o644); err != nil {
					t.Fatal(err)
				}
			})
			err := l.Check(bad)
			var re *RefusedError
			if !errors.As(err, &re) || !strings.Contains(re.Reason, "cannot read manifest") {
				t.Errorf("Check with a broken manifest = %v", err)
			}
		})
	})

	// A plugin file may be named anything (plugins/greet.so.0.1) when the
	// manifest, of schema version 2, lists it; a C-ABI library is refused,
	// listed or not, and the host survives.
	t.Run("FileNamesAndLibraries", func(t *testing.T) {
		dist := filepath.Join(t.TempDir(), "dist")
		for _, d := range []string{"plugins", "lib"} {
			if err := os.MkdirAll(filepath.Join(dist, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		greet := filepath.Join(dist, "plugins", "greet.so.0.1")
		copyFile(t, f.good, greet)
		shared, archive := filepath.Join(dist, "lib", "cabi.so"), filepath.Join(dist, "lib", "cabi.a")
		copyFile(t, f.cShared, shared)
		copyFile(t, f.cArchive, archive)
		lone := filepath.Join(t.TempDir(), "libcabi.so")
		copyFile(t, f.cShared, lone)
		sum := func(p string) string {
			s, err := fileSHA256(p)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		m := fmt.Sprintf(`{"schemaVersion": 2, "abiKey": %q, "toolchain": {"packages": []}, "artifacts": [
  {"name": "greet", "kind": "plugin", "file": "plugins/greet.so.0.1", "sha256": %q, "loadedBy": "a Go host, with plugin.Open"},
  {"name": "cabi", "kind": "c-shared", "file": "lib/cabi.so", "sha256": %q, "loadedBy": "a C host, with dlopen (not Go)", "header": {"file": "lib/cabi.h", "size": 0, "sha256": %q}},
  {"name": "cabistatic", "kind": "c-archive", "file": "lib/cabi.a", "sha256": %q, "loadedBy": "a C program's link (not Go)", "header": {"file": "lib/cabistatic.h", "size": 0, "sha256": %q}}
]}`, testKey, sum(greet), sum(shared), sum(shared), sum(archive), sum(archive))
		if err := os.WriteFile(filepath.Join(dist, manifestName), []byte(m), 0o644); err != nil {
			t.Fatal(err)
		}
		listed := func(p, kind, name string) string {
			return "refuse " + p + ": manifest " + filepath.Join(dist, manifestName) + " lists it as a C-ABI library (artifact " + name + ", " + kind +
				"): it is for C hosts, not a Go plugin; load it with dlopen from C, or build it as a plugin (plugins: in pbuild.yaml) to load it from Go"
		}
		unlisted := onlyProblem(t, f.host, lone)
		if unlisted.Kind != abi.CLibrary {
			t.Errorf("a c-shared library without a manifest: %+v, want %s", unlisted, abi.CLibrary)
		}
		mustContain(t, unlisted.Summary(), "a C-ABI library (-buildmode=c-shared), for C hosts, not a Go plugin")
		lines, code := runHost(t, f.keyedHost, greet, shared, archive, lone, f.goodV2)
		checkOutput(t, lines, code, []string{
			"ok greet.so.0.1: hello from good",
			"refused cabi: " + listed(shared, "c-shared", "cabi"),
			"refused cabi.a: " + listed(archive, "c-archive", "cabistatic"),
			"refused libcabi: refuse " + lone + ": " + unlisted.Summary(),
			"ok goodv2: hello from good v2",
		}, 1)
	})

	t.Run("Check", func(t *testing.T) {
		l := newLoader(t, WithExecutable(f.host))
		for _, p := range []string{f.good, f.goodV2, f.dup, f.wrongType, f.broken} {
			if err := l.Check(p); err != nil {
				t.Errorf("Check(%s) = %v", p, err)
			}
		}
		cases := []struct {
			path string
			kind abi.Kind
		}{
			{f.skew, abi.PackageMismatch},
			{f.notPlugin, abi.NotPlugin},
		}
		if f.old != "" {
			cases = append(cases, struct {
				path string
				kind abi.Kind
			}{f.old, abi.PackageMismatch})
		}
		for _, c := range cases {
			var re *RefusedError
			if err := l.Check(c.path); !errors.As(err, &re) || len(re.Problems) == 0 || re.Problems[0].Kind != c.kind {
				t.Errorf("Check(%s) = %v, want a %s refusal", c.path, err, c.kind)
			}
		}
		// Unreadable files.
		err := l.Check(filepath.Join(f.dir, "missing.so"))
		var re *RefusedError
		if !errors.As(err, &re) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Check(missing) = %v, want a refusal wrapping fs.ErrNotExist", err)
		}
		text := filepath.Join(t.TempDir(), "text.so")
		if err := os.WriteFile(text, []byte("not a plugin\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := l.Check(text); err == nil || !strings.HasPrefix(err.Error(), "refuse "+text+": cannot read it: not an ELF file") {
			t.Errorf("Check(text) = %v", err)
		}
	})

	t.Run("Probe", func(t *testing.T) { testProbe(t, f) })

	t.Run("PanicPoisons", func(t *testing.T) {
		// A plugin whose init panics panics out of Open; a host that
		// recovers finds the loader poisoned, instead of plugin.Open
		// being called on the path again, which would block forever.
		calls := 0
		panicking := func(string) (symbols, error) { calls++; panic("boom in init") }
		l := newLoader(t, WithExecutable(f.host), WithoutManifest(), withOpen(panicking))
		for i := 0; i < 2; i++ {
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil && r != "boom in init" {
						t.Errorf("recovered %v, want the plugin's panic", r)
					}
				}()
				_, err = l.Open(f.good)
			}()
			if i == 1 {
				var pe *PoisonedError
				if !errors.As(err, &pe) || !errors.Is(pe.First, errInitPanicked) {
					t.Errorf("Open after a panic = %v, want a *PoisonedError", err)
				}
			}
		}
		if calls != 1 {
			t.Errorf("plugin.Open called %d times, want 1", calls)
		}
	})

	t.Run("FakeOpen", func(t *testing.T) {
		// Real files, checked for real; plugin.Open replaced.
		fo := &fakeOpener{fail: map[string]error{}}
		l := newLoader(t, WithExecutable(f.host), WithoutManifest(), withOpen(fo.open))

		// Concurrent opens of one file load it once.
		var wg sync.WaitGroup
		got := make([]*Plugin, 8)
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p, err := l.Open(f.good)
				if err != nil {
					t.Error(err)
				}
				got[i] = p
			}()
		}
		wg.Wait()
		for _, p := range got {
			if p == nil || p != got[0] {
				t.Fatalf("concurrent opens returned %v", got)
			}
		}
		if p := got[0]; p.Path != f.good || p.PluginPath != "example.com/lt/good" {
			t.Errorf("plugin = %+v", p)
		}
		// By another path to the same file: the same plugin.
		link := filepath.Join(t.TempDir(), "link.so")
		if err := os.Symlink(f.good, link); err != nil {
			t.Fatal(err)
		}
		if p, err := l.Open(link); err != nil || p != got[0] {
			t.Errorf("Open(symlink) = %v, %v; want the plugin already open", p, err)
		}
		if err := l.Check(f.good); err != nil {
			t.Errorf("Check(open plugin) = %v", err)
		}
		// A copy under another name has the same pluginpath.
		var re *RefusedError
		if _, err := l.Open(f.dup); !errors.As(err, &re) || re.Problems[0].Kind != abi.DuplicatePluginPath {
			t.Errorf("Open(dup) = %v, want a duplicate-pluginpath refusal", err)
		}
		if err := l.Check(f.dup); !errors.As(err, &re) {
			t.Errorf("Check(dup) = %v", err)
		}
		// Another version, another pluginpath: side by side.
		if _, err := l.Open(f.goodV2); err != nil {
			t.Errorf("Open(goodV2) = %v", err)
		}
		if n := fo.count(); n != 2 {
			t.Errorf("plugin.Open called %d times, want 2", n)
		}

		// A runtime failure poisons the loader.
		real := func(p string) string { r, _ := filepath.EvalSymlinks(p); return r }
		cause := errors.New("plugin.Open: it went wrong")
		fo.fail[real(f.wrongType)] = cause
		_, err := l.Open(f.wrongType)
		var oe *OpenError
		if !errors.As(err, &oe) || oe.Path != f.wrongType || !errors.Is(err, cause) {
			t.Fatalf("Open(failing) = %v, want an *OpenError", err)
		}
		for _, p := range []string{f.broken, f.good, f.wrongType} {
			_, err := l.Open(p)
			var pe *PoisonedError
			if !errors.As(err, &pe) || pe.Path != p || pe.First != oe {
				t.Errorf("Open(%s) after a failure = %v, want a *PoisonedError", p, err)
			}
			if errors.As(err, &oe) {
				t.Errorf("a PoisonedError unwraps to the other plugin's OpenError")
			}
		}
		if n := fo.count(); n != 3 {
			t.Errorf("plugin.Open called %d times, want 3: nothing after the failure", n)
		}
		// Check stays static.
		if err := l.Check(f.broken); err != nil {
			t.Errorf("Check after poisoning = %v", err)
		}
	})
}

func newLoader(t *testing.T, opts ...Option) *Loader {
	t.Helper()
	l, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// fakeOpener replaces plugin.Open.
type fakeOpener struct {
	mu    sync.Mutex
	n     int
	fail  map[string]error
	names []string
}

func (o *fakeOpener) open(path string) (symbols, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n++
	o.names = append(o.names, path)
	if err := o.fail[path]; err != nil {
		return nil, err
	}
	return fakeSymbols{}, nil
}

func (o *fakeOpener) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n
}
