package abi

import (
	"fmt"
	"sort"
	"strings"
)

// Kind classifies a problem.
type Kind string

// Problems Check finds.
const (
	// PackageMismatch: the plugin was linked against a package whose copy in
	// the process (the host's or an earlier plugin's) has other export data.
	PackageMismatch Kind = "package-mismatch"
	// DuplicatePluginPath: a plugin with the same pluginpath is loaded.
	DuplicatePluginPath Kind = "duplicate-pluginpath"
	// ELFMismatch: another ELF class or machine than the host's.
	ELFMismatch Kind = "elf-mismatch"
	// NotPlugin: the file was not built with -buildmode=plugin.
	NotPlugin Kind = "not-plugin"
	// HostCannotLoad: the host cannot load plugins at all.
	HostCannotLoad Kind = "host-cannot-load"
	// GLIBCTooNew: the file needs a newer glibc than the target has.
	GLIBCTooNew Kind = "glibc-too-new"
	// CorruptELF: the file is damaged in a structure the dynamic linker
	// trusts (File.Corrupt), so loading it could crash the process.
	CorruptELF Kind = "corrupt-elf"
)

// CauseKind names why two builds of a package differ.
type CauseKind string

// Causes, in the order they are reported: the first is the most likely.
const (
	CauseToolchain    CauseKind = "toolchain"
	CauseGOEXPERIMENT CauseKind = "goexperiment"
	CauseDependency   CauseKind = "dependency"
	CauseTrimpath     CauseKind = "trimpath"
	CauseTags         CauseKind = "tags"
	CauseCGO          CauseKind = "cgo"
	CauseGOAMD64      CauseKind = "goamd64"
	CauseSetting      CauseKind = "setting"
	// CauseSource: the build info agrees, yet the export data differs.
	CauseSource CauseKind = "source"
)

// Cause is one difference between the plugin (Have) and the side it must
// match (Want, of WantFrom: "host", or "plugin <file>" that defined the
// packages first).
type Cause struct {
	Kind     CauseKind `json:"kind"`
	Subject  string    `json:"subject"` // module path or setting name
	Have     string    `json:"have"`
	Want     string    `json:"want"`
	WantFrom string    `json:"wantFrom"`
}

func (c Cause) String() string {
	switch c.Kind {
	case CauseSource:
		return c.Have
	case CauseToolchain:
		return fmt.Sprintf("toolchain: %s %s, plugin %s", c.WantFrom, c.Want, c.Have)
	}
	return fmt.Sprintf("%s: %s %s, plugin %s", c.Subject, c.WantFrom, Unset(c.Want), Unset(c.Have))
}

// Unset shows an empty setting.
func Unset(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

// Problem is a reason a plugin will not load.
type Problem struct {
	Kind   Kind   `json:"kind"`
	Plugin string `json:"plugin"` // the file that fails
	// Against is the file whose copy of the packages the plugin must
	// match (the host, or an earlier plugin); for duplicates, the plugin
	// already loaded.
	Against string `json:"against,omitempty"`
	// Packages lists the mismatched packages, most telling first.
	Packages []string `json:"packages,omitempty"`
	Causes   []Cause  `json:"causes,omitempty"`
	Detail   string   `json:"detail"`
	// Fatal reports a problem that can kill the host instead of failing
	// the load: a plugin from another toolchain, a damaged file
	// (CorruptELF).
	Fatal bool `json:"fatal,omitempty"`
}

// MaxPackages is how many packages a one-line summary names.
const MaxPackages = 3

// Summary is a one-line description naming the cause.
func (p Problem) Summary() string {
	var b strings.Builder
	b.WriteString(p.Detail)
	if len(p.Causes) > 0 {
		var cs []string
		for _, c := range p.Causes {
			cs = append(cs, c.String())
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(cs, "; "))
	}
	if len(p.Packages) > 0 {
		fmt.Fprintf(&b, "; differing packages: %s", ListPackages(p.Packages, MaxPackages))
	}
	return b.String()
}

// ListPackages joins at most max package paths, counting the rest.
func ListPackages(pkgs []string, max int) string {
	if len(pkgs) <= max {
		return strings.Join(pkgs, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(pkgs[:max], ", "), len(pkgs)-max)
}

// Options tune Check.
type Options struct {
	// MaxGLIBC, when set ("2.36"), is the target system's glibc: files
	// needing a newer one are reported.
	MaxGLIBC string
}

// Report is the verdict on a host and plugins loaded in order.
type Report struct {
	Host         *File     `json:"-"`
	Plugins      []*File   `json:"-"`
	Loads        []Load    `json:"loads"`
	HostProblems []Problem `json:"hostProblems,omitempty"`
}

// Load is the predicted outcome of loading one plugin.
type Load struct {
	Plugin   string    `json:"plugin"`
	OK       bool      `json:"ok"`
	Problems []Problem `json:"problems,omitempty"`
}

// OK reports whether every plugin loads. A host that cannot load plugins
// is fine when there are none to load.
func (r *Report) OK() bool {
	for _, l := range r.Loads {
		if !l.OK {
			return false
		}
	}
	return true
}

// AllProblems lists every problem, host problems first.
func (r *Report) AllProblems() []Problem {
	out := append([]Problem(nil), r.HostProblems...)
	for _, l := range r.Loads {
		out = append(out, l.Problems...)
	}
	return out
}

// Check predicts loading plugins, in order, into host. host may be nil to
// check plugins against each other only.
func Check(host *File, plugins []*File, opts Options) *Report {
	s := NewSession(host, opts)
	r := &Report{Host: host, Plugins: plugins, HostProblems: s.hostProblems}
	for _, p := range plugins {
		l := s.Predict(p)
		s.Record(p, l.OK)
		r.Loads = append(r.Loads, l)
	}
	return r
}

// Session replays plugin loads into one process the way the runtime and
// the dynamic linker see them.
type Session struct {
	host         *File
	opts         Options
	hostProblems []Problem
	defined      map[string]definer // package -> first definition in the process
	active       map[string]*File   // pluginpath -> plugin loaded successfully
}

type definer struct {
	hash string
	file *File
}

// NewSession starts a process running host (nil for none).
func NewSession(host *File, opts Options) *Session {
	s := &Session{host: host, opts: opts, defined: map[string]definer{}, active: map[string]*File{}}
	if host != nil {
		s.hostProblems = hostProblems(host, opts)
		for pkg, h := range host.Packages {
			s.defined[pkg] = definer{h, host}
		}
	}
	return s
}

// HostProblems are the reasons the host cannot load any plugin.
func (s *Session) HostProblems() []Problem { return s.hostProblems }

// Predict says whether p would load now, without changing the session.
func (s *Session) Predict(p *File) Load {
	l := Load{Plugin: p.Path}
	fail := func(pr Problem) Load {
		pr.Plugin = p.Path
		l.Problems = append(l.Problems, pr)
		return l
	}
	if len(s.hostProblems) > 0 {
		return fail(Problem{Kind: HostCannotLoad, Against: s.host.Path, Detail: "the host cannot load plugins: " + s.hostProblems[0].Detail})
	}
	if p.Corrupt != nil {
		return fail(corruptProblem(p, "the file"))
	}
	if !p.Plugin {
		return fail(Problem{Kind: NotPlugin, Detail: fmt.Sprintf("not a plugin (built with -buildmode=%s)", orDefault(p.Settings["-buildmode"], "exe"))})
	}
	if s.host != nil && (p.Class != s.host.Class || p.Machine != s.host.Machine) {
		return fail(Problem{Kind: ELFMismatch, Against: s.host.Path,
			Detail: fmt.Sprintf("plugin is %s %s, host is %s %s", p.Class, p.Machine, s.host.Class, s.host.Machine)})
	}
	if s.opts.MaxGLIBC != "" && CompareGLIBC(p.GLIBC, s.opts.MaxGLIBC) > 0 {
		return fail(Problem{Kind: GLIBCTooNew, Detail: fmt.Sprintf("plugin needs %s, the target has glibc %s", p.GLIBC, s.opts.MaxGLIBC)})
	}
	if prev, ok := s.active[p.PluginPath]; ok {
		return fail(Problem{Kind: DuplicatePluginPath, Against: prev.Path,
			Detail: fmt.Sprintf("pluginpath %s is already loaded from %s", p.PluginPath, prev.Path)})
	}
	// Group mismatches by the file that defined the package first.
	byAgainst := map[*File][]string{}
	var order []*File
	for pkg, h := range p.Packages {
		d, ok := s.defined[pkg]
		if !ok || d.hash == h {
			continue
		}
		if _, seen := byAgainst[d.file]; !seen {
			order = append(order, d.file)
		}
		byAgainst[d.file] = append(byAgainst[d.file], pkg)
	}
	sort.Slice(order, func(i, j int) bool {
		if (order[i] == s.host) != (order[j] == s.host) {
			return order[i] == s.host // the host's copy first
		}
		return order[i].Path < order[j].Path
	})
	for _, against := range order {
		fail(s.mismatch(p, against, byAgainst[against]))
	}
	l.OK = len(l.Problems) == 0
	return l
}

// Record notes that p was opened: the dynamic linker now holds its
// packages, which become the process's copy where there was none, whether
// or not the runtime accepted it (loaded); an accepted plugin's pluginpath
// is active from now on. Files the dynamic linker cannot open (another
// machine, a newer glibc, not a plugin) leave nothing behind.
func (s *Session) Record(p *File, loaded bool) {
	if !p.Plugin || p.Corrupt != nil || (s.host != nil && (p.Class != s.host.Class || p.Machine != s.host.Machine)) ||
		(s.opts.MaxGLIBC != "" && CompareGLIBC(p.GLIBC, s.opts.MaxGLIBC) > 0) || len(s.hostProblems) > 0 {
		return
	}
	for pkg, h := range p.Packages {
		if _, ok := s.defined[pkg]; !ok {
			s.defined[pkg] = definer{h, p}
		}
	}
	if loaded {
		s.active[p.PluginPath] = p
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// hostProblems are reasons a host cannot load any plugin.
func hostProblems(h *File, opts Options) []Problem {
	var out []Problem
	switch {
	case h.Corrupt != nil:
		out = append(out, corruptProblem(h, "the host file"))
	case h.Settings["CGO_ENABLED"] == "0":
		out = append(out, Problem{Kind: HostCannotLoad, Plugin: h.Path,
			Causes: []Cause{{Kind: CauseCGO, Subject: "CGO_ENABLED", Have: "1", Want: "0"}},
			Detail: "the host was built with CGO_ENABLED=0: plugin.Open is not implemented without cgo"})
	case h.Plugin:
		out = append(out, Problem{Kind: HostCannotLoad, Plugin: h.Path, Detail: "the host is itself a plugin"})
	case len(h.Packages) == 0:
		out = append(out, Problem{Kind: HostCannotLoad, Plugin: h.Path, Detail: "the host does not link package plugin, so it cannot load plugins"})
	}
	if opts.MaxGLIBC != "" && CompareGLIBC(h.GLIBC, opts.MaxGLIBC) > 0 {
		out = append(out, Problem{Kind: GLIBCTooNew, Plugin: h.Path, Detail: fmt.Sprintf("the host needs %s, the target has glibc %s", h.GLIBC, opts.MaxGLIBC)})
	}
	return out
}

// corruptProblem reports the damage of f ("the file is damaged: ...").
func corruptProblem(f *File, what string) Problem {
	return Problem{Kind: CorruptELF, Plugin: f.Path, Fatal: true,
		Detail: fmt.Sprintf("%s is damaged: %v; only a manifest's sha256 or a signed bundle proves a plugin intact", what, f.Corrupt)}
}

// mismatch describes packages of p that differ from against's, and why.
func (s *Session) mismatch(p, against *File, pkgs []string) Problem {
	who := "host"
	if against != s.host {
		who = "plugin " + against.Path
	}
	noun := "packages"
	if len(pkgs) == 1 {
		noun = "package"
	}
	return Problem{
		Kind:     PackageMismatch,
		Against:  against.Path,
		Packages: rankPackages(pkgs, p, against),
		Causes:   Causes(p, against, pkgs, who),
		Detail:   fmt.Sprintf("plugin was built with a different version of %d %s than the %s", len(pkgs), noun, who),
		// A runtime of another minor release may not even recognize the
		// plugin's module data, and dies instead of failing the load
		// (measured: a go1.26 plugin in a go1.24 host); within a minor
		// release the load fails cleanly.
		Fatal: s.host != nil && minor(p.GoVersion) != minor(s.host.GoVersion),
	}
}

// Causes compares the build info of a plugin with the file it must match,
// for the given differing packages. wantFrom names that file ("host").
func Causes(p, against *File, pkgs []string, wantFrom string) []Cause {
	var out []Cause
	add := func(kind CauseKind, subject, have, want string) {
		out = append(out, Cause{Kind: kind, Subject: subject, Have: have, Want: want, WantFrom: wantFrom})
	}
	if release(p.GoVersion) != release(against.GoVersion) {
		add(CauseToolchain, "go", release(p.GoVersion), release(against.GoVersion))
	}
	settings := []struct {
		key  string
		kind CauseKind
	}{
		{"GOEXPERIMENT", CauseGOEXPERIMENT}, {"-trimpath", CauseTrimpath}, {"-tags", CauseTags},
		{"CGO_ENABLED", CauseCGO}, {"CGO_CFLAGS", CauseCGO}, {"CGO_CPPFLAGS", CauseCGO}, {"CGO_CXXFLAGS", CauseCGO}, {"CGO_LDFLAGS", CauseCGO},
		{"GOAMD64", CauseGOAMD64}, {"GOARM64", CauseSetting}, {"GOARM", CauseSetting}, {"GO386", CauseSetting},
		{"-race", CauseSetting}, {"-msan", CauseSetting}, {"-asan", CauseSetting}, {"-compiler", CauseSetting}, {"-gcflags", CauseSetting},
	}
	for _, s := range settings {
		a, b := settingValue(p, s.key), settingValue(against, s.key)
		if a != b {
			add(s.kind, s.key, a, b)
		}
	}
	// Module versions: only modules providing a differing package.
	seen := map[string]bool{}
	for _, pkg := range pkgs {
		mod := moduleOf(pkg, p, against)
		if mod == "" || seen[mod] {
			continue
		}
		seen[mod] = true
		a, b := moduleVersion(p, mod), moduleVersion(against, mod)
		if a != b {
			add(CauseDependency, mod, a, b)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return causeRank(out[i].Kind) < causeRank(out[j].Kind) })
	if len(out) == 0 {
		out = append(out, Cause{Kind: CauseSource, Subject: strings.Join(sourceModules(pkgs, p, against), ", "),
			Have: fmt.Sprintf("the build info of both sides agrees (%s, same module versions and recorded settings), yet the export data differs: "+
				"different source under the same versions (an edited replaced or vendored module), cgo flags (not recorded under -trimpath), or another GOROOT", p.GoVersion)})
	}
	return out
}

// release is the Go release of a build info Go version, without the
// experiments it may carry ("go1.24.4 X:noswissmap" is go1.24.4).
func release(v string) string {
	r, _, _ := strings.Cut(v, " ")
	return r
}

// minor is the minor release of a Go version: go1.24.4 is go1.24.
func minor(v string) string {
	r := release(v)
	if i := strings.Index(r, "."); i >= 0 {
		if j := strings.IndexAny(r[i+1:], ".rcbeta"); j >= 0 {
			return r[:i+1+j]
		}
	}
	return r
}

func causeRank(k CauseKind) int {
	for i, c := range []CauseKind{CauseToolchain, CauseGOEXPERIMENT, CauseDependency, CauseTrimpath, CauseTags, CauseCGO, CauseGOAMD64, CauseSetting, CauseSource} {
		if c == k {
			return i
		}
	}
	return 99
}

// settingValue is a build setting with the go command's defaults filled
// in, so an absent setting equals its default.
func settingValue(f *File, key string) string {
	v, ok := f.Settings[key]
	if ok {
		return v
	}
	switch key {
	case "-trimpath", "-race", "-msan", "-asan":
		return "false"
	case "-compiler":
		return "gc"
	case "CGO_ENABLED":
		return "1"
	case "GOAMD64":
		if f.Settings["GOARCH"] == "amd64" {
			return "v1"
		}
	}
	return ""
}

// moduleOf is the module providing pkg, by the longest module path prefix
// among both files' main modules and dependencies; "" for the standard
// library.
func moduleOf(pkg string, files ...*File) string {
	if isStd(pkg) {
		return ""
	}
	best := ""
	consider := func(mod string) {
		if mod != "" && (pkg == mod || strings.HasPrefix(pkg, mod+"/")) && len(mod) > len(best) {
			best = mod
		}
	}
	for _, f := range files {
		consider(f.MainModule)
		for mod := range f.Deps {
			consider(mod)
		}
	}
	return best
}

func moduleVersion(f *File, mod string) string {
	if mod == f.MainModule {
		return "(main module)"
	}
	if v, ok := f.Deps[mod]; ok {
		return v
	}
	return "(absent)"
}

// sourceModules names where differing packages live, for CauseSource.
func sourceModules(pkgs []string, files ...*File) []string {
	seen := map[string]bool{}
	var out []string
	for _, pkg := range pkgs {
		m := moduleOf(pkg, files...)
		if m == "" {
			m = "std"
		}
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out
}

// rankPackages orders packages most telling first: those of a module whose
// version differs, then other non-standard packages, then the standard
// library; alphabetically within each.
func rankPackages(pkgs []string, a, b *File) []string {
	rank := func(pkg string) int {
		if release(a.GoVersion) != release(b.GoVersion) && (pkg == "runtime" || pkg == "internal/abi") {
			return -1 // a toolchain skew shows first in the runtime
		}
		if isStd(pkg) {
			return 2
		}
		mod := moduleOf(pkg, a, b)
		if mod != "" && moduleVersion(a, mod) != moduleVersion(b, mod) {
			return 0
		}
		return 1
	}
	out := append([]string(nil), pkgs...)
	sort.Slice(out, func(i, j int) bool {
		ri, rj := rank(out[i]), rank(out[j])
		if ri != rj {
			return ri < rj
		}
		return out[i] < out[j]
	})
	return out
}
