package check

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/pbuild/pbuild/loader/abi"
	"github.com/pbuild/pbuild/plan"
)

// Render writes the verdict for people: one line per file, and under each
// failing plugin what differs (have: the plugin, want: what it must match),
// the most telling packages and a suggested fix; then each C-ABI library,
// with what uses it, the C symbols it exports and, when it is not fit for
// its C host, why and the fix.
func Render(w io.Writer, r *Result) {
	if h := r.Host; h != nil {
		fmt.Fprintf(w, "host    %s  (%s, %s", h.Path, h.GoVersion, platform(h))
		if h.GLIBC != "" {
			fmt.Fprintf(w, ", needs %s", h.GLIBC)
		}
		fmt.Fprintln(w, ")")
	}
	for _, p := range r.Report.HostProblems {
		renderProblem(w, p)
	}
	for _, t := range r.Tampered {
		fmt.Fprintf(w, "TAMPERED %s\n  have: sha256 %s\n  want: sha256 %s (the manifest's)\n", t.File, t.Have, t.Want)
	}
	for _, l := range r.Report.Loads {
		switch {
		case l.NeverReached != "":
			fmt.Fprintf(w, "NEVER   %s\n  never reached: the host dies at %s\n", l.Plugin, l.NeverReached)
			continue
		case l.OK:
			fmt.Fprintf(w, "ok      %s\n", l.Plugin)
		default:
			fmt.Fprintf(w, "FAIL    %s\n", l.Plugin)
		}
		for _, p := range l.Problems {
			renderProblem(w, p)
		}
		for _, n := range l.Notes {
			fmt.Fprintf(w, "  note: %s\n", n.Detail)
		}
	}
	for _, l := range r.Libraries {
		renderLibrary(w, l)
	}
	if err := r.Err(); err != nil {
		fmt.Fprintf(w, "verdict: %s\n", strings.TrimPrefix(err.Error(), "check: "))
	} else {
		fmt.Fprintf(w, "verdict: %s\n", Verdict(r))
	}
}

// Verdict says, for a result that is OK, what was checked: "all 3 plugins
// load into the host", "all 2 C-ABI libraries are fit for C hosts", or
// both.
func Verdict(r *Result) string {
	plugins := fmt.Sprintf("all %d plugins load into the host", len(r.Report.Loads))
	if len(r.Libraries) == 0 {
		return plugins
	}
	libs := fmt.Sprintf("all %d C-ABI libraries are fit for C hosts", len(r.Libraries))
	if r.Host == nil && len(r.Report.Loads) == 0 {
		return libs
	}
	return plugins + "; " + libs
}

// renderLibrary writes one C-ABI library's verdict: its status line with
// its build, what uses it, what it exports, its problems with their fixes.
func renderLibrary(w io.Writer, l Library) {
	f := l.File
	status := "ok"
	if !l.OK() {
		status = "FAIL"
	}
	mode := f.BuildMode()
	fmt.Fprintf(w, "%-7s %s  (%s, %s, %s", status, f.Path, mode, f.GoVersion, platform(f))
	if f.GLIBC != "" {
		fmt.Fprintf(w, ", needs %s", f.GLIBC)
	}
	fmt.Fprintln(w, ")")
	if abi.IsCABI(mode) {
		fmt.Fprintf(w, "  loaded by: %s\n", plan.Kind(mode).LoadedBy())
		if l.Header != "" {
			fmt.Fprintf(w, "  header: %s\n", l.Header)
		}
		exports := "(none)"
		if len(f.CExports) > 0 {
			exports = abi.ListPackages(f.CExports, maxExports)
		}
		fmt.Fprintf(w, "  exports: %s\n", exports)
	}
	for _, p := range l.Problems {
		renderProblem(w, p)
	}
}

// maxExports is how many exported C symbols a library's line lists.
const maxExports = 8

func platform(f *abi.File) string {
	s := f.Settings["GOOS"] + "/" + f.Settings["GOARCH"]
	if v := f.Settings["GOAMD64"]; v != "" {
		s += " " + v
	}
	return s
}

func renderProblem(w io.Writer, p abi.Problem) {
	fmt.Fprintf(w, "  %s\n", p.Detail)
	switch {
	case p.Kind == abi.CorruptELF:
		fmt.Fprintln(w, "  (loading it can crash the host: the dynamic linker trusts these structures)")
	case p.Fatal:
		fmt.Fprintln(w, "  (loading it can kill the host: fatal error: runtime: no plugin module data)")
	}
	for _, c := range p.Causes {
		if c.Kind == abi.CauseSource {
			fmt.Fprintf(w, "  cause: %s\n", c.Have)
			continue
		}
		fmt.Fprintf(w, "  %s:\n    have: %s (plugin)\n    want: %s (%s)\n", causeName(c), abi.Unset(c.Have), abi.Unset(c.Want), c.WantFrom)
	}
	if len(p.Packages) > 0 {
		fmt.Fprintf(w, "  packages: %s\n", abi.ListPackages(p.Packages, 5))
	}
	if fix := Fix(p); fix != "" {
		fmt.Fprintf(w, "  fix: %s\n", fix)
	}
}

func causeName(c abi.Cause) string {
	switch c.Kind {
	case abi.CauseToolchain:
		return "toolchain"
	case abi.CauseReplace:
		return c.Subject + " (-trimpath records other file names for a module replaced by a directory, so the same source gives other export data)"
	case abi.CauseLocal:
		return c.Subject + " (a local module: no version tells its source apart, and its source differs)"
	}
	return c.Subject
}

// Fix suggests what to do about a problem: for a package mismatch, what
// to change for every cause named, and, when what the build info tells
// may not be all, it says so.
func Fix(p abi.Problem) string {
	switch p.Kind {
	case abi.DuplicatePluginPath:
		return "give each plugin its own package path, or load only one of them"
	case abi.SameObject:
		return "load each plugin file once, by one path"
	case abi.ModuleListBroken:
		return fmt.Sprintf("rebuild %s with the host's toolchain; until then, open it after every other plugin, or not at all", p.Against)
	case abi.PreviousFailure:
		return "fix the first failure; the process has to be restarted to load this file"
	case abi.NotPlugin:
		return "build it with go build -buildmode=plugin"
	case abi.ELFMismatch:
		return "build the plugin for the host's platform"
	case abi.GLIBCTooNew:
		return "build on a base image whose glibc is not newer than the target's (toolchain.base)"
	case abi.HostCannotLoad:
		return "build the host with CGO_ENABLED=1 and have it import package plugin"
	case abi.CorruptELF:
		return "rebuild it, or restore it from its release bundle (pbuild verify); pbuild check --manifest tells a damaged file by its sha256"
	case abi.CSymbolCollision:
		return fmt.Sprintf("make %s static, hidden (__attribute__((visibility(\"hidden\")))) or renamed in one of the two, "+
			"or share it through one Go package both link", strings.Join(p.Symbols, ", "))
	case abi.CLibrary:
		return "load it from C with dlopen (it is for C hosts); to load it from Go, build it as a plugin (plugins: in pbuild.yaml); pbuild check --c-abi FILE checks it as a C-ABI library"
	case abi.GoPluginForC, abi.NotCLibrary:
		return "build it as a library: libraries: [{name, path, buildmode: c-shared}] in pbuild.yaml (buildmode: c-archive for a C program's link)"
	case abi.MissingCSymbol:
		var exports []string
		for _, s := range p.Symbols {
			exports = append(exports, "//export "+s)
		}
		return fmt.Sprintf("export it from the library's Go source: put %s right above the Go function of that name in its main package (which imports \"C\"), and build it again",
			strings.Join(exports, ", "))
	}
	if len(p.Causes) == 0 {
		return ""
	}
	var parts, deps, gets []string
	seen := map[string]bool{}
	part := func(s string) {
		if !seen[s] {
			seen[s] = true
			parts = append(parts, s)
		}
	}
	depsAt := -1
	for _, c := range p.Causes {
		switch c.Kind {
		case abi.CauseToolchain:
			part(fmt.Sprintf("rebuild the plugin with %s, the exact toolchain of the %s (toolchain.go in pbuild.yaml)", c.Want, c.WantFrom))
		case abi.CauseDependency:
			if depsAt < 0 {
				depsAt = len(parts)
				parts = append(parts, "")
			}
			deps = append(deps, c.Subject+" "+c.Want)
			gets = append(gets, c.Subject+"@"+c.Want)
		case abi.CauseReplace:
			part(fmt.Sprintf("build both in one workspace (pbuild build) instead of replacing %s by a directory", c.Subject))
		case abi.CauseLocal:
			part(fmt.Sprintf("rebuild both from the same source of %s, in one pbuild build", c.Subject))
		case abi.CauseTrimpath:
			part("build host and plugin both with -trimpath (pbuild always does)")
		case abi.CauseTags:
			part("build host and plugin with the same build tags (build.tags)")
		case abi.CauseCGO:
			part("build host and plugin with the same CGO_ENABLED and CGO_* flags (build.env)")
		case abi.CauseGOEXPERIMENT:
			part("build host and plugin with the same GOEXPERIMENT (build.env)")
		case abi.CauseGOAMD64:
			part("build host and plugin with the same GOAMD64 (build.env)")
		case abi.CauseSetting:
			part(fmt.Sprintf("build host and plugin with the same %s", c.Subject))
		case abi.CauseSource:
			if len(p.Causes) == 1 {
				part("rebuild host and plugins together from the same sources, in one pbuild build")
			} else {
				part(fmt.Sprintf("this may not be all: packages of %s differ under the same version too; if they still do, rebuild host and plugins together from the same sources, in one pbuild build", c.Subject))
			}
		}
	}
	if depsAt >= 0 {
		sort.Strings(gets)
		parts[depsAt] = fmt.Sprintf("build the plugin with %s (go get %s)", strings.Join(deps, ", "), strings.Join(gets, " "))
		if len(parts) == 1 {
			parts[0] += ", or build host and plugins in one pbuild workspace"
		}
	}
	return strings.Join(parts, "; ")
}

// JSON is the machine form of a result. Host and GoVersion are "" when
// there is no host (C-ABI libraries only).
type JSON struct {
	OK           bool          `json:"ok"`
	Host         string        `json:"host"`
	GoVersion    string        `json:"goVersion"`
	HostProblems []abi.Problem `json:"hostProblems"`
	Loads        []JSONLoad    `json:"loads"`
	Libraries    []JSONLibrary `json:"libraries"`
	Tampered     []Tampered    `json:"tampered"`
}

// JSONLibrary is one C-ABI library's verdict. BuildMode is what the file
// is (c-shared, c-archive, or, refused, plugin or exe); Kind what the
// manifest lists it as ("" for a file named on the command line); Status
// "ok" or "fail".
type JSONLibrary struct {
	File      string        `json:"file"`
	BuildMode string        `json:"buildMode"`
	Kind      string        `json:"kind,omitempty"`
	Header    string        `json:"header,omitempty"`
	LoadedBy  string        `json:"loadedBy"`
	GoVersion string        `json:"goVersion"`
	GLIBC     []string      `json:"glibc"`
	Exports   []string      `json:"exports"`
	OK        bool          `json:"ok"`
	Status    string        `json:"status"`
	Problems  []abi.Problem `json:"problems"`
	Fixes     []string      `json:"fixes"`
}

// JSONLoad is one plugin's predicted load. Status is "ok", "fail" or
// "never-reached" (the host died at NeverReached before this plugin);
// Dies: loading this plugin kills the host.
type JSONLoad struct {
	Plugin       string        `json:"plugin"`
	PluginPath   string        `json:"pluginpath"`
	OK           bool          `json:"ok"`
	Status       string        `json:"status"`
	Dies         bool          `json:"dies,omitempty"`
	NeverReached string        `json:"neverReached,omitempty"`
	Problems     []abi.Problem `json:"problems"`
	Fixes        []string      `json:"fixes"`
	Notes        []abi.Note    `json:"notes"`
}

// WriteJSON writes the result as JSON.
func WriteJSON(w io.Writer, r *Result) error {
	out := JSON{OK: r.OK(), HostProblems: nonNil(r.Report.HostProblems), Tampered: nonNil(r.Tampered), Libraries: []JSONLibrary{}}
	if r.Host != nil {
		out.Host, out.GoVersion = r.Host.Path, r.Host.GoVersion
	}
	for _, l := range r.Libraries {
		f := l.File
		jl := JSONLibrary{File: f.Path, BuildMode: f.BuildMode(), Kind: l.Kind, Header: l.Header, LoadedBy: plan.Kind(f.BuildMode()).LoadedBy(),
			GoVersion: f.GoVersion, GLIBC: nonNil(f.GLIBCNeeds), Exports: nonNil(f.CExports),
			OK: l.OK(), Status: "fail", Problems: nonNil(l.Problems), Fixes: fixes(l.Problems)}
		if jl.OK {
			jl.Status = "ok"
		}
		out.Libraries = append(out.Libraries, jl)
	}
	for i, l := range r.Report.Loads {
		jl := JSONLoad{Plugin: l.Plugin, PluginPath: r.Plugins[i].PluginPath, OK: l.OK, Status: "fail", Dies: l.Dies, NeverReached: l.NeverReached,
			Problems: nonNil(l.Problems), Fixes: fixes(l.Problems), Notes: nonNil(l.Notes)}
		switch {
		case l.NeverReached != "":
			jl.Status = "never-reached"
		case l.OK:
			jl.Status = "ok"
		}
		out.Loads = append(out.Loads, jl)
	}
	out.Loads = nonNil(out.Loads)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// fixes returns Fix of each problem, in order; never nil.
func fixes(problems []abi.Problem) []string {
	out := []string{}
	for _, p := range problems {
		out = append(out, Fix(p))
	}
	return out
}

// nonNil returns s, or an empty slice if s is nil, so that JSON has [] and
// not null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
