package check

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/pbuild/pbuild/loader/abi"
)

// Render writes the verdict for people: one line per file, and under each
// failing plugin what differs (have: the plugin, want: what it must match),
// the most telling packages and a suggested fix.
func Render(w io.Writer, r *Result) {
	h := r.Host
	fmt.Fprintf(w, "host    %s  (%s, %s", h.Path, h.GoVersion, platform(h))
	if h.GLIBC != "" {
		fmt.Fprintf(w, ", needs %s", h.GLIBC)
	}
	fmt.Fprintln(w, ")")
	for _, p := range r.Report.HostProblems {
		renderProblem(w, p)
	}
	for _, t := range r.Tampered {
		fmt.Fprintf(w, "TAMPERED %s\n  have: sha256 %s\n  want: sha256 %s (the manifest's)\n", t.File, t.Have, t.Want)
	}
	for _, l := range r.Report.Loads {
		if l.OK {
			fmt.Fprintf(w, "ok      %s\n", l.Plugin)
			continue
		}
		fmt.Fprintf(w, "FAIL    %s\n", l.Plugin)
		for _, p := range l.Problems {
			renderProblem(w, p)
		}
	}
	if err := r.Err(); err != nil {
		fmt.Fprintf(w, "verdict: %s\n", strings.TrimPrefix(err.Error(), "check: "))
	} else {
		fmt.Fprintf(w, "verdict: all %d plugins load into the host\n", len(r.Report.Loads))
	}
}

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
	if c.Kind == abi.CauseToolchain {
		return "toolchain"
	}
	return c.Subject
}

// Fix suggests what to do about a problem, from its most likely cause.
func Fix(p abi.Problem) string {
	switch p.Kind {
	case abi.DuplicatePluginPath:
		return "give each plugin its own package path, or load only one of them"
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
	}
	if len(p.Causes) == 0 {
		return ""
	}
	c := p.Causes[0]
	want := c.Want
	switch c.Kind {
	case abi.CauseToolchain:
		return fmt.Sprintf("rebuild the plugin with %s, the exact toolchain of the %s (toolchain.go in pbuild.yaml)", want, c.WantFrom)
	case abi.CauseDependency:
		return fmt.Sprintf("build the plugin with %s %s (go get %s@%s), or build host and plugins in one pbuild workspace", c.Subject, want, c.Subject, want)
	case abi.CauseTrimpath:
		return "build host and plugin both with -trimpath (pbuild always does)"
	case abi.CauseTags:
		return "build host and plugin with the same build tags (build.tags)"
	case abi.CauseCGO:
		return "build host and plugin with the same CGO_ENABLED and CGO_* flags (build.env)"
	case abi.CauseGOEXPERIMENT:
		return "build host and plugin with the same GOEXPERIMENT (build.env)"
	case abi.CauseGOAMD64:
		return "build host and plugin with the same GOAMD64 (build.env)"
	case abi.CauseSetting:
		return fmt.Sprintf("build host and plugin with the same %s", c.Subject)
	}
	return "rebuild host and plugins together from the same sources, in one pbuild build"
}

// JSON is the machine form of a result.
type JSON struct {
	OK           bool          `json:"ok"`
	Host         string        `json:"host"`
	GoVersion    string        `json:"goVersion"`
	HostProblems []abi.Problem `json:"hostProblems"`
	Loads        []JSONLoad    `json:"loads"`
	Tampered     []Tampered    `json:"tampered"`
}

// JSONLoad is one plugin's predicted load.
type JSONLoad struct {
	Plugin     string        `json:"plugin"`
	PluginPath string        `json:"pluginpath"`
	OK         bool          `json:"ok"`
	Problems   []abi.Problem `json:"problems"`
	Fixes      []string      `json:"fixes"`
}

// WriteJSON writes the result as JSON.
func WriteJSON(w io.Writer, r *Result) error {
	out := JSON{OK: r.OK(), Host: r.Host.Path, GoVersion: r.Host.GoVersion, HostProblems: nonNil(r.Report.HostProblems), Tampered: r.Tampered}
	if out.Tampered == nil {
		out.Tampered = []Tampered{}
	}
	for i, l := range r.Report.Loads {
		jl := JSONLoad{Plugin: l.Plugin, PluginPath: r.Plugins[i].PluginPath, OK: l.OK, Problems: nonNil(l.Problems), Fixes: []string{}}
		for _, p := range l.Problems {
			jl.Fixes = append(jl.Fixes, Fix(p))
		}
		out.Loads = append(out.Loads, jl)
	}
	if out.Loads == nil {
		out.Loads = []JSONLoad{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func nonNil(p []abi.Problem) []abi.Problem {
	if p == nil {
		return []abi.Problem{}
	}
	return p
}
