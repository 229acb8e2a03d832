package abi

import (
	"fmt"
	"strings"
	"testing"
)

// The tests in this file hold Check to what plugin.Open and the dynamic
// linker do (see the loader's TestAgree and tests/matrix_test.go for the
// same on real files).

func TestLinkerPath(t *testing.T) {
	for in, want := range map[string]string{
		"example.com/x":             "example.com/x",
		"example.com/x.pkg":         "example.com/x%2epkg",
		"example.com/a.b/c.d.e":     "example.com/a.b/c%2ed%2ee",
		"example.com/sp ace/q\"%":   "example.com/sp%20ace/q%22%25",
		"gopkg.in/yaml.v3":          "gopkg.in/yaml%2ev3",
		"example.com/\u00e9t\u00e9": "example.com/%c3%a9t%c3%a9",
		"main":                      "main",
		"plugin/unnamed-1234":       "plugin/unnamed-1234",
	} {
		if got := LinkerPath(in); got != want {
			t.Errorf("LinkerPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSameModuleData: measured with go1.22.12, go1.23.12, go1.24.4,
// go1.25.14 and go1.26.8, every host with every plugin: go1.23 to go1.25
// fail cleanly with one another ("different version of package
// internal/goarch"), every other pair of them kills the host.
func TestSameModuleData(t *testing.T) {
	vs := []string{"go1.22.12", "go1.23.12", "go1.24.4", "go1.25.14", "go1.26.8"}
	clean := map[string]bool{"go1.23": true, "go1.24": true, "go1.25": true}
	for _, h := range vs {
		for _, p := range vs {
			want := minor(h) == minor(p) || clean[minor(h)] && clean[minor(p)]
			if got := sameModuleData(p, h); got != want {
				t.Errorf("plugin %s in host %s: same module data %v, want %v", p, h, got, want)
			}
		}
	}
	if sameModuleData("go1.27.1", "go1.24.4") || sameModuleData("go1.24.4", "go1.21.13") {
		t.Error("a release not measured counts as compatible")
	}
	host := bin("host", false, pk("runtime", "r1"))
	for v, fatal := range map[string]bool{"go1.23.12": false, "go1.25.14": false, "go1.26.8": true, "go1.22.12": true, "go1.24.3": false} {
		p := bin("p.so", true, pk("runtime", "r2"))
		p.GoVersion = v
		l := Check(host, []*File{p}, Options{}).Loads[0]
		if l.OK || l.Dies != fatal || l.Problems[0].Fatal != fatal {
			t.Errorf("%s in go1.24.4: %+v, want it to fail, killing the host: %v", v, l, fatal)
		}
	}
}

// ided is a plugin with a real path and a file identity.
func ided(path, real, id string, pkgs map[string]string) *File {
	f := bin(path, true, pkgs)
	f.RealPath, f.FileID = real, id
	return f
}

func TestIdentity(t *testing.T) {
	host := func() *File { return bin("host", false, pk("runtime", "r1", "example.com/api", "a1")) }
	a := func(path string) *File { return ided(path, "/d/a.so", "1:10", pk("runtime", "r1")) }
	copyA := func() *File {
		f := ided("copy.so", "/d/copy.so", "1:11", pk("runtime", "r1"))
		f.PluginPath = "example.com/a"
		return f
	}
	hard := func() *File {
		f := ided("hard.so", "/d/hard.so", "1:10", pk("runtime", "r1"))
		f.PluginPath = "example.com/a"
		return f
	}
	bad := func() *File { return ided("bad.so", "/d/bad.so", "1:12", pk("example.com/api", "a2")) }
	good := func() *File { return ided("good.so", "/d/good.so", "1:13", pk("runtime", "r1")) }
	tests := []struct {
		name    string
		plugins []*File
		want    string // per load: ok, fail:<kind>, dies:<kind>, never
	}{
		{"same path twice", []*File{a("a.so"), a("a.so")}, "ok ok"},
		{"symlink", []*File{a("a.so"), a("link.so")}, "ok ok"},
		{"copy", []*File{a("a.so"), copyA()}, "ok fail:duplicate-pluginpath"},
		{"hard link", []*File{a("a.so"), hard()}, "ok fail:same-object"},
		{"hard link after a failed load", []*File{a("a.so"), bad(), hard(), good()}, "ok fail:package-mismatch dies:same-object never"},
		{"hard link after a failed load and a good one", []*File{a("a.so"), bad(), good(), hard()}, "ok fail:package-mismatch ok fail:same-object"},
		{"failed path again", []*File{bad(), bad(), good()}, "fail:package-mismatch fail:previous-failure ok"},
		{"unknown identity", []*File{bin("x.so", true, pk("runtime", "r1")), bin("x.so", true, pk("runtime", "r1"))}, "ok fail:duplicate-pluginpath"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Check(host(), tt.plugins, Options{})
			var got []string
			for _, l := range r.Loads {
				switch {
				case l.NeverReached != "":
					got = append(got, "never")
				case l.OK:
					got = append(got, "ok")
				case l.Dies:
					got = append(got, "dies:"+string(l.Problems[0].Kind))
				default:
					got = append(got, "fail:"+string(l.Problems[0].Kind))
				}
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("got %s, want %s: %+v", strings.Join(got, " "), tt.want, r.Loads)
			}
		})
	}
	r := Check(host(), []*File{a("a.so"), a("link.so")}, Options{})
	if n := r.Loads[1].Notes; len(n) != 1 || n[0].Kind != NoteAlreadyLoaded || n[0].Against != "a.so" ||
		n[0].Detail != "already loaded: the runtime returns the plugin it loaded from a.so" {
		t.Errorf("notes %+v", n)
	}
}

func TestNeverReached(t *testing.T) {
	host := bin("host", false, pk("runtime", "r1"))
	fatal := bin("fatal.so", true, pk("runtime", "r9"))
	fatal.GoVersion = "go1.26.8"
	fatal2 := bin("fatal2.so", true, pk("runtime", "r9"))
	fatal2.GoVersion = "go1.26.8"
	a, b := bin("a.so", true, pk("runtime", "r1")), bin("b.so", true, pk("runtime", "r1"))
	bad := bin("bad.so", true, pk("runtime", "r2"))
	// verdicts: ok, fail:<kind>, dies, never.
	verdicts := func(r *Report) string {
		var out []string
		for _, l := range r.Loads {
			switch {
			case l.NeverReached != "":
				out = append(out, "never")
			case l.Dies:
				out = append(out, "dies")
			case l.OK:
				out = append(out, "ok")
			default:
				out = append(out, "fail:"+string(l.Problems[0].Kind))
			}
		}
		return strings.Join(out, " ")
	}
	// Measured with a go1.24.4 host and a go1.26.8 plugin: first, it kills
	// the host; after a plugin that loaded, plugin.Open reports "plugin
	// already loaded" for it and for every plugin after it; after one that
	// failed, it kills the host.
	for _, c := range []struct {
		plugins []*File
		want    string
	}{
		{[]*File{fatal, a, b}, "dies never never"},
		{[]*File{a, fatal, b}, "ok fail:package-mismatch fail:module-list-broken"},
		{[]*File{bad, fatal, b}, "fail:package-mismatch dies never"},
		{[]*File{a, bad, fatal, b}, "ok fail:package-mismatch dies never"},
		{[]*File{a, fatal, bad, b}, "ok fail:package-mismatch fail:module-list-broken fail:module-list-broken"},
		{[]*File{a, fatal, fatal2, b}, "ok fail:package-mismatch fail:package-mismatch fail:module-list-broken"},
	} {
		r := Check(host, c.plugins, Options{})
		if got := verdicts(r); got != c.want {
			t.Errorf("%s: got %s, want %s", r.Plugins[0].Path+"...", got, c.want)
		}
	}
	r := Check(host, []*File{fatal, b}, Options{})
	if r.DiedAt() != "fatal.so" || r.Loads[1].NeverReached != "fatal.so" {
		t.Errorf("%+v", r.Loads)
	}
	// A go1.22 plugin in a go1.26 host dies wherever it comes.
	host26 := bin("host", false, pk("runtime", "r26"))
	host26.GoVersion = "go1.26.8"
	old := bin("old.so", true, pk("runtime", "r22"))
	old.GoVersion = "go1.22.12"
	a26 := bin("a.so", true, pk("runtime", "r26"))
	a26.GoVersion = "go1.26.8"
	if got := verdicts(Check(host26, []*File{a26, old, b}, Options{})); got != "ok dies never" {
		t.Errorf("go1.22 in go1.26: %s", got)
	}
	// A damaged file can crash dlopen, or be refused by it: what comes
	// after it is still predicted.
	p := bin("p.so", true, pk("runtime", "r1"))
	p.Corrupt = &CorruptError{Structure: "dynamic section", Offset: -1, Detail: "no DT_NULL"}
	r = Check(host, []*File{p, b}, Options{})
	if r.Loads[0].Dies || !r.Loads[1].OK {
		t.Errorf("%+v", r.Loads)
	}
}

func TestPatchReleaseNote(t *testing.T) {
	host := bin("host", false, pk("runtime", "r1"))
	p := bin("p.so", true, pk("runtime", "r1"))
	p.GoVersion = "go1.24.3"
	same := bin("same.so", true, pk("runtime", "r1"))
	r := Check(host, []*File{p, same}, Options{})
	want := "loads, but built with go1.24.3, the host with go1.24.4: a later change to a shared package may stop it loading; build both with one toolchain"
	if !r.OK() || len(r.Loads[0].Notes) != 1 || r.Loads[0].Notes[0].Detail != want || len(r.Loads[1].Notes) != 0 {
		t.Errorf("%+v", r.Loads)
	}
}

// csyms is a file's C symbols in address order: "name" for a function
// of 16 bytes, "name/size", "=name" for a variable, "-name" for one the
// file does not use itself.
func csyms(f *File, names ...string) *File {
	addr := uint64(0x1000)
	for _, n := range names {
		c := CSymbol{Section: ".text", Used: true, Size: 16}
		if strings.HasPrefix(n, "-") {
			n, c.Used = n[1:], false
		}
		if strings.HasPrefix(n, "=") {
			n, c.Data, c.Section, c.Sum = n[1:], true, ".data", "s1"
		}
		if name, size, ok := strings.Cut(n, "/"); ok {
			n = name
			fmt.Sscan(size, &c.Size)
		}
		c.Name, c.Value = n, addr
		addr += c.Size
		f.CSymbols = append(f.CSymbols, c)
	}
	return f
}

func TestCSymbolCollision(t *testing.T) {
	const shared, mainA, mainB = "_cgo_0065022d4dac_Cfunc_pb_shared", "_cgo_d6fa4e41d47d_Cfunc_pb_answer", "_cgo_aaaaaaaaaaaa_Cfunc_pb_answer"
	host := func(syms ...string) *File { return csyms(bin("host", false, pk("runtime", "r1")), syms...) }
	pl := func(name string, syms ...string) *File { return csyms(bin(name, true, pk("runtime", "r1")), syms...) }
	glue := []string{"x_cgo_init", "crosscall1/0", "fatalf", "_cgo_set_stacklo", "=x_crosscall2_ptr"}
	tests := []struct {
		name    string
		host    *File
		plugins []*File
		want    string // the second load's (or, with one plugin, the first's) first problem: "" when it loads, else Against and symbols
	}{
		{"two plugins define pb_answer", host(glue...), []*File{pl("c1.so", mainA, "pb_answer/6"), pl("c2.so", mainB, "pb_answer/6")}, "c1.so pb_answer"},
		{"the host defines it", host(append(glue, "_cgo_bbbbbbbbbbbb_Cfunc_pb_answer", "pb_answer/6")...), []*File{pl("c1.so", mainA, "pb_answer/6")}, "host pb_answer"},
		{"runtime/cgo glue", host(glue...), []*File{pl("a.so", glue...), pl("b.so", glue...)}, ""},
		{"a cgo package both link", host(glue...), []*File{pl("c1.so", mainA, "pb_answer/6", shared, "pb_shared/6"), pl("c3.so", shared, "pb_shared/6")}, ""},
		{"a cgo package's C file after its wrappers", host(), []*File{pl("a.so", mainA, shared, "pb_shared/6", "sqlite3_open/900", "sqlite3_close/300"),
			pl("b.so", mainB, "pb_answer/6", shared, "pb_shared/6", "sqlite3_open/900", "sqlite3_close/300")}, ""},
		{"a cgo package's C file of another size", host(), []*File{pl("a.so", shared, "pb_shared/6", "sqlite3_open/900"),
			pl("b.so", shared, "pb_shared/6", "sqlite3_open/901")}, "a.so sqlite3_open"},
		{"after another package's wrappers", host(), []*File{pl("c1.so", shared, "pb_shared/6", mainA, "pb_answer/6"),
			pl("c2.so", shared, "pb_shared/6", mainB, "pb_answer/6")}, "c1.so pb_answer"},
		{"not used by the later plugin", host(), []*File{pl("c1.so", mainA, "pb_answer/6"), pl("c2.so", mainB, "-pb_answer/6")}, ""},
		{"two symbols", host(), []*File{pl("c1.so", mainA, "pb_answer/6", "pb_call"), pl("c2.so", mainB, "pb_answer/6", "pb_call")}, "c1.so pb_answer,pb_call"},
		{"a variable", host(), []*File{pl("c1.so", mainA, "=pb_data"), pl("c2.so", mainB, "=pb_data")}, "c1.so pb_data"},
		{"a variable beside a shared package", host(), []*File{pl("c1.so", shared, "=pb_data"), pl("c2.so", shared, "=pb_data")}, ""},
		{"C++ vague linkage", host(), []*File{pl("c1.so", mainA), pl("c2.so", mainB)}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "C++ vague linkage" {
				for _, f := range tt.plugins {
					f.CSymbols = append(f.CSymbols, CSymbol{Name: "_ZNSt6vectorIiSaIiEE9push_backERKi", Section: ".text", Value: 0x9000, Size: 40, Weak: true, Used: true})
				}
			}
			tt.plugins[len(tt.plugins)-1].PluginPath = "example.com/last"
			r := Check(tt.host, tt.plugins, Options{})
			l := r.Loads[len(r.Loads)-1]
			if len(r.Loads) > 1 && !r.Loads[0].OK {
				t.Fatalf("first: %+v", r.Loads[0])
			}
			got := ""
			if !l.OK {
				p := l.Problems[0]
				if p.Kind != CSymbolCollision {
					t.Fatalf("%+v", p)
				}
				got = p.Against + " " + strings.Join(p.Symbols, ",")
				if !l.Opens() {
					t.Errorf("a collision is not a failure of plugin.Open: %+v", l)
				}
			}
			if got != tt.want {
				t.Errorf("got %q, want %q: %+v", got, tt.want, l)
			}
		})
	}
	// The same file again is the same plugin, with the same collision.
	c2 := pl("c2.so", mainB, "pb_answer/6")
	c2.RealPath = "/d/c2.so"
	r0 := Check(host(), []*File{pl("c1.so", mainA, "pb_answer/6"), c2, c2}, Options{})
	if l := r0.Loads[2]; l.OK || len(l.Problems) != 1 || l.Problems[0].Kind != CSymbolCollision || len(l.Notes) != 1 || l.Notes[0].Kind != NoteAlreadyLoaded {
		t.Errorf("c2 again: %+v", l)
	}
	// A plugin that fails in the runtime still maps its C symbols.
	c1 := pl("c1.so", mainA, "pb_answer/6")
	c1.Packages["example.com/api"] = "a2"
	host2 := host()
	host2.Packages["example.com/api"] = "a1"
	r := Check(host2, []*File{c1, pl("c2.so", mainB, "pb_answer/6")}, Options{})
	if r.Loads[0].OK || r.Loads[1].OK || r.Loads[1].Problems[0].Against != "c1.so" {
		t.Errorf("%+v", r.Loads)
	}
}

func TestReplaceAndLocalCauses(t *testing.T) {
	host := bin("host", false, pk("example.com/api", "a1"), "example.com/api", "(devel)")
	repl := bin("repl.so", true, pk("example.com/api", "a2"), "example.com/api", "(devel)")
	repl.Replaces = map[string]string{"example.com/api": "../api"}
	r := Check(host, []*File{repl}, Options{})
	c := r.Loads[0].Problems[0].Causes[0]
	if c.Kind != CauseReplace || c.Subject != "example.com/api" || c.Have != "replaced by directory ../api" || c.Want != "a workspace module" ||
		c.String() != "example.com/api is replaced by directory ../api in the plugin, a workspace module in the host: -trimpath records different file names, so the export data differs" {
		t.Errorf("%+v: %s", c, c)
	}
	// Without -trimpath the file names are absolute on both sides: the
	// replace is not the cause, the source is.
	delete(repl.Settings, "-trimpath")
	delete(host.Settings, "-trimpath")
	if c := Check(host, []*File{repl}, Options{}).Loads[0].Problems[0].Causes[0]; c.Kind != CauseLocal {
		t.Errorf("without -trimpath: %+v", c)
	}
	// The main module of one side, a workspace module of the other.
	a := bin("a.so", true, pk("example.com/a/lib", "l1"))
	b := bin("b.so", true, pk("example.com/a/lib", "l2"), "example.com/a", "(devel)")
	c = Check(nil, []*File{a, b}, Options{}).Loads[1].Problems[0].Causes[0]
	if c.Kind != CauseLocal || c.Have != "a workspace module" || c.Want != "the main module" || c.WantFrom != "plugin a.so" {
		t.Errorf("%+v", c)
	}
}
