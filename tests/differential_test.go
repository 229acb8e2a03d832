package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pbuild/pbuild/check"
	"github.com/pbuild/pbuild/internal/archive"
	"github.com/pbuild/pbuild/internal/container"
	"github.com/pbuild/pbuild/loader/abi"
)

// The differential suite runs every variant of the skew matrix and the
// scenarios below in every load order (all permutations of up to three
// plugins, a set of rotations beyond) and holds, plugin by plugin:
//
//   - the verdict of `pbuild check` (package check: loads, fails, kills the
//     host, never reached) to what a host process calling plain
//     plugin.Open in that order observes (opened, error, or the process
//     died at the plugin or before it); a plugin whose Answer() is not its
//     Want (its C calls reach another object's code) counts as failing;
//   - the loader (the host opening the plugins through
//     github.com/pbuild/pbuild/loader) to a replay of the loader's own rule
//     (abi.Session: a refused plugin is never opened): it opens what the
//     replay accepts and refuses the rest, and never crashes.

// diffScenario is a host and plugins, loaded in every order.
type diffScenario struct {
	name    string
	host    string
	plugins []string
	// want is the verdict of pbuild check for every plugin of the listed
	// order: "ok", "ok+<note kind>", "fail:<problem kind>",
	// "fail:<problem kind>/<cause kind>", "dies" or "never"; nil for no
	// expectation beyond agreement.
	want []string
}

// diffScenarios are the matrix's variants and the scenarios where pbuild
// check and the runtime disagreed, or could.
func diffScenarios(variants []matrixVariant) []diffScenario {
	var out []diffScenario
	for _, v := range variants {
		kind := "skew"
		if v.compat {
			kind = "compatible"
		}
		out = append(out, diffScenario{name: fmt.Sprintf("%s, %s: %s", v.dimension, kind, v.what), host: v.host, plugins: v.plugins})
	}
	return append(out,
		diffScenario{name: "stripped copy: a, then a built with -ldflags=-s -w", host: "host",
			plugins: []string{"a.so", "a-stripped.so"}, want: []string{"ok", "fail:duplicate-pluginpath"}},
		diffScenario{name: "stripped copy, escaped path: x.pkg, then x.pkg stripped", host: "host",
			plugins: []string{"xpkg.so", "xpkg-stripped.so"}, want: []string{"ok", "fail:duplicate-pluginpath"}},
		diffScenario{name: "the same file twice", host: "host",
			plugins: []string{"a.so", "a.so"}, want: []string{"ok", "ok+already-loaded"}},
		diffScenario{name: "a file and a symlink to it", host: "host",
			plugins: []string{"a.so", "a-link.so", "b.so"}, want: []string{"ok", "ok+already-loaded", "ok"}},
		diffScenario{name: "a failed file twice", host: "host",
			plugins: []string{"a-notrim.so", "a-notrim.so"}, want: []string{"fail:package-mismatch/trimpath", "fail:previous-failure"}},
		diffScenario{name: "a hard link after a failed load", host: "host",
			plugins: []string{"a.so", "a-notrim.so", "a-hard.so"}, want: []string{"ok", "fail:duplicate-pluginpath", "dies"}},
		diffScenario{name: "a plugin from go1.26.8 first, and after others", host: "host",
			plugins: []string{"b-go1.26.so", "a.so", "c3.so"}, want: []string{"dies", "never", "never"}},
		diffScenario{name: "a plugin from go1.26.8 after a failed one", host: "host",
			plugins: []string{"a-notrim.so", "b-go1.26.so", "c3.so"}, want: []string{"fail:package-mismatch/trimpath", "dies", "never"}},
		diffScenario{name: "a patch release that loads (go1.24.3)", host: "host",
			plugins: []string{"b-go1.24.3.so", "a.so"}, want: []string{"ok+toolchain", "ok"}},
		diffScenario{name: "directory replace in the plugin, workspace in the host", host: "host-ws",
			plugins: []string{"b.so"}, want: []string{"fail:package-mismatch/replace"}},
		diffScenario{name: "workspace in the plugin, directory replace in the host", host: "host",
			plugins: []string{"b-ws.so"}, want: []string{"fail:package-mismatch/replace"}},
		diffScenario{name: "workspace on both sides", host: "host-ws",
			plugins: []string{"b-ws.so"}, want: []string{"ok"}},
		diffScenario{name: "api the main module of one plugin, a workspace module of the other", host: "host-min",
			plugins: []string{"apiplug.so", "b-ws.so"}, want: []string{"ok", "ok"}},
		diffScenario{name: "api the main module of one plugin, edited, a workspace module of the other", host: "host-min",
			plugins: []string{"apiplug-edited.so", "b-ws.so"}, want: []string{"ok", "fail:package-mismatch/local"}},
		diffScenario{name: "api the main module of one plugin, replaced by a directory in the other", host: "host-min",
			plugins: []string{"apiplug.so", "b.so"}, want: []string{"ok", "fail:package-mismatch/replace"}},
		diffScenario{name: "packages the host does not link: x/text", host: "host-min",
			plugins: []string{"texta.so", "textb.so", "texta-x21.so"}, want: []string{"ok", "fail:package-mismatch/dependency", "fail:duplicate-pluginpath"}},
		diffScenario{name: "C symbols: c1 and c2 define pb_answer, all share cshared's pb_shared", host: "host",
			plugins: []string{"c1.so", "c2.so", "c3.so"}, want: []string{"ok", "fail:c-symbol-collision", "ok"}},
		diffScenario{name: "C symbols: the host defines pb_answer", host: "host-c",
			plugins: []string{"c1.so", "c3.so"}, want: []string{"fail:c-symbol-collision", "ok"}},
	)
}

// orders are the load orders of a scenario: every permutation of up to
// three plugins; beyond, the listed order, its reverse and its rotations.
func (sc diffScenario) orders() []matrixOrder {
	var out []matrixOrder
	seen := map[string]bool{}
	add := func(ps []string) {
		o := matrixOrder{host: sc.host, plugins: append([]string(nil), ps...)}
		if !seen[o.key()] {
			seen[o.key()] = true
			out = append(out, o)
		}
	}
	if len(sc.plugins) <= 3 {
		permute(append([]string(nil), sc.plugins...), 0, add)
		return out
	}
	for i := range sc.plugins {
		add(append(append([]string(nil), sc.plugins[i:]...), sc.plugins[:i]...))
	}
	rev := append([]string(nil), sc.plugins...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	add(rev)
	return out
}

// permute calls fn with every permutation of ps[k:] after ps[:k], the
// listed order first.
func permute(ps []string, k int, fn func([]string)) {
	if k == len(ps) {
		fn(ps)
		return
	}
	for i := k; i < len(ps); i++ {
		ps[k], ps[i] = ps[i], ps[k]
		permute(ps, k+1, fn)
		ps[k], ps[i] = ps[i], ps[k]
	}
}

// matrixOrder is a host and the plugins it opens, in order.
type matrixOrder struct {
	host    string
	plugins []string
}

func (o matrixOrder) key() string { return o.host + " " + strings.Join(o.plugins, " ") }

// matrixExec is what one host process printed, and its exit code.
type matrixExec struct {
	stdout, stderr string
	code           int
}

// matrixExecs are the raw and the loader process of one order.
type matrixExecs struct {
	raw, loader matrixExec
}

// runs parses both processes' lines for the matrix's table.
func (e matrixExecs) runs(plugins []string) matrixRuns {
	return matrixRuns{
		raw:    parseOutcome(plugins, e.raw.stdout, e.raw.stderr, e.raw.code),
		loader: parseOutcome(plugins, e.loader.stdout, e.loader.stderr, e.loader.code),
	}
}

// runDir is where the artifacts are in the run container; resultDir where
// the processes' output goes.
const (
	runDir    = "/run/matrix"
	resultDir = "/run/results"
)

// matrixParallel is how many host processes run at once.
const matrixParallel = 4

// matrixRunAll runs every order's host twice, raw and through the loader,
// in one container without network, matrixParallel processes at a time,
// and returns what they printed by order key.
func matrixRunAll(ctx context.Context, eng container.Engine, image, out string, orders []matrixOrder) (map[string]matrixExecs, error) {
	var script strings.Builder
	fmt.Fprintf(&script, "set -u\nmkdir -p %s\ncd %s\n", resultDir, runDir)
	for _, l := range matrixLinks {
		fmt.Fprintf(&script, "ln -f %s %s %s\n", l.kind, shellQuote(l.target), shellQuote(l.name))
	}
	script.WriteString("run() { n=$1; shift; timeout -s KILL 120 \"$@\" >" + resultDir + "/$n.out 2>" + resultDir + "/$n.err; echo $? >" + resultDir + "/$n.code; }\n")
	n := 0
	for i, o := range orders {
		for _, mode := range []string{"raw", "loader"} {
			cmd := []string{"run", fmt.Sprintf("%d.%s", i, mode), "./" + o.host, mode}
			for _, p := range o.plugins {
				cmd = append(cmd, runDir+"/"+p)
			}
			for j := range cmd {
				cmd[j] = shellQuote(cmd[j])
			}
			script.WriteString(strings.Join(cmd, " ") + " &\n")
			if n++; n%matrixParallel == 0 {
				script.WriteString("wait\n")
			}
		}
	}
	script.WriteString("wait\n")

	results := map[string]matrixExecs{}
	err := container.Use(ctx, eng, container.Spec{Image: image, Step: "skew-matrix-run", Project: "skew-matrix"}, func(c *container.Container) error {
		if err := matrixCopyDir(ctx, c, out, strings.TrimPrefix(runDir, "/")); err != nil {
			return err
		}
		var log strings.Builder
		code, err := c.Exec(ctx, container.Exec{Cmd: []string{"sh", "-c", script.String()}, Dir: runDir, Stdout: &log, Stderr: &log})
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("run script: exit %d:\n%s", code, log.String())
		}
		rc, err := c.CopyFrom(ctx, resultDir)
		if err != nil {
			return err
		}
		defer rc.Close()
		dir, err := os.MkdirTemp("", "matrix-results-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if _, err := archive.Extract(ctx, rc, dir, archive.ExtractOptions{Strip: filepath.Base(resultDir)}); err != nil {
			return err
		}
		for i, o := range orders {
			var e matrixExecs
			for _, mode := range []string{"raw", "loader"} {
				x, err := readExec(dir, fmt.Sprintf("%d.%s", i, mode))
				if err != nil {
					return err
				}
				if mode == "raw" {
					e.raw = x
				} else {
					e.loader = x
				}
			}
			results[o.key()] = e
		}
		return nil
	})
	return results, err
}

// readExec reads a process's output files.
func readExec(dir, name string) (matrixExec, error) {
	var x matrixExec
	out, err := os.ReadFile(filepath.Join(dir, name+".out"))
	if err != nil {
		return x, err
	}
	errOut, err := os.ReadFile(filepath.Join(dir, name+".err"))
	if err != nil {
		return x, err
	}
	code, err := os.ReadFile(filepath.Join(dir, name+".code"))
	if err != nil {
		return x, err
	}
	x.stdout, x.stderr = string(out), string(errOut)
	if x.code, err = strconv.Atoi(strings.TrimSpace(string(code))); err != nil {
		return x, fmt.Errorf("%s.code: %w", name, err)
	}
	return x, nil
}

// Verdicts of one plugin of an order.
const (
	vOK      = "ok"
	vFail    = "fail"
	vDies    = "dies"
	vNever   = "never"
	vRefused = "refused"
)

// diffVerdict is one plugin's verdict, and what it says.
type diffVerdict struct {
	class  string
	detail string
}

func (v diffVerdict) String() string {
	if v.detail == "" {
		return v.class
	}
	return v.class + " (" + v.detail + ")"
}

// observed reads a host process's verdicts: a line per plugin opened, in
// order; when the process died, at the first plugin it did not report on,
// and the later ones were never reached.
func observed(plugins []string, x matrixExec) []diffVerdict {
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(x.stdout, "\n"), "\n") {
		if strings.HasPrefix(l, "ok ") || strings.HasPrefix(l, "fail ") {
			lines = append(lines, l)
		}
	}
	out := make([]diffVerdict, len(plugins))
	for i := range plugins {
		switch {
		case i < len(lines) && strings.HasPrefix(lines[i], "ok "):
			out[i] = diffVerdict{class: vOK}
		case i < len(lines):
			_, msg, _ := strings.Cut(lines[i], ": ")
			out[i] = diffVerdict{class: vFail, detail: msg}
		case i == len(lines) && x.code != 0:
			out[i] = diffVerdict{class: vDies, detail: fmt.Sprintf("exit %d: %s", x.code, crashLine(x.stderr))}
		case x.code != 0:
			out[i] = diffVerdict{class: vNever}
		default:
			out[i] = diffVerdict{class: "not reported", detail: fmt.Sprintf("exit %d", x.code)}
		}
	}
	return out
}

// loaderObserved reads the loader host's verdicts: opened, refused, or
// anything else (an *OpenError, a poisoned loader, a wrong answer, a
// crash), which is a disagreement.
func loaderObserved(plugins []string, x matrixExec) []diffVerdict {
	out := observed(plugins, x)
	for i, v := range out {
		if v.class == vFail && strings.HasPrefix(v.detail, "refused: ") {
			out[i] = diffVerdict{class: vRefused}
		}
	}
	return out
}

// checkVerdicts is what pbuild check says for every plugin of the order.
func checkVerdicts(r *check.Result) []diffVerdict {
	var out []diffVerdict
	for _, l := range r.Report.Loads {
		switch {
		case l.NeverReached != "":
			out = append(out, diffVerdict{class: vNever})
		case l.Dies:
			out = append(out, diffVerdict{class: vDies, detail: l.Problems[0].Summary()})
		case l.OK:
			out = append(out, diffVerdict{class: vOK})
		default:
			out = append(out, diffVerdict{class: vFail, detail: l.Problems[0].Summary()})
		}
	}
	return out
}

// loaderReplay is what the loader must do: abi.Session in the loader's
// way, where a refused plugin is never opened and a file opened before
// (by its real path) is the plugin opened.
func loaderReplay(host *abi.File, plugins []*abi.File) []diffVerdict {
	s := abi.NewSession(host, abi.Options{})
	opened := map[string]bool{}
	var out []diffVerdict
	for _, p := range plugins {
		if opened[p.RealPath] {
			out = append(out, diffVerdict{class: vOK})
			continue
		}
		l := s.Predict(p)
		if !l.OK {
			out = append(out, diffVerdict{class: vRefused, detail: l.Problems[0].Summary()})
			continue
		}
		s.Record(p, true)
		opened[p.RealPath] = true
		out = append(out, diffVerdict{class: vOK})
	}
	return out
}

// diffFigure is the differential suite's result.
type diffFigure struct {
	orders, loads        int
	checkAgree, ldrAgree int
	crashes              int
	expected, wanted     int
	table                string
}

func (f diffFigure) summary() string {
	return fmt.Sprintf("%d load orders, %d plugin loads: pbuild check agrees with plugin.Open on %d/%d; the loader with its replay on %d/%d, %d loader processes crashed; %d/%d scenarios as expected",
		f.orders, f.loads, f.checkAgree, f.loads, f.ldrAgree, f.loads, f.crashes, f.expected, f.wanted)
}

// diffJudge compares every order's verdicts and reports each
// disagreement as an error.
func diffJudge(t *testing.T, out string, scenarios []diffScenario, execs map[string]matrixExecs) diffFigure {
	t.Helper()
	var fig diffFigure
	var table strings.Builder
	table.WriteString("| scenario | orders | `pbuild check`, listed order | `plugin.Open`, listed order | check = plugin.Open | loader = its replay |\n")
	table.WriteString("|---|---|---|---|---|---|\n")
	files := map[string]*abi.File{}
	read := func(name string) *abi.File {
		if f, ok := files[name]; ok {
			return f
		}
		f, err := abi.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		files[name] = f
		return f
	}
	for _, sc := range scenarios {
		scAgree, scLoads, ldrAgree := 0, 0, 0
		var firstCheck, firstRaw []diffVerdict
		for oi, o := range sc.orders() {
			fig.orders++
			e, ok := execs[o.key()]
			if !ok {
				t.Fatalf("no run of %s", o.key())
			}
			var paths []string
			var parsed []*abi.File
			for _, p := range o.plugins {
				paths = append(paths, filepath.Join(out, p))
				parsed = append(parsed, read(p))
			}
			res, err := check.Files(context.Background(), filepath.Join(out, o.host), paths, check.Options{})
			if err != nil {
				t.Errorf("%s: check: %v", o.key(), err)
				continue
			}
			cv, rv := checkVerdicts(res), observed(o.plugins, e.raw)
			lw, lv := loaderReplay(read(o.host), parsed), loaderObserved(o.plugins, e.loader)
			if oi == 0 {
				firstCheck, firstRaw = cv, rv
				diffExpect(t, sc, res, &fig)
			}
			if e.loader.code != 0 {
				fig.crashes++
				t.Errorf("%s: the loader host died (exit %d): %s", o.key(), e.loader.code, crashLine(e.loader.stderr))
			}
			for i, p := range o.plugins {
				fig.loads++
				scLoads++
				if cv[i].class == rv[i].class {
					fig.checkAgree++
					scAgree++
				} else {
					t.Errorf("%s: plugin %d, %s: pbuild check says %s; plugin.Open: %s", o.key(), i+1, p, cv[i], rv[i])
				}
				if lw[i].class == lv[i].class {
					fig.ldrAgree++
					ldrAgree++
				} else {
					t.Errorf("%s: plugin %d, %s: the loader must do %s; it did %s", o.key(), i+1, p, lw[i], lv[i])
				}
			}
		}
		fmt.Fprintf(&table, "| %s | %d | %s | %s | %s | %s |\n", sc.name, len(sc.orders()), verdictCells(sc.plugins, firstCheck),
			verdictCells(sc.plugins, firstRaw), ratio(scAgree, scLoads), ratio(ldrAgree, scLoads))
	}
	fig.table = table.String()
	return fig
}

func ratio(a, b int) string {
	if a == b {
		return fmt.Sprintf("✓ %d/%d", a, b)
	}
	return fmt.Sprintf("✗ %d/%d", a, b)
}

// verdictCells shows the verdicts of an order briefly.
func verdictCells(plugins []string, vs []diffVerdict) string {
	var out []string
	for i, v := range vs {
		out = append(out, plugins[i]+" "+v.class)
	}
	return strings.Join(out, ", ")
}

// diffExpect compares pbuild check's diffVerdict on a scenario's listed order
// with what the scenario wants.
func diffExpect(t *testing.T, sc diffScenario, res *check.Result, fig *diffFigure) {
	t.Helper()
	if sc.want == nil {
		return
	}
	fig.wanted++
	var got []string
	for _, l := range res.Report.Loads {
		switch {
		case l.NeverReached != "":
			got = append(got, vNever)
		case l.Dies:
			got = append(got, vDies)
		case l.OK:
			s := vOK
			var kinds []string
			for _, n := range l.Notes {
				kinds = append(kinds, string(n.Kind))
			}
			sort.Strings(kinds)
			if len(kinds) > 0 {
				s += "+" + strings.Join(kinds, "+")
			}
			got = append(got, s)
		default:
			p := l.Problems[0]
			s := vFail + ":" + string(p.Kind)
			if len(p.Causes) > 0 {
				s += "/" + string(p.Causes[0].Kind)
			}
			got = append(got, s)
		}
	}
	for i, w := range sc.want {
		if i >= len(got) || (got[i] != w && !(strings.Count(w, "/") == 0 && strings.HasPrefix(got[i], w+"/"))) {
			var details []string
			for _, l := range res.Report.Loads {
				for _, p := range l.Problems {
					details = append(details, p.Summary())
				}
			}
			t.Errorf("%s: pbuild check says %v, want %v\n\t%s", sc.name, got, sc.want, strings.Join(details, "\n\t"))
			return
		}
	}
	fig.expected++
}
