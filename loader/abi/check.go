package abi

import (
	"fmt"
	"slices"
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
	// CSymbolCollision: the plugin defines a C symbol (see [CSymbol]) that
	// an object opened before it (the host, or an earlier plugin) defines
	// too, and uses it: the runtime loads the plugin, but the dynamic
	// linker binds the plugin's uses to the earlier definition, so its
	// calls run the other object's code. The later plugin is reported.
	CSymbolCollision Kind = "c-symbol-collision"
	// PreviousFailure: the same file (by its real path) failed in
	// plugin.Open before; the runtime returns that failure again.
	PreviousFailure Kind = "previous-failure"
	// SameObject: another path (a hard link) to a file the dynamic linker
	// has mapped already: dlopen returns that object, and the runtime finds
	// no new module data. It fails as "plugin already loaded", or, when
	// the last plugin opened failed, kills the host ("no plugin module
	// data").
	SameObject Kind = "same-object"
	// ModuleListBroken: an earlier plugin, from a toolchain whose runtime
	// lays out module data otherwise, linked its module data where the
	// host's runtime does not look: the runtime finds no new module data
	// for any plugin opened after it, and fails it as "plugin already
	// loaded" or, when the last plugin it finds had failed, dies.
	ModuleListBroken Kind = "module-list-broken"
	// CLibrary: a C-ABI library (-buildmode=c-shared or c-archive) given
	// to a Go host: it is for C hosts, and plugin.Open cannot load it.
	CLibrary Kind = "c-abi-library"

	// Problems of CheckLibrary: a file a C host (or a C program's link)
	// is to use.

	// GoPluginForC: a Go plugin (-buildmode=plugin) where a C host expects
	// a C-ABI library: a C host that dlopens it hangs or crashes (nbdkit
	// hangs), as nothing starts the Go runtime it needs.
	GoPluginForC Kind = "go-plugin-for-c"
	// NotCLibrary: neither a C-ABI library nor a Go plugin (an
	// executable), or a C-ABI library of the other build mode than the
	// one expected.
	NotCLibrary Kind = "not-c-library"
	// MissingCSymbol: symbols a C host looks up that the library does not
	// export (Problem.Symbols).
	MissingCSymbol Kind = "missing-c-symbol"
)

// The build modes of C-ABI libraries.
const (
	ModeCShared  = "c-shared"
	ModeCArchive = "c-archive"
)

// IsCABI reports whether a -buildmode makes a C-ABI library: a C header
// and a shared library (c-shared) or an archive (c-archive) for C code.
func IsCABI(buildmode string) bool { return buildmode == ModeCShared || buildmode == ModeCArchive }

// NoteKind classifies a note on a load.
type NoteKind string

// Notes on plugins that load.
const (
	// NoteAlreadyLoaded: the same file (by its real path) was loaded
	// already; plugin.Open returns that plugin.
	NoteAlreadyLoaded NoteKind = "already-loaded"
	// NoteToolchain: the plugin loads, but was built by another release of
	// the toolchain than the host.
	NoteToolchain NoteKind = "toolchain"
)

// Note is something to know about a plugin that loads.
type Note struct {
	Kind    NoteKind `json:"kind"`
	Against string   `json:"against,omitempty"`
	Detail  string   `json:"detail"`
}

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
	// CauseReplace: a module is replaced by a directory on one side and
	// is the main module or a workspace module on the other: under
	// -trimpath the compiler records its files as module@version/... for
	// the replace and as module/... otherwise, so the same source gives
	// other export data.
	CauseReplace CauseKind = "replace"
	// CauseLocal: a local module (the main module, a workspace module or
	// one replaced by a directory) has packages that differ: no version
	// names its source, which differs (or, under -trimpath, its cgo flags).
	CauseLocal CauseKind = "local"
	// CauseSource: packages differ under the same versions: with no other
	// cause, the build info agrees yet the export data differs.
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
	case CauseReplace:
		return fmt.Sprintf("%s is %s in the plugin, %s in the %s: -trimpath records different file names, so the export data differs",
			c.Subject, c.Have, c.Want, c.WantFrom)
	case CauseLocal:
		return fmt.Sprintf("%s: %s in the plugin, %s in the %s: a local module, whose source differs", c.Subject, c.Have, c.Want, c.WantFrom)
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
	// Symbols lists the C symbols of a CSymbolCollision.
	Symbols []string `json:"symbols,omitempty"`
	Causes  []Cause  `json:"causes,omitempty"`
	Detail  string   `json:"detail"`
	// Fatal reports a problem that kills the host instead of failing the
	// load: a plugin from a toolchain whose runtime lays out module data
	// differently ("fatal error: runtime: no plugin module data"), another
	// path to a mapped plugin after a failed load; or that can crash it: a
	// damaged file (CorruptELF).
	Fatal bool `json:"fatal,omitempty"`
}

// kills reports a problem after which the host is dead: a Fatal one other
// than a damaged file, which the dynamic linker may also just refuse.
func (p Problem) kills() bool { return p.Fatal && p.Kind != CorruptELF }

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
	Plugin string `json:"plugin"`
	// OK: the plugin loads and works as built.
	OK bool `json:"ok"`
	// Dies: loading the plugin kills the host (a Fatal problem).
	Dies bool `json:"dies,omitempty"`
	// NeverReached names the plugin at which the host died before this
	// one (Check only): this one is never opened.
	NeverReached string    `json:"neverReached,omitempty"`
	Problems     []Problem `json:"problems,omitempty"`
	Notes        []Note    `json:"notes,omitempty"`
}

// Opens reports whether plugin.Open returns the plugin: it loads, or its
// only problems are C symbol collisions, which the runtime does not see.
func (l Load) Opens() bool {
	if l.Dies || l.NeverReached != "" {
		return false
	}
	for _, p := range l.Problems {
		if p.Kind != CSymbolCollision {
			return false
		}
	}
	return true
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

// Check predicts loading plugins, in order, into host with plugin.Open.
// host may be nil to check plugins against each other only. After a plugin
// that kills the host (Load.Dies), the later ones are never reached.
func Check(host *File, plugins []*File, opts Options) *Report {
	s := NewSession(host, opts)
	r := &Report{Host: host, Plugins: plugins, HostProblems: s.hostProblems}
	diedAt := ""
	for _, p := range plugins {
		if diedAt != "" {
			r.Loads = append(r.Loads, Load{Plugin: p.Path, NeverReached: diedAt})
			continue
		}
		l := s.Predict(p)
		if l.Dies {
			diedAt = p.Path
		} else {
			s.Record(p, l.Opens())
		}
		r.Loads = append(r.Loads, l)
	}
	return r
}

// DiedAt is the plugin at which the host dies, or "".
func (r *Report) DiedAt() string {
	for _, l := range r.Loads {
		if l.Dies {
			return l.Plugin
		}
	}
	return ""
}

// Session replays plugin loads into one process the way the runtime and
// the dynamic linker see them.
type Session struct {
	host         *File
	opts         Options
	hostProblems []Problem
	defined      map[string]definer // package -> first definition in the process
	active       map[string]*File   // pluginpath -> plugin loaded successfully
	// opened maps the real path of every file plugin.Open got past dlopen
	// for to how that went: the runtime answers a second Open of the path
	// from it.
	opened map[string]opened
	// objects maps the FileID of every file the dynamic linker mapped to
	// it.
	objects map[string]*File
	// The runtime looks for a plugin's module data at the end of its list
	// of modules: reachable counts the plugins in that list, lastBad says
	// the last of them failed the runtime's checks, and cutBy is the plugin
	// whose runtime linked its module data where the host's runtime does
	// not look (after it, no plugin's module data is found).
	reachable int
	lastBad   bool
	cutBy     *File
	// symbols maps a C symbol to the object that defined it first.
	symbols map[string]*File
	// index holds each recorded file's C symbol index.
	index map[*File]map[string]int
}

type definer struct {
	hash string
	file *File
}

type opened struct {
	file     *File
	ok       bool
	problems []Problem
}

// NewSession starts a process running host (nil for none).
func NewSession(host *File, opts Options) *Session {
	s := &Session{host: host, opts: opts, defined: map[string]definer{}, active: map[string]*File{},
		opened: map[string]opened{}, objects: map[string]*File{}, symbols: map[string]*File{}, index: map[*File]map[string]int{}}
	if host != nil {
		s.hostProblems = hostProblems(host, opts)
		for pkg, h := range host.Packages {
			s.defined[pkg] = definer{h, host}
		}
		s.defineCSymbols(host)
	}
	return s
}

// defineCSymbols makes f's C symbols the process's where they are the
// first definition.
func (s *Session) defineCSymbols(f *File) {
	s.index[f] = cIndex(f)
	for _, c := range f.CSymbols {
		if _, ok := s.symbols[c.Name]; !ok {
			s.symbols[c.Name] = f
		}
	}
}

// HostProblems are the reasons the host cannot load any plugin.
func (s *Session) HostProblems() []Problem { return s.hostProblems }

// Predict says whether p would load now, without changing the session.
// It follows plugin.Open: a real path opened before is answered from the
// first Open; a file the dynamic linker cannot map fails there; then the
// runtime looks for the new module data (another toolchain's, or none at
// all for an object mapped before, kills the host), compares the
// pluginpath with the plugins loaded and every package hash with the
// process's copy. A plugin that passes all of that but defines a C symbol
// an earlier object defines fails too: the runtime loads it, its C calls
// reach the other object's code.
func (s *Session) Predict(p *File) Load {
	l := Load{Plugin: p.Path}
	fail := func(pr Problem) Load {
		pr.Plugin = p.Path
		l.Problems = append(l.Problems, pr)
		l.Dies = l.Dies || pr.kills()
		return l
	}
	if len(s.hostProblems) > 0 {
		return fail(Problem{Kind: HostCannotLoad, Against: s.host.Path, Detail: "the host cannot load plugins: " + s.hostProblems[0].Detail})
	}
	if o, ok := s.opened[p.RealPath]; ok && p.RealPath != "" {
		if o.ok {
			l.Notes = append(l.Notes, Note{Kind: NoteAlreadyLoaded, Against: o.file.Path,
				Detail: fmt.Sprintf("already loaded: the runtime returns the plugin it loaded from %s", o.file.Path)})
			// The same plugin, with the same C symbol collisions.
			for _, pr := range o.problems {
				fail(pr)
			}
			l.OK = len(l.Problems) == 0
			return l
		}
		why := "it failed"
		if len(o.problems) > 0 {
			why = o.problems[0].Detail
		}
		return fail(Problem{Kind: PreviousFailure, Against: o.file.Path,
			Detail: fmt.Sprintf("plugin.Open of the same file (%s) failed before (%s): the runtime returns that failure again", o.file.Path, why)})
	}
	if p.Corrupt != nil {
		return fail(corruptProblem(p, "the file"))
	}
	if mode := p.BuildMode(); !p.Plugin && IsCABI(mode) {
		return fail(Problem{Kind: CLibrary, Detail: fmt.Sprintf("a C-ABI library (-buildmode=%s), for C hosts, not a Go plugin: plugin.Open cannot load it", mode)})
	}
	if !p.Plugin {
		return fail(Problem{Kind: NotPlugin, Detail: fmt.Sprintf("not a plugin (built with -buildmode=%s)", p.BuildMode())})
	}
	if s.host != nil && (p.Class != s.host.Class || p.Machine != s.host.Machine) {
		return fail(Problem{Kind: ELFMismatch, Against: s.host.Path,
			Detail: fmt.Sprintf("plugin is %s %s, host is %s %s", p.Class, p.Machine, s.host.Class, s.host.Machine)})
	}
	if s.opts.MaxGLIBC != "" && CompareGLIBC(p.GLIBC, s.opts.MaxGLIBC) > 0 {
		return fail(Problem{Kind: GLIBCTooNew, Detail: fmt.Sprintf("plugin needs %s, the target has glibc %s", p.GLIBC, s.opts.MaxGLIBC)})
	}
	// noNew is the runtime finding no new module data for p: it takes the
	// last plugin in its list, and reports "plugin already loaded", or
	// dies when there is none or it had failed.
	noNew := func(pr Problem, what, dies string) Load {
		if s.reachable == 0 || s.lastBad {
			pr.Fatal = true
			pr.Detail += dies
		} else {
			pr.Detail += what + ": plugin.Open reports plugin already loaded"
		}
		return fail(pr)
	}
	diesWhy := ", and as " + map[bool]string{true: "no plugin was loaded before", false: "the last plugin opened failed"}[s.reachable == 0] +
		", the runtime finds no module data and kills the host (fatal error: runtime: no plugin module data)"
	if prev, ok := s.objects[p.FileID]; ok && p.FileID != "" {
		return noNew(Problem{Kind: SameObject, Against: prev.Path,
			Detail: fmt.Sprintf("the same file as %s (a hard link): dlopen returns the object it mapped", prev.Path)}, "", diesWhy)
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
	var mismatches []Problem
	for _, against := range order {
		mismatches = append(mismatches, s.mismatch(p, against, byAgainst[against]))
	}
	// A runtime that cannot read the plugin's module data never compares
	// anything: it dies, or it does not find the plugin's module data.
	if s.host != nil && !sameModuleData(p.GoVersion, s.host.GoVersion) {
		if len(mismatches) == 0 {
			mismatches = append(mismatches, Problem{Kind: PackageMismatch, Against: s.host.Path,
				Causes: []Cause{{Kind: CauseToolchain, Subject: "go", Have: release(p.GoVersion), Want: release(s.host.GoVersion), WantFrom: "host"}},
				Detail: "plugin was built by a toolchain whose runtime lays out module data differently from the host's"})
		}
		if cutsModuleList(s.host.GoVersion, p.GoVersion) {
			first := mismatches[0]
			l = noNew(first, fmt.Sprintf("; its runtime (%s) links module data where the host's (%s) does not look, so no plugin opened after it loads either",
				release(p.GoVersion), release(s.host.GoVersion)), "")
			for _, pr := range mismatches[1:] {
				pr.Fatal = l.Dies
				fail(pr)
			}
			return l
		}
		for _, pr := range mismatches {
			pr.Fatal = true
			fail(pr)
		}
		return l
	}
	if s.cutBy != nil {
		return noNew(Problem{Kind: ModuleListBroken, Against: s.cutBy.Path,
			Detail: fmt.Sprintf("%s, opened before, was built by %s, whose runtime links module data where the host's (%s) does not look: the runtime finds no module data of plugins opened after it",
				s.cutBy.Path, release(s.cutBy.GoVersion), release(s.host.GoVersion))}, "", diesWhy)
	}
	if prev, ok := s.active[p.PluginPath]; ok {
		return fail(Problem{Kind: DuplicatePluginPath, Against: prev.Path,
			Detail: fmt.Sprintf("pluginpath %s is already loaded from %s", p.PluginPath, prev.Path)})
	}
	for _, pr := range mismatches {
		fail(pr)
	}
	if len(l.Problems) == 0 {
		for _, pr := range s.collisions(p) {
			fail(pr)
		}
	}
	l.OK = len(l.Problems) == 0
	if l.OK && s.host != nil && release(p.GoVersion) != release(s.host.GoVersion) {
		l.Notes = append(l.Notes, Note{Kind: NoteToolchain, Against: s.host.Path,
			Detail: fmt.Sprintf("loads, but built with %s, the host with %s: a later change to a shared package may stop it loading; build both with one toolchain",
				release(p.GoVersion), release(s.host.GoVersion))})
	}
	return l
}

// collisions are p's C symbols that an object opened before defines first
// and p uses, unless they are the same code (see sameCCode): one problem
// per object.
func (s *Session) collisions(p *File) []Problem {
	pi := cIndex(p)
	byFile := map[*File][]string{}
	var order []*File
	for _, c := range p.CSymbols {
		first, ok := s.symbols[c.Name]
		if !ok || !c.Used || harmlessCSymbol(c) {
			continue
		}
		if sameCCode(first, p, s.index[first], pi, c.Name) {
			continue
		}
		if _, seen := byFile[first]; !seen {
			order = append(order, first)
		}
		byFile[first] = append(byFile[first], c.Name)
	}
	var out []Problem
	for _, f := range order {
		syms := byFile[f]
		sort.Strings(syms)
		syms = slices.Compact(syms)
		who := "the host"
		if f != s.host {
			who = "plugin " + f.Path + ", opened before it"
		}
		noun := "C symbol " + syms[0] + " is"
		if len(syms) > 1 {
			noun = "C symbols " + ListPackages(syms, MaxPackages) + " are"
		}
		out = append(out, Problem{Kind: CSymbolCollision, Against: f.Path, Symbols: syms,
			Detail: fmt.Sprintf("%s also defined by %s: the plugin loads, but the dynamic linker binds its uses to the first definition, so its calls run %s's code",
				noun, who, f.Path)})
	}
	return out
}

// Record notes that plugin.Open was called on p and whether it returned
// the plugin (opened; see Load.Opens). The runtime answers another Open
// of the same real path from that. If the dynamic linker mapped a new
// object, its packages become the process's copy where there was none, and
// its C symbols the first definitions, whether or not the runtime then
// accepted it; an accepted plugin's pluginpath is active from now on.
// Files the dynamic linker cannot open (another machine, a newer glibc,
// not a plugin, damaged) leave nothing behind; another path to a mapped
// object maps nothing new.
func (s *Session) Record(p *File, opened bool) {
	if _, ok := s.opened[p.RealPath]; ok && p.RealPath != "" {
		return
	}
	if !p.Plugin || p.Corrupt != nil || (s.host != nil && (p.Class != s.host.Class || p.Machine != s.host.Machine)) ||
		(s.opts.MaxGLIBC != "" && CompareGLIBC(p.GLIBC, s.opts.MaxGLIBC) > 0) || len(s.hostProblems) > 0 {
		return
	}
	if p.RealPath != "" {
		s.opened[p.RealPath] = openedAs(p, opened, s)
	}
	if _, ok := s.objects[p.FileID]; ok && p.FileID != "" {
		return
	}
	if p.FileID != "" {
		s.objects[p.FileID] = p
	}
	switch {
	case s.cutBy != nil:
	case s.host != nil && !sameModuleData(p.GoVersion, s.host.GoVersion):
		s.cutBy = p
	default:
		s.reachable++
		s.lastBad = !opened
	}
	for pkg, h := range p.Packages {
		if _, ok := s.defined[pkg]; !ok {
			s.defined[pkg] = definer{h, p}
		}
	}
	s.defineCSymbols(p)
	if opened {
		s.active[p.PluginPath] = p
	}
}

// openedAs is how the runtime remembers an Open of p: opened or not, and
// the problems of that load (for one opened, its C symbol collisions).
func openedAs(p *File, ok bool, s *Session) opened {
	return opened{file: p, ok: ok, problems: s.Predict(p).Problems}
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
		// Fatal is set by Predict: a runtime that lays out module data
		// otherwise dies instead of failing the load.
	}
}

// cutsModuleList reports, for a host and a plugin whose runtimes lay out
// module data otherwise, whether the plugin's runtime links its module
// data where the host's does not look, instead of the host dying at once:
// then the host dies only when it finds no plugin's module data at all
// (no plugin loaded before, or the last one failed), and otherwise reports
// "plugin already loaded", for this plugin and every one after it.
// Measured: a go1.24 host with go1.22 and go1.26 plugins, a go1.26 host
// with go1.23 to go1.25 plugins. A go1.22 host dies with plugins from
// go1.23 on, a go1.26 host with go1.22 plugins (SIGSEGV).
func cutsModuleList(host, plugin string) bool {
	switch h, p := layoutOf(host), layoutOf(plugin); {
	case h == "go1.23" && (p == "go1.22" || p == "go1.26"):
		return true
	case h == "go1.26" && p == "go1.23":
		return true
	}
	return false
}

// layoutOf names the moduledata layout of a Go release by the first minor
// release that had it, "" when not known.
func layoutOf(v string) string {
	switch m := minor(v); m {
	case "go1.22", "go1.26":
		return m
	case "go1.23", "go1.24", "go1.25":
		return "go1.23"
	}
	return ""
}

// sameModuleData reports whether a runtime of one Go release reads the
// module data of a plugin linked by another: the same minor release, or
// two whose runtime lays moduledata out alike. Otherwise the host dies
// ("fatal error: runtime: no plugin module data", or SIGSEGV). Measured
// with go1.22.12, go1.23.12, go1.24.4, go1.25.14 and go1.26.8 both ways:
// go1.23 to go1.25 fail cleanly with one another, every other pair of
// them kills the host. A release not measured counts as another layout.
func sameModuleData(a, b string) bool {
	if minor(a) == minor(b) {
		return true
	}
	return layoutOf(a) != "" && layoutOf(a) == layoutOf(b)
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
	// The modules providing a differing package. A toolchain or setting
	// difference changes packages of every module: then only versions and
	// replaces are named.
	global := len(out) > 0
	var sameVersion []string
	var sameLocal []Cause // local modules of one kind on both sides
	seen := map[string]bool{}
	sorted := append([]string(nil), pkgs...)
	sort.Strings(sorted)
	for _, pkg := range sorted {
		mod := moduleOf(pkg, p, against)
		if mod == "" || seen[mod] {
			continue
		}
		seen[mod] = true
		a, b := originOf(p, mod), originOf(against, mod)
		trimmed := settingValue(p, "-trimpath") == "true" && settingValue(against, "-trimpath") == "true"
		switch {
		case trimmed && (a.kind == originDir && b.ownPath() || b.kind == originDir && a.ownPath()):
			add(CauseReplace, mod, a.text, b.text)
		case (a.local() || b.local()) && a.kind == b.kind:
			sameLocal = append(sameLocal, Cause{Kind: CauseLocal, Subject: mod, Have: a.text, Want: b.text, WantFrom: wantFrom})
		case a.local() || b.local():
			if !global {
				add(CauseLocal, mod, a.text, b.text)
			}
		case a.text != b.text:
			add(CauseDependency, mod, a.text, b.text)
		default:
			sameVersion = append(sameVersion, mod)
		}
	}
	// A local module of one kind on both sides is named when other
	// causes are; alone, the build info does not explain the difference.
	if len(out) > 0 && !global {
		out = append(out, sameLocal...)
	}
	sort.SliceStable(out, func(i, j int) bool { return causeRank(out[i].Kind) < causeRank(out[j].Kind) })
	switch {
	case len(out) == 0:
		out = append(out, Cause{Kind: CauseSource, Subject: strings.Join(sourceModules(pkgs, p, against), ", "), WantFrom: wantFrom,
			Have: fmt.Sprintf("the build info of both sides agrees (%s, same module versions and recorded settings), yet the export data differs: "+
				"different source under the same versions (an edited replaced or vendored module), cgo flags (not recorded under -trimpath), or another GOROOT", p.GoVersion)})
	case !global && len(sameVersion) > 0:
		out = append(out, Cause{Kind: CauseSource, Subject: strings.Join(sameVersion, ", "), WantFrom: wantFrom,
			Have: fmt.Sprintf("packages of %s differ too under the same version on both sides: perhaps through the differences above, else their source differs",
				strings.Join(sameVersion, ", "))})
	}
	return out
}

// Where a module's source comes from in a build.
const (
	originAbsent = iota
	originVersion
	originMain
	originWorkspace
	originDir
)

// origin is where a module's source comes from in a build, and how to say
// it ("v1.2.3", "the main module", "a workspace module", "replaced by
// directory ../api").
type origin struct {
	kind int
	text string
}

// local: no version names the source.
func (o origin) local() bool {
	return o.kind == originMain || o.kind == originWorkspace || o.kind == originDir
}

// ownPath: under -trimpath the compiler records the module's files as
// module/... (not module@version/...).
func (o origin) ownPath() bool { return o.kind == originMain || o.kind == originWorkspace }

func originOf(f *File, mod string) origin {
	if mod == f.MainModule {
		return origin{originMain, "the main module"}
	}
	if r, ok := f.Replaces[mod]; ok && isDirPath(r) {
		return origin{originDir, "replaced by directory " + r}
	}
	v, ok := f.Deps[mod]
	switch {
	case !ok:
		return origin{originAbsent, "(absent)"}
	case strings.HasPrefix(v, "=> "):
		return origin{originDir, "replaced by directory " + strings.TrimPrefix(v, "=> ")}
	case v == "(devel)" || v == "":
		return origin{originWorkspace, "a workspace module"}
	}
	return origin{originVersion, v}
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
	for i, c := range []CauseKind{CauseToolchain, CauseGOEXPERIMENT, CauseDependency, CauseReplace, CauseTrimpath, CauseTags, CauseCGO, CauseGOAMD64, CauseSetting, CauseLocal, CauseSource} {
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

func moduleVersion(f *File, mod string) string { return originOf(f, mod).text }

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

// LibraryOptions tune CheckLibrary.
type LibraryOptions struct {
	// MaxGLIBC, when set ("2.36"), is the target system's glibc: a
	// c-shared library needing a newer one is reported.
	MaxGLIBC string
	// Symbols must all be exported (File.CExports): what the C host looks
	// up with dlsym, or the C program calls.
	Symbols []string
	// Want is the build mode the file must have, ModeCShared or
	// ModeCArchive; "" accepts either.
	Want string
}

// CheckLibrary says whether f is fit for a C host: a C-ABI library (not a
// Go plugin, not an executable), of the wanted build mode, undamaged, not
// needing a newer glibc than the target's, and exporting every symbol
// asked for. It returns the problems, none when it is fit.
func CheckLibrary(f *File, opts LibraryOptions) []Problem {
	fail := func(pr Problem) []Problem {
		pr.Plugin = f.Path
		return []Problem{pr}
	}
	mode := f.BuildMode()
	switch {
	case f.Corrupt != nil:
		return fail(corruptProblem(f, "the file"))
	case f.Plugin:
		return fail(Problem{Kind: GoPluginForC,
			Detail: "a Go plugin (-buildmode=plugin), not a C-ABI library: only a Go host can load it; a C host that dlopens it hangs or crashes (nbdkit hangs), as nothing starts its Go runtime"})
	case !IsCABI(mode):
		return fail(Problem{Kind: NotCLibrary, Detail: fmt.Sprintf("not a C-ABI library (built with -buildmode=%s)", mode)})
	case opts.Want != "" && mode != opts.Want:
		return fail(Problem{Kind: NotCLibrary, Detail: fmt.Sprintf("built with -buildmode=%s, not %s", mode, opts.Want)})
	}
	var out []Problem
	if opts.MaxGLIBC != "" && CompareGLIBC(f.GLIBC, opts.MaxGLIBC) > 0 {
		out = append(out, Problem{Kind: GLIBCTooNew, Plugin: f.Path, Detail: fmt.Sprintf("the library needs %s, the target has glibc %s", f.GLIBC, opts.MaxGLIBC)})
	}
	have := map[string]bool{}
	for _, s := range f.CExports {
		have[s] = true
	}
	var missing []string
	for _, s := range opts.Symbols {
		if !have[s] {
			missing = append(missing, s)
		}
	}
	sort.Strings(missing)
	if missing = slices.Compact(missing); len(missing) > 0 {
		noun := "symbol " + missing[0]
		if len(missing) > 1 {
			noun = "symbols " + strings.Join(missing, ", ")
		}
		how := "a C host's dlsym finds"
		if mode == ModeCArchive {
			how = "a C program's link finds"
		}
		out = append(out, Problem{Kind: MissingCSymbol, Plugin: f.Path, Symbols: missing,
			Detail: fmt.Sprintf("does not export the C %s: %s no such symbol", noun, how)})
	}
	return out
}
