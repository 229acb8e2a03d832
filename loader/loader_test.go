package loader

import (
	"errors"
	"os"
	"path/filepath"
	"plugin"
	"strings"
	"testing"

	"github.com/pbuild/pbuild/loader/abi"
)

// fakeSymbols is a plugin's symbol table: variables as pointers, functions
// as values, as plugin.Lookup returns them.
type fakeSymbols map[string]plugin.Symbol

func (s fakeSymbols) Lookup(name string) (plugin.Symbol, error) {
	if v, ok := s[name]; ok {
		return v, nil
	}
	return nil, errors.New("plugin: symbol " + name + " not found in plugin example.com/fake")
}

type greeter interface{ Greet() string }

type english struct{}

func (english) Greet() string { return "hello" }

type other struct{}

func TestLookup(t *testing.T) {
	var g greeter = english{}
	var n = 42
	var nilPtr *greeter
	p := &Plugin{Path: "/dist/plugins/hello.so", PluginPath: "example.com/fake", syms: fakeSymbols{
		"Plugin": &g,
		"Count":  &n,
		"Hello":  func() string { return "hi" },
		"Other":  &other{},
		"Value":  english{},
		"Nil":    nilPtr,
	}}

	// A variable comes back as a pointer and is dereferenced.
	if v, err := Lookup[greeter](p, "Plugin"); err != nil || v.Greet() != "hello" {
		t.Errorf("Lookup[greeter](Plugin) = %v, %v", v, err)
	}
	if v, err := Lookup[int](p, "Count"); err != nil || v != 42 {
		t.Errorf("Lookup[int](Count) = %v, %v", v, err)
	}
	// Asking for the pointer type works too.
	if v, err := Lookup[*int](p, "Count"); err != nil || v != &n {
		t.Errorf("Lookup[*int](Count) = %v, %v", v, err)
	}
	// A function comes back as its value.
	if f, err := Lookup[func() string](p, "Hello"); err != nil || f() != "hi" {
		t.Errorf("Lookup[func() string](Hello) = %v", err)
	}
	// A symbol that is a T already.
	if v, err := Lookup[greeter](p, "Value"); err != nil || v.Greet() != "hello" {
		t.Errorf("Lookup[greeter](Value) = %v, %v", v, err)
	}

	for _, c := range []struct {
		name, want string
		lookup     func() error
	}{
		{"Other", "symbol Other in hello.so is *loader.other, want loader.greeter or *loader.greeter",
			func() error { _, err := Lookup[greeter](p, "Other"); return err }},
		{"Count", "symbol Count in hello.so is *int, want string or *string",
			func() error { _, err := Lookup[string](p, "Count"); return err }},
		{"Hello", "symbol Hello in hello.so is func() string, want func() int or *func() int",
			func() error { _, err := Lookup[func() int](p, "Hello"); return err }},
		{"Nil", "symbol Nil in hello.so is a nil *loader.greeter, want loader.greeter or *loader.greeter",
			func() error { _, err := Lookup[greeter](p, "Nil"); return err }},
	} {
		err := c.lookup()
		var se *SymbolError
		if !errors.As(err, &se) || err.Error() != c.want || se.Symbol != c.name || se.Path != p.Path || se.Err != nil {
			t.Errorf("Lookup(%s) = %v\nwant %s", c.name, err, c.want)
		}
	}

	// Missing symbols.
	_, err := Lookup[greeter](p, "Missing")
	var se *SymbolError
	if !errors.As(err, &se) || se.Err == nil || se.Got != "" ||
		err.Error() != "symbol Missing in hello.so: plugin: symbol Missing not found in plugin example.com/fake" {
		t.Errorf("Lookup(Missing) = %v", err)
	}
	if _, err := p.Lookup("Missing"); !errors.As(err, &se) || errors.Unwrap(err) != se.Err {
		t.Errorf("Plugin.Lookup(Missing) = %v", err)
	}
	if s, err := p.Lookup("Count"); err != nil || s != &n {
		t.Errorf("Plugin.Lookup(Count) = %v, %v", s, err)
	}
}

func TestErrors(t *testing.T) {
	pr := func(detail string) abi.Problem { return abi.Problem{Kind: abi.PackageMismatch, Detail: detail} }
	inner := errors.New("boom")
	for _, c := range []struct {
		err  error
		want string
	}{
		{&RefusedError{Path: "p.so", Reason: "not listed"}, "refuse p.so: not listed"},
		{&RefusedError{Path: "p.so", Problems: []abi.Problem{pr("one")}}, "refuse p.so: one"},
		{&RefusedError{Path: "p.so", Problems: []abi.Problem{pr("one"), pr("two"), pr("three")}}, "refuse p.so: one; and 2 more"},
		{&RefusedError{Path: "p.so", Problems: []abi.Problem{{Detail: "d", Packages: []string{"a", "b"}}}}, "refuse p.so: d; differing packages: a, b"},
		{&OpenError{Path: "p.so", Err: inner}, "load p.so: boom (the runtime refused a plugin that passed pbuild's load check: please report this as a pbuild bug)"},
		{&PoisonedError{Path: "q.so", First: inner}, "refuse q.so: an earlier plugin failed to load (boom); the process's plugin state cannot be trusted: restart the process"},
		{&SymbolError{Path: "/d/hello.so", Symbol: "Plugin", Got: "*main.other", Want: "api.Greeter or *api.Greeter"},
			"symbol Plugin in hello.so is *main.other, want api.Greeter or *api.Greeter"},
		{&SymbolError{Path: "/d/hello.so", Symbol: "Plugin", Err: inner}, "symbol Plugin in hello.so: boom"},
	} {
		if got := c.err.Error(); got != c.want {
			t.Errorf("%T.Error() =\n%s\nwant\n%s", c.err, got, c.want)
		}
	}
	if !errors.Is(&OpenError{Err: inner}, inner) || !errors.Is(&RefusedError{Err: inner}, inner) || !errors.Is(&SymbolError{Err: inner}, inner) {
		t.Error("errors do not unwrap")
	}
}

func TestNew(t *testing.T) {
	// The test binary links package plugin through this package.
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if len(l.session.HostProblems()) != 0 || len(l.host.Packages) == 0 {
		t.Errorf("host problems %v, %d packages", l.session.HostProblems(), len(l.host.Packages))
	}
	if l.abiKey != "" {
		t.Errorf("unstamped key = %q", l.abiKey)
	}
	if l, _ := New(WithABIKey("unknown")); l.abiKey != "" {
		t.Errorf(`WithABIKey("unknown"): key %q`, l.abiKey)
	}
	if l, _ := New(WithABIKey("sha256:1")); l.abiKey != "sha256:1" {
		t.Errorf(`WithABIKey: key %q`, l.abiKey)
	}
	if _, err := New(WithExecutable(filepath.Join(t.TempDir(), "none"))); err == nil {
		t.Error("New with a missing executable succeeded")
	}
	// A file that is not a plugin is refused by the check, nothing opened.
	opened := 0
	l, err = New(WithoutManifest(), withOpen(func(string) (symbols, error) { opened++; return fakeSymbols{}, nil }))
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	var re *RefusedError
	if _, err := l.Open(exe); !errors.As(err, &re) || len(re.Problems) != 1 || re.Problems[0].Kind != abi.NotPlugin || opened != 0 {
		t.Errorf("Open(test binary) = %v (opened %d)", err, opened)
	}
	// A host that cannot load plugins (here: it needs a newer glibc than
	// the target's) refuses every plugin with the reason.
	if l, err := New(WithExecutable(exe), WithMaxGLIBC("1.0")); err == nil {
		if err := l.Check(exe); err == nil || !strings.Contains(err.Error(), "the host cannot load plugins") {
			t.Errorf("Check with an impossible glibc = %v", err)
		}
	}
}

func TestManifest(t *testing.T) {
	const key = "sha256:1111"
	root := t.TempDir()
	dist := filepath.Join(root, "dist")
	plugins := filepath.Join(dist, "plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(plugins, "x.so")
	if err := os.WriteFile(file, []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := &Loader{abiKey: key}

	// No manifest: nothing to verify.
	if err := l.verifyManifest(file); err != nil {
		t.Errorf("no manifest: %v", err)
	}

	write := func(dir, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, manifestName), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const sum = "ed7002b439e9ac845f22357d822bac1444730fbdb6016d3ec9432297b9ec9f73" // sha256("content")
	for _, c := range []struct {
		name, body, want string
	}{
		{"ok", `{"schemaVersion":1,"abiKey":"sha256:1111","artifacts":[{"name":"x","kind":"plugin","file":"plugins/x.so","sha256":"` + sum + `"}]}`, ""},
		{"upper-case sum", `{"schemaVersion":1,"abiKey":"sha256:1111","artifacts":[{"name":"x","kind":"plugin","file":"plugins/x.so","sha256":"` + strings.ToUpper(sum) + `"}]}`, ""},
		{"unlisted", `{"schemaVersion":1,"abiKey":"sha256:1111","artifacts":[{"name":"y","kind":"plugin","file":"plugins/y.so","sha256":"` + sum + `"}]}`,
			"not listed in manifest " + filepath.Join(dist, manifestName) + `: no artifact has file "plugins/x.so"`},
		{"sum", `{"schemaVersion":1,"abiKey":"sha256:1111","artifacts":[{"name":"x","kind":"plugin","file":"plugins/x.so","sha256":"00"}]}`,
			"sha256 does not match manifest " + filepath.Join(dist, manifestName) + " (artifact x): have " + sum + ", want 00"},
		{"key", `{"schemaVersion":1,"abiKey":"sha256:2222","artifacts":[{"name":"x","kind":"plugin","file":"plugins/x.so","sha256":"` + sum + `"}]}`,
			"abiKey of manifest " + filepath.Join(dist, manifestName) + " is not the host's: have sha256:2222, want sha256:1111"},
		{"no key", `{"schemaVersion":1,"artifacts":[{"name":"x","kind":"plugin","file":"plugins/x.so","sha256":"` + sum + `"}]}`,
			"abiKey of manifest " + filepath.Join(dist, manifestName) + " is not the host's: have (unset), want sha256:1111"},
		{"version 2", `{"schemaVersion":2,"abiKey":"sha256:1111","toolchain":{"packages":["libnbd-dev=1.14.2-1"]},"artifacts":[{"name":"x","kind":"plugin","file":"plugins/x.so","sha256":"` + sum + `","loadedBy":"a Go host, with plugin.Open"}]}`, ""},
		{"version 3", `{"schemaVersion":3}`,
			"cannot read manifest " + filepath.Join(dist, manifestName) + ": schemaVersion 3, this loader reads 1 to 2"},
		{"version 0", `{"abiKey":"sha256:1111"}`,
			"cannot read manifest " + filepath.Join(dist, manifestName) + ": schemaVersion 0, this loader reads 1 to 2"},
		// A C-ABI library is refused whatever its sha256 and key: it is
		// no Go plugin.
		{"c-shared", `{"schemaVersion":2,"abiKey":"sha256:1111","artifacts":[{"name":"x","kind":"c-shared","file":"plugins/x.so","sha256":"` + sum + `","header":{"file":"plugins/x.h","size":1,"sha256":"` + sum + `"}}]}`,
			"manifest " + filepath.Join(dist, manifestName) + " lists it as a C-ABI library (artifact x, c-shared): it is for C hosts, not a Go plugin; " +
				"load it with dlopen from C, or build it as a plugin (plugins: in pbuild.yaml) to load it from Go"},
		{"c-archive", `{"schemaVersion":2,"abiKey":"sha256:2222","artifacts":[{"name":"x","kind":"c-archive","file":"plugins/x.so","sha256":"00"}]}`,
			"manifest " + filepath.Join(dist, manifestName) + " lists it as a C-ABI library (artifact x, c-archive): it is for C hosts, not a Go plugin; " +
				"load it with dlopen from C, or build it as a plugin (plugins: in pbuild.yaml) to load it from Go"},
	} {
		write(dist, c.body)
		err := l.verifyManifest(file)
		var re *RefusedError
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (!errors.As(err, &re) || re.Reason != c.want || re.Path != file):
			t.Errorf("%s: got %v\nwant reason %s", c.name, err, c.want)
		}
	}

	// A manifest in the plugin's own directory wins over its parent's.
	write(plugins, `{"schemaVersion":1,"abiKey":"sha256:1111","artifacts":[{"name":"x","kind":"plugin","file":"x.so","sha256":"`+sum+`"}]}`)
	if err := l.verifyManifest(file); err != nil {
		t.Errorf("manifest beside the plugin: %v", err)
	}
	// A plugin's file may be named anything the manifest lists.
	versioned := filepath.Join(plugins, "greet.so.0.1")
	if err := os.WriteFile(versioned, []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	write(plugins, `{"schemaVersion":2,"abiKey":"sha256:1111","artifacts":[{"name":"greet","kind":"plugin","file":"greet.so.0.1","sha256":"`+sum+`","loadedBy":"a Go host, with plugin.Open"}]}`)
	if err := l.verifyManifest(versioned); err != nil {
		t.Errorf("plugin file greet.so.0.1 listed in the manifest: %v", err)
	}
	// Without a key, keys are not compared.
	write(plugins, `{"schemaVersion":1,"abiKey":"sha256:9","artifacts":[{"name":"x","kind":"plugin","file":"x.so","sha256":"`+sum+`"}]}`)
	if err := (&Loader{}).verifyManifest(file); err != nil {
		t.Errorf("no host key: %v", err)
	}
}

func TestRequireManifest(t *testing.T) {
	if _, err := New(WithoutManifest(), WithRequireManifest()); err == nil {
		t.Error("New(WithoutManifest(), WithRequireManifest()) succeeded")
	}
	dir := filepath.Join(t.TempDir(), "plugins")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "x.so")
	if err := os.WriteFile(file, []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Without the option a missing manifest is no refusal; with it, it is.
	if err := (&Loader{}).verifyManifest(file); err != nil {
		t.Errorf("no manifest: %v", err)
	}
	err := (&Loader{requireManifest: true}).verifyManifest(file)
	var re *RefusedError
	want := "no pbuild.manifest.json in " + dir + " or " + filepath.Dir(dir) + ", and the loader requires one (WithRequireManifest): only a manifest's sha256 proves a plugin intact"
	if !errors.As(err, &re) || re.Reason != want {
		t.Errorf("WithRequireManifest, no manifest: %v\nwant reason %s", err, want)
	}
	// A manifest that lists it with its sha256 satisfies it.
	const sum = "ed7002b439e9ac845f22357d822bac1444730fbdb6016d3ec9432297b9ec9f73" // sha256("content")
	m := `{"schemaVersion":1,"artifacts":[{"name":"x","kind":"plugin","file":"x.so","sha256":"` + sum + `"}]}`
	if err := os.WriteFile(filepath.Join(dir, manifestName), []byte(m), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := (&Loader{requireManifest: true}).verifyManifest(file); err != nil {
		t.Errorf("WithRequireManifest with a manifest: %v", err)
	}
}
