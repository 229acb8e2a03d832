package abi

import (
	"debug/elf"
	"reflect"
	"strings"
	"testing"
)

// bin is a File with sensible defaults: amd64, go1.24.4, -trimpath.
func bin(path string, plugin bool, pkgs map[string]string, mods ...string) *File {
	f := &File{
		Path: path, Class: elf.ELFCLASS64, Machine: elf.EM_X86_64, Plugin: plugin,
		Packages: pkgs, GoVersion: "go1.24.4", MainModule: "example.com/" + strings.TrimSuffix(path, ".so"),
		Deps:     map[string]string{},
		Settings: map[string]string{"-trimpath": "true", "CGO_ENABLED": "1", "GOARCH": "amd64", "GOOS": "linux", "GOAMD64": "v1"},
	}
	if plugin {
		f.PluginPath = f.MainModule
		f.Settings["-buildmode"] = "plugin"
	} else {
		f.Settings["-buildmode"] = "exe"
	}
	for i := 0; i+1 < len(mods); i += 2 {
		f.Deps[mods[i]] = mods[i+1]
	}
	return f
}

func pk(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

type want struct {
	ok      []bool
	kind    Kind      // of the first problem of the first failing load
	cause   CauseKind // its first cause
	subject string
	have    string
	wantV   string
	from    string
	against string
	pkgs    []string
	fatal   bool
}

func TestCheck(t *testing.T) {
	host := func() *File {
		return bin("host", false, pk("runtime", "r1", "fmt", "f1", "example.com/api", "a1", "golang.org/x/text/cases", "t1"),
			"example.com/api", "(devel)", "golang.org/x/text", "v0.21.0")
	}
	tests := []struct {
		name    string
		host    *File
		plugins func() []*File
		want    want
	}{
		{
			name: "all match",
			host: host(),
			plugins: func() []*File {
				return []*File{bin("a.so", true, pk("runtime", "r1", "example.com/api", "a1", "example.com/a", "x"), "example.com/api", "(devel)")}
			},
			want: want{ok: []bool{true}},
		},
		{
			name: "dependency version",
			host: host(),
			plugins: func() []*File {
				return []*File{bin("a.so", true, pk("runtime", "r1", "fmt", "f1", "example.com/api", "a2", "golang.org/x/text/cases", "t2"),
					"example.com/api", "(devel)", "golang.org/x/text", "v0.20.0")}
			},
			want: want{ok: []bool{false}, kind: PackageMismatch, cause: CauseDependency, subject: "golang.org/x/text", have: "v0.20.0", wantV: "v0.21.0", from: "host", against: "host",
				pkgs: []string{"golang.org/x/text/cases", "example.com/api"}},
		},
		{
			name: "toolchain patch release",
			host: host(),
			plugins: func() []*File {
				p := bin("a.so", true, pk("runtime", "r2", "fmt", "f2", "example.com/api", "a2"), "example.com/api", "(devel)")
				p.GoVersion = "go1.24.3"
				return []*File{p}
			},
			want: want{ok: []bool{false}, kind: PackageMismatch, cause: CauseToolchain, subject: "go", have: "go1.24.3", wantV: "go1.24.4", from: "host", against: "host",
				pkgs: []string{"runtime", "example.com/api", "fmt"}},
		},
		{
			name: "trimpath on one side",
			host: host(),
			plugins: func() []*File {
				p := bin("a.so", true, pk("fmt", "f2"))
				delete(p.Settings, "-trimpath")
				return []*File{p}
			},
			want: want{ok: []bool{false}, kind: PackageMismatch, cause: CauseTrimpath, subject: "-trimpath", have: "false", wantV: "true", from: "host", against: "host", pkgs: []string{"fmt"}},
		},
		{
			name: "build tag",
			host: host(),
			plugins: func() []*File {
				p := bin("a.so", true, pk("example.com/api", "a2"), "example.com/api", "(devel)")
				p.Settings["-tags"] = "special"
				return []*File{p}
			},
			want: want{ok: []bool{false}, kind: PackageMismatch, cause: CauseTags, subject: "-tags", have: "special", wantV: "", from: "host", against: "host", pkgs: []string{"example.com/api"}},
		},
		{
			name: "GOEXPERIMENT before others",
			host: host(),
			plugins: func() []*File {
				p := bin("a.so", true, pk("runtime", "r2"))
				p.Settings["GOEXPERIMENT"] = "noswissmap"
				p.Settings["GOAMD64"] = "v3"
				return []*File{p}
			},
			want: want{ok: []bool{false}, kind: PackageMismatch, cause: CauseGOEXPERIMENT, subject: "GOEXPERIMENT", have: "noswissmap", wantV: "", from: "host", against: "host", pkgs: []string{"runtime"}},
		},
		{
			name: "GOAMD64 default is v1",
			host: func() *File { h := host(); delete(h.Settings, "GOAMD64"); return h }(),
			plugins: func() []*File {
				p := bin("a.so", true, pk("fmt", "f2"))
				p.Settings["GOAMD64"] = "v3"
				return []*File{p}
			},
			want: want{ok: []bool{false}, kind: PackageMismatch, cause: CauseGOAMD64, subject: "GOAMD64", have: "v3", wantV: "v1", from: "host", against: "host", pkgs: []string{"fmt"}},
		},
		{
			name: "same build info, different source",
			host: host(),
			plugins: func() []*File {
				return []*File{bin("a.so", true, pk("example.com/api", "a2"), "example.com/api", "(devel)")}
			},
			want: want{ok: []bool{false}, kind: PackageMismatch, cause: CauseSource, subject: "example.com/api", from: "", against: "host", pkgs: []string{"example.com/api"}},
		},
		{
			name: "plugin against plugin on a package the host lacks",
			host: host(),
			plugins: func() []*File {
				return []*File{
					bin("a.so", true, pk("golang.org/x/net/idna", "n1"), "golang.org/x/net", "v0.30.0"),
					bin("b.so", true, pk("golang.org/x/net/idna", "n2"), "golang.org/x/net", "v0.31.0"),
				}
			},
			want: want{ok: []bool{true, false}, kind: PackageMismatch, cause: CauseDependency, subject: "golang.org/x/net", have: "v0.31.0", wantV: "v0.30.0", from: "plugin a.so", against: "a.so",
				pkgs: []string{"golang.org/x/net/idna"}},
		},
		{
			name: "a failed plugin still defines the packages it brought",
			host: host(),
			plugins: func() []*File {
				return []*File{
					bin("a.so", true, pk("example.com/api", "BAD", "golang.org/x/net/idna", "n1"), "example.com/api", "(devel)", "golang.org/x/net", "v0.30.0"),
					bin("b.so", true, pk("example.com/api", "a1", "golang.org/x/net/idna", "n2"), "example.com/api", "(devel)", "golang.org/x/net", "v0.31.0"),
				}
			},
			want: want{ok: []bool{false, false}, kind: PackageMismatch, cause: CauseSource, subject: "example.com/api", against: "host", pkgs: []string{"example.com/api"}},
		},
		{
			name: "duplicate pluginpath",
			host: host(),
			plugins: func() []*File {
				a := bin("a.so", true, pk("runtime", "r1"))
				b := bin("b.so", true, pk("runtime", "r1"))
				b.PluginPath = a.PluginPath
				return []*File{a, b}
			},
			want: want{ok: []bool{true, false}, kind: DuplicatePluginPath, against: "a.so"},
		},
		{
			name: "a failed plugin's pluginpath is not active",
			host: host(),
			plugins: func() []*File {
				a := bin("a.so", true, pk("runtime", "BAD"))
				b := bin("b.so", true, pk("runtime", "r1"))
				b.PluginPath = a.PluginPath
				return []*File{a, b}
			},
			want: want{ok: []bool{false, true}, kind: PackageMismatch, cause: CauseSource, subject: "std", against: "host", pkgs: []string{"runtime"}},
		},
		{
			name: "not a plugin",
			host: host(),
			plugins: func() []*File {
				return []*File{bin("tool", false, pk("runtime", "r1"))}
			},
			want: want{ok: []bool{false}, kind: NotPlugin},
		},
		{
			name: "a C-ABI library",
			host: host(),
			plugins: func() []*File {
				lib := bin("libnbd.so", false, pk())
				lib.Settings["-buildmode"] = ModeCShared
				return []*File{lib}
			},
			want: want{ok: []bool{false}, kind: CLibrary},
		},
		{
			name: "another machine",
			host: host(),
			plugins: func() []*File {
				p := bin("a.so", true, pk("runtime", "zz"))
				p.Machine = elf.EM_AARCH64
				return []*File{p}
			},
			want: want{ok: []bool{false}, kind: ELFMismatch, against: "host"},
		},
		{
			name: "host without cgo",
			host: func() *File { h := host(); h.Settings["CGO_ENABLED"] = "0"; return h }(),
			plugins: func() []*File {
				return []*File{bin("a.so", true, pk("runtime", "r1")), bin("b.so", true, pk("fmt", "f1"))}
			},
			want: want{ok: []bool{false, false}, kind: HostCannotLoad, against: "host"},
		},
		{
			name: "host without package plugin",
			host: func() *File { h := host(); h.Packages = map[string]string{}; return h }(),
			plugins: func() []*File {
				return []*File{bin("a.so", true, pk("runtime", "r1"))}
			},
			want: want{ok: []bool{false}, kind: HostCannotLoad, against: "host"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Check(tt.host, tt.plugins(), Options{})
			var ok []bool
			for _, l := range r.Loads {
				ok = append(ok, l.OK)
				if l.OK != (len(l.Problems) == 0) {
					t.Errorf("%s: OK=%v with %d problems", l.Plugin, l.OK, len(l.Problems))
				}
			}
			if !reflect.DeepEqual(ok, tt.want.ok) {
				t.Fatalf("loads %v, want %v", ok, tt.want.ok)
			}
			allOK := true
			for _, o := range tt.want.ok {
				allOK = allOK && o
			}
			if r.OK() != allOK {
				t.Errorf("OK() = %v, want %v", r.OK(), allOK)
			}
			if allOK {
				return
			}
			var p Problem
			for _, l := range r.Loads {
				if !l.OK {
					p = l.Problems[0]
					break
				}
			}
			if p.Kind != tt.want.kind {
				t.Errorf("kind %s, want %s (%s)", p.Kind, tt.want.kind, p.Summary())
			}
			if tt.want.against != "" && p.Against != tt.want.against {
				t.Errorf("against %q, want %q", p.Against, tt.want.against)
			}
			if tt.want.pkgs != nil && !reflect.DeepEqual(p.Packages, tt.want.pkgs) {
				t.Errorf("packages %v, want %v", p.Packages, tt.want.pkgs)
			}
			if p.Fatal != tt.want.fatal {
				t.Errorf("fatal %v, want %v", p.Fatal, tt.want.fatal)
			}
			if tt.want.cause == "" {
				return
			}
			if len(p.Causes) == 0 {
				t.Fatalf("no cause: %s", p.Summary())
			}
			c := p.Causes[0]
			if c.Kind != tt.want.cause || c.Subject != tt.want.subject {
				t.Errorf("cause %s %q, want %s %q (%s)", c.Kind, c.Subject, tt.want.cause, tt.want.subject, p.Summary())
			}
			if c.Kind != CauseSource && (c.Have != tt.want.have || c.Want != tt.want.wantV || c.WantFrom != tt.want.from) {
				t.Errorf("have %q want %q from %q; want have %q want %q from %q", c.Have, c.Want, c.WantFrom, tt.want.have, tt.want.wantV, tt.want.from)
			}
		})
	}
}

func TestGoVersions(t *testing.T) {
	for v, want := range map[string][2]string{
		"go1.24.4":               {"go1.24.4", "go1.24"},
		"go1.24.4 X:noswissmap":  {"go1.24.4", "go1.24"},
		"go1.26rc1":              {"go1.26rc1", "go1.26"},
		"go1.25beta2 X:a,b":      {"go1.25beta2", "go1.25"},
		"devel go1.27-abcdef +x": {"devel", "devel"},
	} {
		if r, m := release(v), minor(v); r != want[0] || m != want[1] {
			t.Errorf("%q: release %q minor %q, want %q", v, r, m, want)
		}
	}
	host := bin("host", false, pk("runtime", "r1", "internal/abi", "i1"))
	exp := bin("exp.so", true, pk("internal/abi", "i2"))
	exp.GoVersion, exp.Settings["GOEXPERIMENT"] = "go1.24.4 X:noswissmap", "noswissmap"
	patch := bin("patch.so", true, pk("runtime", "r2"))
	patch.GoVersion = "go1.24.3"
	minorSkew := bin("minor.so", true, pk("runtime", "r3"))
	minorSkew.GoVersion = "go1.26.8"
	r := Check(host, []*File{exp, patch, minorSkew}, Options{})
	for i, want := range []struct {
		cause CauseKind
		fatal bool
	}{{CauseGOEXPERIMENT, false}, {CauseToolchain, false}, {CauseToolchain, true}} {
		p := r.Loads[i].Problems[0]
		if p.Causes[0].Kind != want.cause || p.Fatal != want.fatal {
			t.Errorf("%s: cause %s fatal %v, want %s %v", r.Loads[i].Plugin, p.Causes[0].Kind, p.Fatal, want.cause, want.fatal)
		}
	}
}

func TestSummary(t *testing.T) {
	h := bin("host", false, pk("runtime", "r1"), "golang.org/x/text", "v0.21.0")
	p := bin("hello.so", true, pk("golang.org/x/text/cases", "t2", "golang.org/x/text/language", "t3", "golang.org/x/text/internal", "t4", "golang.org/x/text/internal/tag", "t5"), "golang.org/x/text", "v0.20.0")
	h.Packages["golang.org/x/text/cases"], h.Packages["golang.org/x/text/language"], h.Packages["golang.org/x/text/internal"], h.Packages["golang.org/x/text/internal/tag"] = "t1", "t1", "t1", "t1"
	r := Check(h, []*File{p}, Options{})
	got := r.Loads[0].Problems[0].Summary()
	want := "plugin was built with a different version of 4 packages than the host (golang.org/x/text: host v0.21.0, plugin v0.20.0); " +
		"differing packages: golang.org/x/text/cases, golang.org/x/text/internal, golang.org/x/text/internal/tag and 1 more"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestGLIBC(t *testing.T) {
	h := bin("host", false, pk("runtime", "r1"))
	h.GLIBC = "GLIBC_2.34"
	p := bin("a.so", true, pk("runtime", "r1"))
	p.GLIBC = "GLIBC_2.38"
	if r := Check(h, []*File{p}, Options{}); !r.OK() {
		t.Errorf("no target: %v", r.AllProblems())
	}
	r := Check(h, []*File{p}, Options{MaxGLIBC: "2.36"})
	if r.OK() || r.Loads[0].Problems[0].Kind != GLIBCTooNew {
		t.Fatalf("target 2.36: %+v", r.Loads)
	}
	if len(r.HostProblems) != 0 {
		t.Errorf("host needing 2.34 flagged under 2.36: %v", r.HostProblems)
	}
	if r := Check(h, nil, Options{MaxGLIBC: "2.31"}); len(r.HostProblems) != 1 || r.HostProblems[0].Kind != GLIBCTooNew {
		t.Errorf("host needing 2.34 under 2.31: %v", r.HostProblems)
	}
}

func TestCompareGLIBC(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"GLIBC_2.34", "GLIBC_2.34", 0},
		{"GLIBC_2.34", "2.34", 0},
		{"GLIBC_2.9", "GLIBC_2.34", -1},
		{"GLIBC_2.34", "GLIBC_2.3.4", 1},
		{"GLIBC_2.2.5", "GLIBC_2.2", 1},
		{"", "GLIBC_2.2.5", -1},
		{"", "", 0},
		{"GLIBC_3.0", "GLIBC_2.99", 1},
	}
	for _, tt := range tests {
		if got := CompareGLIBC(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareGLIBC(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := CompareGLIBC(tt.b, tt.a); got != -tt.want {
			t.Errorf("CompareGLIBC(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestNoHostChecksPluginsAgainstEachOther(t *testing.T) {
	a := bin("a.so", true, pk("example.com/lib", "l1"), "example.com/lib", "v1.0.0")
	b := bin("b.so", true, pk("example.com/lib", "l2"), "example.com/lib", "v1.1.0")
	r := Check(nil, []*File{a, b}, Options{})
	if !r.Loads[0].OK || r.Loads[1].OK {
		t.Fatalf("loads %+v", r.Loads)
	}
	if c := r.Loads[1].Problems[0].Causes[0]; c.WantFrom != "plugin a.so" || c.Want != "v1.0.0" || c.Have != "v1.1.0" {
		t.Errorf("cause %+v", c)
	}
}

func TestCorruptELF(t *testing.T) {
	host := bin("host", false, pk("fmt", "1"))
	damage := &CorruptError{Structure: "program header 3 (PT_LOAD)", Offset: 0x118, Detail: "file range [0x2e2ca8, 0x337700) extends past the end of the file (1000 bytes)"}
	p := bin("p.so", true, pk("fmt", "1"))
	p.Corrupt = damage
	good := bin("good.so", true, pk("fmt", "1"))
	good.PluginPath = "example.com/good"
	r := Check(host, []*File{p, good}, Options{})
	if r.OK() || r.Loads[0].OK || !r.Loads[1].OK {
		t.Fatalf("loads %+v: want the damaged plugin refused and the other loaded", r.Loads)
	}
	pr := r.Loads[0].Problems
	want := "the file is damaged: program header 3 (PT_LOAD) at offset 0x118: file range [0x2e2ca8, 0x337700) extends past the end of the file (1000 bytes); " +
		"only a manifest's sha256 or a signed bundle proves a plugin intact"
	if len(pr) != 1 || pr[0].Kind != CorruptELF || !pr[0].Fatal || pr[0].Detail != want || pr[0].Plugin != "p.so" {
		t.Errorf("problems %+v\nwant one %s: %s", pr, CorruptELF, want)
	}
	// A damaged host loads nothing.
	h := bin("host", false, pk("fmt", "1"))
	h.Corrupt = &CorruptError{Structure: "dynamic section", Offset: -1, Detail: "no DT_NULL"}
	r = Check(h, []*File{good}, Options{})
	if r.OK() || len(r.HostProblems) != 1 || r.HostProblems[0].Kind != CorruptELF ||
		r.HostProblems[0].Detail != "the host file is damaged: dynamic section: no DT_NULL; only a manifest's sha256 or a signed bundle proves a plugin intact" {
		t.Errorf("damaged host: %+v", r)
	}
}
