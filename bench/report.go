package main

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Targets from the issue.
const (
	targetCold      = 1.2 // pbuild cold / native cold
	targetWarm      = 1.3 // pbuild warm no-op / native warm no-op
	targetContainer = 0.4 // pbuild (8 plugins) / one container per plugin
	targetFlat      = 1.25
)

var labels = map[string]string{
	"native/cold":   "native `go build`, cold cache",
	"native/warm":   "native `go build`, warm, no change",
	"native/relink": "native `go build`, warm, empty output dir",
	"native/edit":   "native `go build`, one plugin edited",
	"container":     "one container per plugin, fresh caches",
}

func label(s string) string {
	if l, ok := labels[s]; ok {
		return l
	}
	backend, what, _ := strings.Cut(s, "/")
	name := map[string]string{"docker": "Docker", "buildkit": "BuildKit"}[backend]
	if name == "" {
		name = backend
	}
	return fmt.Sprintf("pbuild (%s), %s", name, map[string]string{"cold": "cold cache", "warm": "warm, no change", "edit": "one plugin edited"}[what])
}

type report struct{ table, markdown string }

func (b *bench) find(scenario string, n int) *result {
	for _, r := range b.results {
		if r.Scenario == scenario && r.N == n {
			return r
		}
	}
	return nil
}

func (b *bench) med(scenario string, n int) (float64, bool) {
	r := b.find(scenario, n)
	if r == nil || len(r.Times) == 0 {
		return 0, false
	}
	return median(r.Times), true
}

// containerEstimate is the one-container-per-plugin time for n plugins:
// measured, or extrapolated from the median time of one plugin's container
// at the largest N measured.
func (b *bench) containerEstimate(n int) (float64, bool, bool) {
	if t, ok := b.med("container", n); ok {
		return t, true, false
	}
	best := 0
	for _, r := range b.results {
		if r.Scenario == "container" && len(r.Times) > 0 && r.N > best {
			best = r.N
		}
	}
	if best == 0 {
		return 0, false, false
	}
	t, _ := b.med("container", best)
	return t / float64(best) * float64(n), true, true
}

// editResult is the verdict on an edit to one plugin.
type editResult struct {
	e          *editCheck
	files      bool // every other plugin's file byte-identical, in every run
	observed   bool // the build cache was observed
	recompiled bool // only the edited plugin's package was compiled (or not observed)
	relinked   bool // the other artifacts were linked again
	known      bool // relinked is known
}

func (r editResult) state() string {
	switch {
	case !r.files || !r.recompiled:
		return "missed"
	case r.known && r.relinked:
		return "partly"
	}
	return "met"
}

// editOK judges the edit scenario of who at n.
func (b *bench) editOK(who string, n int) (editResult, bool) {
	for _, e := range b.edits {
		if e.Who != who || e.N != n || len(e.Changed) == 0 {
			continue
		}
		res := editResult{e: e, files: true, recompiled: true, observed: len(e.Recompiled) == len(e.Changed)}
		for _, c := range e.Changed {
			if len(c) != 1 || c[0] != e.Edited {
				res.files = false
			}
		}
		if res.observed {
			for _, pkgs := range e.Recompiled {
				if len(pkgs) != 1 || pkgs[0] != "plugins/"+e.Edited {
					res.recompiled = false
				}
			}
		}
		if who == "native" {
			res.known = len(e.Rewritten) > 0
			for _, w := range e.Rewritten {
				if len(w) != 1 || w[0] != e.Edited {
					res.relinked = true
				}
			}
		} else if len(e.Linked) > 0 {
			// pbuild said what it linked.
			res.known = true
			for _, l := range e.Linked {
				if len(l) != 1 || l[0] != e.Edited {
					res.relinked = true
				}
			}
		} else if edited, others := e.times(); edited > 0 && len(others) > 0 {
			res.known = true
			res.relinked = median(others) > math.Max(1, 0.25*edited)
		}
		return res, true
	}
	return editResult{}, false
}

// compiledSummary says what the edit builds compiled, per run.
func (e *editCheck) compiledSummary() string {
	var runs []string
	for i, pkgs := range e.Recompiled {
		s := "nothing of the project"
		if len(pkgs) > 0 {
			s = strings.Join(pkgs, "+")
		}
		if i < len(e.Other) && e.Other[i] > 0 {
			s += fmt.Sprintf(" (+%d other objects)", e.Other[i])
		}
		runs = append(runs, s)
	}
	return strings.Join(runs, ", ")
}

// times are the edited artifact's median time and the others' medians.
func (e *editCheck) times() (float64, []float64) {
	var others []float64
	for name, ts := range e.Artifacts {
		if name != e.Edited {
			others = append(others, median(ts))
		}
	}
	sort.Float64s(others)
	if ts, ok := e.Artifacts[e.Edited]; ok {
		return median(ts), others
	}
	return 0, others
}

func (e *editCheck) detail() string {
	var runs []string
	for _, c := range e.Changed {
		if len(c) == 0 {
			runs = append(runs, "none")
		} else {
			runs = append(runs, strings.Join(c, "+"))
		}
	}
	s := fmt.Sprintf("files changed per run: %s", strings.Join(runs, ", "))
	edited, others := e.times()
	if edited > 0 {
		s += fmt.Sprintf("; %s took %.1f s", e.Edited, edited)
		if len(others) > 0 {
			s += fmt.Sprintf(", the host and the other plugins %.1f s median, %.1f s max", median(others), others[len(others)-1])
		}
	}
	return s
}

func (b *bench) scenarios() []string {
	s := []string{"native/cold", "native/warm", "native/relink", "native/edit"}
	for _, be := range b.opts.backends {
		s = append(s, be+"/cold", be+"/warm", be+"/edit")
	}
	return append(s, "container")
}

// mainTable is the scenario x N table.
func (b *bench) mainTable() string {
	var t strings.Builder
	t.WriteString("| scenario | N | median s | min–max s | compared with | ratio | target | met |\n|---|---:|---:|---:|---|---:|---|---|\n")
	for _, n := range b.opts.ns {
		for _, s := range b.scenarios() {
			r := b.find(s, n)
			if r == nil {
				continue
			}
			row := []string{label(s), itoa(n), "", "", "", "", "", ""}
			if r.Skipped != "" || len(r.Times) == 0 {
				row[2] = r.Skipped
				if s == "container" {
					if est, ok, extra := b.containerEstimate(n); ok && extra {
						row[2] = fmt.Sprintf("≈%.1f (extrapolated; %s)", est, r.Skipped)
						if d, ok := b.med("docker/cold", n); ok {
							row[4], row[5] = "pbuild (Docker) cold ÷ this", fmt.Sprintf("≈%.2fx", d/est)
						}
					}
				} else if strings.HasPrefix(r.Skipped, "not run") {
					if est, ok := b.extrapolate(s, n); ok {
						row[2] = fmt.Sprintf("≈%.1f (extrapolated; %s)", est, r.Skipped)
						_, what, _ := strings.Cut(s, "/")
						if base, ok := b.med("native/"+what, n); ok {
							row[4], row[5] = "native "+what, fmt.Sprintf("≈%.2fx", est/base)
						}
					}
				}
				if row[2] == "" {
					row[2] = "no data"
				}
				t.WriteString("| " + strings.Join(row, " | ") + " |\n")
				continue
			}
			m := median(r.Times)
			lo, hi := minmax(r.Times)
			row[2], row[3] = fmt.Sprintf("%.1f", m), fmt.Sprintf("%.1f–%.1f (%d runs)", lo, hi, len(r.Times))
			backend, what, _ := strings.Cut(s, "/")
			switch {
			case s == "container":
				if d, ok := b.med("docker/cold", n); ok {
					row[4], row[5] = "pbuild (Docker) cold ÷ this", fmt.Sprintf("%.2fx", d/m)
					if n >= 8 {
						row[6], row[7] = fmt.Sprintf("≤ %.1fx", targetContainer), verdict(d/m <= targetContainer)
					}
				}
			case backend == "native":
				if what == "relink" {
					if w, ok := b.med("native/warm", n); ok {
						row[4], row[5] = "native warm", fmt.Sprintf("%.2fx", m/w)
					}
				}
			default:
				if base, ok := b.med("native/"+what, n); ok {
					row[4], row[5] = "native "+what, fmt.Sprintf("%.2fx", m/base)
				}
				switch what {
				case "cold":
					if base, ok := b.med("native/cold", n); ok {
						row[6], row[7] = fmt.Sprintf("≤ %.1fx", targetCold), verdict(m/base <= targetCold)
					}
				case "warm":
					if base, ok := b.med("native/warm", n); ok {
						row[6], row[7] = fmt.Sprintf("≤ %.1fx", targetWarm), verdict(m/base <= targetWarm)
					}
				case "edit":
					row[6] = "only the edited plugin rebuilt"
					if res, ok := b.editOK(backend, n); ok {
						row[7] = map[string]string{"met": "yes", "partly": "**partly**: only it recompiled, the others relinked", "missed": "**no**"}[res.state()]
					}
				}
			}
			t.WriteString("| " + strings.Join(row, " | ") + " |\n")
		}
	}
	return t.String()
}

func verdict(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// measuredNs are the N a scenario has times for.
func (b *bench) measuredNs(scenario string) []int {
	var out []int
	for _, n := range b.opts.ns {
		if _, ok := b.med(scenario, n); ok {
			out = append(out, n)
		}
	}
	return out
}

// extrapolate is a scenario's time at n from the line through its two
// largest measured N.
func (b *bench) extrapolate(scenario string, n int) (float64, bool) {
	ns := b.measuredNs(scenario)
	if len(ns) < 2 {
		return 0, false
	}
	n1, n2 := ns[len(ns)-2], ns[len(ns)-1]
	m, _ := b.marginal(scenario, n1, n2)
	t2, _ := b.med(scenario, n2)
	return t2 + m*float64(n-n2), true
}

// spanMarginal is the cost per extra plugin between the smallest and the
// largest measured N.
func (b *bench) spanMarginal(scenario string) (float64, bool) {
	ns := b.measuredNs(scenario)
	if len(ns) < 2 {
		return 0, false
	}
	return b.marginal(scenario, ns[0], ns[len(ns)-1])
}

// marginal is the cost per extra plugin between two N.
func (b *bench) marginal(s string, n1, n2 int) (float64, bool) {
	t1, ok1 := b.med(s, n1)
	t2, ok2 := b.med(s, n2)
	if !ok1 || !ok2 || n2 <= n1 {
		return 0, false
	}
	return (t2 - t1) / float64(n2-n1), true
}

func medianSteps(ss []steps) steps {
	pick := func(f func(steps) float64) float64 {
		var v []float64
		for _, s := range ss {
			v = append(v, f(s))
		}
		return median(v)
	}
	return steps{
		Toolchain:  pick(func(s steps) float64 { return s.Toolchain }),
		Resolve:    pick(func(s steps) float64 { return s.Resolve }),
		BuildSetup: pick(func(s steps) float64 { return s.BuildSetup }),
		Compile:    pick(func(s steps) float64 { return s.Compile }),
		Collect:    pick(func(s steps) float64 { return s.Collect }),
		Finish:     pick(func(s steps) float64 { return s.Finish }),
		Exit:       pick(func(s steps) float64 { return s.Exit }),
	}
}

func (s steps) fixed() float64 {
	return s.Toolchain + s.Resolve + s.BuildSetup + s.Collect + s.Finish + s.Exit
}

func (b *bench) report(elapsed time.Duration) report {
	table := b.mainTable()
	var md strings.Builder
	m := b.machine
	md.WriteString("# pbuild benchmark results\n\n")
	md.WriteString("Written by `bench/` (see [README.md](README.md) for what each scenario does). ")
	md.WriteString("Re-running the command below overwrites this file.\n\n")
	md.WriteString("## Machine\n\n")
	fmt.Fprintf(&md, "- CPU: %s, %s CPUs (nproc)\n- memory: %s\n- kernel: %s; OS: %s\n", m.CPU, m.CPUs, m.Memory, m.Kernel, m.OS)
	fmt.Fprintf(&md, "- Docker %s, storage driver %s, %s\n- temp dir file system: %s\n", m.Docker, m.StorageDriver, m.Cgroup, m.TempFS)
	fmt.Fprintf(&md, "- pinned Go for every build: %s; the harness ran on %s; %s\n", m.GoPinned, m.GoMachine, m.Pbuild)
	fmt.Fprintf(&md, "- load average at start %s, at end %s; the 1-minute load sampled every 10 s during the run: mean %.1f, max %.1f (this counts the benchmark's own builds: both ways start one go command per artifact, N at once)", m.LoadStart, m.LoadEnd, b.load.mean(), b.load.max())
	if start, err := strconv.ParseFloat(strings.Fields(m.LoadStart + " x")[0], 64); err == nil && start > 1.25*float64(atoi(m.CPUs)) {
		md.WriteString(" — **other work was running when the run started** (the 1-minute load exceeded the CPU count), so absolute times may be inflated and noisy; each ratio compares runs taken minutes apart")
	}
	md.WriteString("\n\n")
	md.WriteString("## Command\n\n")
	fmt.Fprintf(&md, "```sh\n%s\n```\n\n", b.opts.command)
	fmt.Fprintf(&md, "N = %s plugins. Medians of %d runs for the warm no-op and one-plugin-edited scenarios, of %d for the cold ones and native into an empty output dir; the one-container-per-plugin way was measured for N ≤ %d (%d runs) and is extrapolated above (N × the time of one plugin's container); budget %s. The whole run took **%s**.\n\n",
		joinInts(b.opts.ns), b.opts.runs, b.opts.coldRuns, b.opts.containerMaxN, b.opts.containerRuns, budgetText(b.opts.budget), elapsed.Round(time.Second))
	for _, note := range b.notes {
		fmt.Fprintf(&md, "Note: %s.\n\n", note)
	}
	md.WriteString("## Table\n\n")
	md.WriteString("Ratios are pbuild's median over the native median of the same scenario; for the one-container-per-plugin row, pbuild's cold build (host and N plugins) over that way's time (N plugins, no host).\n\n")
	md.WriteString(table)
	md.WriteString("\n")
	md.WriteString(b.stepTable())
	md.WriteString(b.verdicts())
	return report{table: table, markdown: md.String()}
}

// stepTable is where pbuild's time goes, by step, from --progress=plain.
func (b *bench) stepTable() string {
	var t strings.Builder
	t.WriteString("## Where pbuild's time goes\n\n")
	t.WriteString("Medians of each step, from the timestamps of `pbuild build --progress=plain`: *toolchain* is the config, plan and toolchain-image lookup; *resolve* the resolve container (staging copy, `go list -m all`, `go work vendor`, vendor copied back); *build setup* the build container's creation, start and the tar copy of the staged source; *compile+link* from the first artifact started to the last one done; *collect* the copy of the artifacts out and their ELF inspection; *finish* the load check, manifest and rename into place; *exit* what the wall time has beyond the last event. BuildKit reports no per-artifact events in pbuild's own lines, so its *compile+link* is the whole build solve (source transfer, compiles, gathering and export of the artifacts) and its *build setup* and *collect* are 0.\n\n")
	t.WriteString("| backend, scenario | N | toolchain | resolve | build setup | compile+link | collect | finish | exit | total |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	any := false
	for _, be := range b.opts.backends {
		for _, n := range b.opts.ns {
			for _, s := range []string{"cold", "warm", "edit"} {
				ss := b.stepsOf[fmt.Sprintf("%s/%s/%d", be, s, n)]
				if len(ss) == 0 || ss[0] == (steps{}) {
					continue
				}
				any = true
				st := medianSteps(ss)
				tot, _ := b.med(be+"/"+s, n)
				fmt.Fprintf(&t, "| %s %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", be, s, n, st.Toolchain, st.Resolve, st.BuildSetup, st.Compile, st.Collect, st.Finish, st.Exit, tot)
			}
		}
	}
	if !any {
		return ""
	}
	if len(b.startup) > 0 {
		fmt.Fprintf(&t, "\nA no-op container (`docker run --rm --network none <toolchain image> true`) takes %.2f s (median of %d). ", median(b.startup), len(b.startup))
	}
	var sizes []string
	for _, n := range b.opts.ns {
		if sz, ok := b.sizes[n]; ok {
			sizes = append(sizes, fmt.Sprintf("%.1f MB at N=%d", float64(sz)/1e6, n))
		}
	}
	if len(sizes) > 0 {
		fmt.Fprintf(&t, "The vendored source copied into the build container is %s.", strings.Join(sizes, ", "))
	}
	t.WriteString("\n\n")
	return t.String()
}

// verdicts are the per-target verdicts and, for missed ones, what bounds them.
func (b *bench) verdicts() string {
	var v strings.Builder
	v.WriteString("## Targets\n\n")
	backends := b.activeBackends()
	for _, be := range b.opts.backends {
		if why, ok := b.unavailable[be]; ok {
			fmt.Fprintf(&v, "pbuild on %s: %s; its rows say so and it has no verdicts.\n\n", be, why)
		}
	}
	for _, f := range b.failures {
		fmt.Fprintf(&v, "Note: %s; its rows at that N have no times.\n\n", f)
	}
	ratioLine := func(what string, target float64) (string, bool) {
		var parts []string
		all := true
		for _, be := range backends {
			for _, n := range b.opts.ns {
				p, ok1 := b.med(be+"/"+what, n)
				base, ok2 := b.med("native/"+what, n)
				if !ok1 || !ok2 {
					continue
				}
				ok := p/base <= target
				all = all && ok
				parts = append(parts, fmt.Sprintf("%s N=%d %.2fx (%.1f s vs %.1f s) %s", be, n, p/base, p, base, map[bool]string{true: "met", false: "missed"}[ok]))
			}
		}
		return strings.Join(parts, "; "), all && len(parts) > 0
	}

	// warm
	line, ok := ratioLine("warm", targetWarm)
	fmt.Fprintf(&v, "### Warm no-op rebuild ≤ %.1fx native: %s\n\n%s.\n\n", targetWarm, metWord(ok), line)
	if !ok {
		v.WriteString(b.warmBound())
	}
	// cold
	line, ok = ratioLine("cold", targetCold)
	fmt.Fprintf(&v, "### Cold build ≤ %.1fx native: %s\n\n%s.\n\n", targetCold, metWord(ok), line)
	if !ok {
		v.WriteString(b.coldBound())
	}
	// per-container
	v.WriteString(b.containerVerdict())
	// edit
	v.WriteString(b.editVerdict())
	// flat
	v.WriteString(b.flatVerdict())
	return v.String()
}

func metWord(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func (b *bench) warmBound() string {
	var s strings.Builder
	s.WriteString("What bounds it:\n\n")
	for _, be := range b.activeBackends() {
		for _, n := range b.opts.ns {
			ss := b.stepsOf[fmt.Sprintf("%s/warm/%d", be, n)]
			p, ok0 := b.med(be+"/warm", n)
			w, ok1 := b.med("native/warm", n)
			rl, ok2 := b.med("native/relink", n)
			if len(ss) == 0 || !ok0 || !ok1 || !ok2 || p/w <= targetWarm {
				continue
			}
			st := medianSteps(ss)
			fmt.Fprintf(&s, "- %s, N=%d: %.1f s against native's %.1f s. Native's no-op links nothing (`go build` finds every `-o` file up to date). ", be, n, p, w)
			if st.Compile > 0.5*rl {
				fmt.Fprintf(&s, "pbuild's build starts with an empty output directory, so it links the host and its %d plugin(s) again from the build cache: compile+link %.1f s, where native `go build` into an empty directory takes %.1f s (row \"empty output dir\"). ", n, st.Compile, rl)
			} else {
				fmt.Fprintf(&s, "pbuild's compile step was %.1f s (its build was served from cache). ", st.Compile)
			}
			fmt.Fprintf(&s, "Around it, %.1f s of fixed cost that native does not have: toolchain lookup %.1f s, resolve %.1f s, build setup and source copy %.1f s, collect/check/manifest/output %.1f s; the fixed cost alone is %.1fx native's no-op.\n",
				st.fixed(), st.Toolchain, st.Resolve, st.BuildSetup, st.Collect+st.Finish+st.Exit, st.fixed()/w)
		}
	}
	s.WriteString(b.engineNote())
	return s.String()
}

func (b *bench) activeBackends() []string {
	var out []string
	for _, be := range b.opts.backends {
		if _, ok := b.unavailable[be]; !ok {
			out = append(out, be)
		}
	}
	return out
}

func (b *bench) coldBound() string {
	var s strings.Builder
	s.WriteString("What bounds it:\n\n")
	inside := false
	for _, be := range b.activeBackends() {
		for _, n := range b.opts.ns {
			ss := b.stepsOf[fmt.Sprintf("%s/cold/%d", be, n)]
			c, ok := b.med("native/cold", n)
			p, ok2 := b.med(be+"/cold", n)
			if len(ss) == 0 || !ok || !ok2 || p/c <= targetCold {
				continue
			}
			st := medianSteps(ss)
			fmt.Fprintf(&s, "- %s, N=%d: %.1f s against native's %.1f s; the compile+link step alone took %.1f s (%.2fx native's whole build), pbuild's fixed cost %.1f s (toolchain %.1f, resolve %.1f, build setup %.1f, collect/check/output %.1f)",
				be, n, p, c, st.Compile, st.Compile/c, st.fixed(), st.Toolchain, st.Resolve, st.BuildSetup, st.Collect+st.Finish+st.Exit)
			if st.Compile/c > targetCold {
				inside = true
				s.WriteString(": the compile itself is the bound, not pbuild's steps")
			}
			s.WriteString(".\n")
		}
	}
	// BuildKit compiles every artifact in a Run of its own, all at once;
	// from a cold cache each Run compiles the standard library for
	// -buildmode=plugin itself, so its cost grows with N much faster than
	// the Docker backend's, which builds the host and the first plugin
	// first.
	if bk, ok := b.spanMarginal("buildkit/cold"); ok {
		if dk, ok := b.spanMarginal("docker/cold"); ok && bk > 3*math.Max(dk, 0.5) {
			fmt.Fprintf(&s, "\nBuildKit's cold build costs %.1f s per extra plugin against the Docker backend's %.1f s: it starts one Run per artifact, all at once, and from an empty cache every Run compiles the standard library and the dependencies for `-buildmode=plugin` itself (the Go build cache is shared, but concurrent go commands do not wait for each other's compiles); the Docker backend builds the host and the first plugin before the others so that the rest find them in the cache.\n", bk, dk)
		}
	}
	if inside {
		s.WriteString("\nThe same go command compiles the same packages with the same flags in both; inside the container the source (`/src`) and the output (`/out`) are on the container's root file system, which this engine's storage driver provides, while native's are on the host's file system (the go command's work directory `/tmp` is a tmpfs in the container, and the build cache a volume or cache mount). With a single cold run per N, CPU contention from other work on the machine (see the load above) weighs on each side differently; `-cold-runs 3` gives medians.\n")
	}
	s.WriteString(b.engineNote())
	return s.String()
}

func (b *bench) engineNote() string {
	m := b.machine
	note := ""
	if len(b.startup) > 0 {
		note += fmt.Sprintf("Each container pbuild runs costs at least %.2f s to create, start and remove here (a no-op container); a build runs two (resolve and build). ", median(b.startup))
	}
	if m.StorageDriver == "fuse-overlayfs" || m.StorageDriver == "vfs" {
		note += fmt.Sprintf("The engine's storage driver is %s, so every file the containers write on their root file system (the staged source, vendor/, the artifacts; not the build cache volume or the tmpfs at `/tmp`) goes through a slower path than overlay2 on a native kernel mount. ", m.StorageDriver)
	}
	if note == "" {
		return "\n"
	}
	return "\n" + note + "\n\n"
}

func (b *bench) containerVerdict() string {
	var s strings.Builder
	fmt.Fprintf(&s, "### %d plugins ≤ %.1fx one container per plugin: ", 8, targetContainer)
	var parts []string
	verdictSet, all := false, true
	for _, n := range b.opts.ns {
		if n < 8 {
			continue
		}
		d, ok1 := b.med("docker/cold", n)
		c, ok2, extra := b.containerEstimate(n)
		if !ok1 || !ok2 {
			continue
		}
		r := d / c
		mark := ""
		if extra {
			mark = " (per-container time extrapolated)"
		}
		parts = append(parts, fmt.Sprintf("N=%d: pbuild cold %.1f s vs %.1f s = %.2fx%s", n, d, c, r, mark))
		if n == 8 || (!verdictSet && !extra) {
			verdictSet = true
			all = all && r <= targetContainer
		}
		if w, ok := b.med("docker/warm", n); ok {
			parts[len(parts)-1] += fmt.Sprintf(" (warm %.2fx)", w/c)
		}
	}
	if !verdictSet {
		s.WriteString("not measured (needs N ≥ 8 and the one-container-per-plugin way).\n\n")
		return s.String()
	}
	fmt.Fprintf(&s, "%s\n\n%s.\n\n", metWord(all), strings.Join(parts, "; "))
	for _, n := range b.opts.ns {
		if r := b.find("container", n); r != nil && len(r.Times) > 0 {
			var per []float64
			for _, ts := range r.PerItem {
				per = append(per, median(ts))
			}
			fmt.Fprintf(&s, "At N=%d one plugin's fresh container took %.1f s (median): it compiles the standard library and every dependency for `-buildmode=plugin` again, which pbuild does once per build and keeps in its cache volume.\n\n", n, median(per))
			break
		}
	}
	if !all {
		s.WriteString("What bounds it: a pbuild cold build compiles the same standard library and dependencies once, so it wins by about N×; where it misses, the fixed cost in the step table above dominates.\n\n")
	}
	return s.String()
}

func (b *bench) editVerdict() string {
	var s strings.Builder
	overall, any := "met", false
	var lines []string
	relinked := false
	for _, e := range b.edits {
		res, ok := b.editOK(e.Who, e.N)
		if !ok {
			continue
		}
		if e.Who != "native" {
			any = true
			switch st := res.state(); {
			case st == "missed":
				overall = "missed"
			case st == "partly" && overall == "met":
				overall = "partly"
			}
			relinked = relinked || res.relinked
		}
		var what []string
		if res.files {
			what = append(what, "the other plugins' files byte-identical")
		} else {
			what = append(what, "**other plugins' files changed**")
		}
		if res.observed {
			what = append(what, "compiled per run: "+e.compiledSummary())
		} else {
			what = append(what, "build cache not observable")
		}
		switch {
		case !res.known:
			what = append(what, "relinking unknown")
		case res.relinked:
			what = append(what, "**the host and the other plugins relinked**")
		default:
			what = append(what, "nothing else relinked")
		}
		lines = append(lines, fmt.Sprintf("- %s, N=%d (edited %s): %s. %s.", e.Who, e.N, e.Edited, strings.Join(what, "; "), e.detail()))
	}
	if !any {
		return ""
	}
	word := map[string]string{"met": "met", "partly": "**partly met** (only the edited plugin is recompiled, but every artifact is relinked)", "missed": "**missed**"}[overall]
	fmt.Fprintf(&s, "### An edit to one plugin recompiles only that plugin: %s\n\n", word)
	s.WriteString("The edit gives a string constant in the edited plugin's own package a new value. Three checks: every plugin file is hashed before and after (the others must be byte-identical); the outputs (`*-d` files) the edit build adds to the Go build cache (native's own cache; pbuild's `pbuild-gocache` volume, read from a container) are attributed to the project's packages by the source file names compiled into them (under `-trimpath` they read `example.com/bench/plugins/p04/main.go`), and the only package compiled must be the edited plugin's (other objects are counted apart: the standard library or dependencies, or, on pbuild's shared volume, another build on the same engine); and whether the host and the other plugins were linked again (native: whether their files were replaced, as `go build` only touches an up-to-date target; pbuild on Docker: its own report, `kept K of M artifacts as up to date`, which compares the inode of each of the last build's artifacts before and after the go command ran, since a link writes a new file; pbuild on BuildKit: which artifact Runs were not CACHED; only without either, the `done in` times, relinked when the others' median exceeds a quarter of the edited plugin's and 1 s). Times are per artifact and overlap: the artifacts build in parallel.\n\n")
	s.WriteString(strings.Join(lines, "\n"))
	s.WriteString("\n\n")
	if relinked {
		s.WriteString("What bounds it: pbuild recompiles only the edited package (every other package is a hit in the build cache volume, and every other file comes out byte-identical), but Go does not cache linked binaries: where the build did not get the last build's artifacts to keep (see the lines above), the host and every other plugin are linked again, while native `go build` skips them because their `-o` files are up to date. A plugin link holds the runtime and all its dependencies: that is the time the others still take.\n\n")
	}
	return s.String()
}

func (b *bench) flatVerdict() string {
	ns := b.opts.ns
	if len(ns) < 3 {
		return "### Cost per extra plugin flat: not measured (needs three N)\n\n"
	}
	var s strings.Builder
	var heads []string
	for i := 1; i < len(ns); i++ {
		heads = append(heads, fmt.Sprintf("N %d→%d", ns[i-1], ns[i]))
	}
	heads = append(heads, fmt.Sprintf("N %d→%d", ns[0], ns[len(ns)-1]))
	var rows []string
	overall, determined := "met", false
	for _, sc := range b.scenarios() {
		if sc == "container" {
			continue
		}
		var cells []string
		var ms []float64
		for i := 1; i < len(ns); i++ {
			m, ok := b.marginal(sc, ns[i-1], ns[i])
			if !ok {
				cells = append(cells, "–")
				continue
			}
			ms = append(ms, m)
			cells = append(cells, fmt.Sprintf("%.2f", m))
		}
		if m, ok := b.marginal(sc, ns[0], ns[len(ns)-1]); ok {
			cells = append(cells, fmt.Sprintf("%.2f", m))
		} else {
			cells = append(cells, "–")
		}
		flat := ""
		if len(ms) == len(ns)-1 {
			noisy, ok := false, true
			for i, m := range ms {
				if m <= 0 {
					noisy = true
				}
				if i > 0 && m > targetFlat*ms[0] && m-ms[0] > 0.1 {
					ok = false
				}
			}
			pbuild := !strings.HasPrefix(sc, "native/")
			switch {
			case noisy:
				flat = "undetermined (a larger N ran faster: noise)"
			case ok:
				flat = "yes"
				determined = determined || pbuild
			default:
				flat = "**no**"
				if pbuild {
					determined, overall = true, "missed"
				}
			}
		}
		rows = append(rows, fmt.Sprintf("| %s | %s | %s |", label(sc), strings.Join(cells, " | "), flat))
	}
	word := metWord(overall == "met")
	if !determined {
		word = "**undetermined** (the medians are too noisy to tell; more runs or a quieter machine)"
	}
	fmt.Fprintf(&s, "### Cost per extra plugin flat: %s\n\n", word)
	fmt.Fprintf(&s, "Seconds per extra plugin between two N (the difference of the medians over the difference of N); flat when each later step costs at most %.0f%% more per plugin than the first. Only pbuild's rows count for the verdict; native's are for reference (\"empty output dir\" is the floor of pbuild's warm and edit builds: relinking every artifact).\n\n", (targetFlat-1)*100)
	fmt.Fprintf(&s, "| scenario | %s | flat |\n|---|%s---|\n", strings.Join(heads, " | "), strings.Repeat("---:|", len(heads)))
	s.WriteString(strings.Join(rows, "\n"))
	s.WriteString("\n\n")
	if overall != "met" {
		s.WriteString("What bounds it: every plugin adds one link of a shared object holding the runtime and its dependencies (pbuild relinks all of them on every build, see the edit target), one more file copied out of the build, hashed and inspected for the manifest, and one more plugin for the load check; on 2 CPUs the parallel links queue. When the step from the larger N costs more per plugin than the first, that queueing, and memory traffic of many concurrent links, is what grows.\n\n")
	}
	return s.String()
}

// helpers ------------------------------------------------------------------

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64{}, v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minmax(v []float64) (float64, float64) {
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return lo, hi
}

func itoa(n int) string { return strconv.Itoa(n) }

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func ftoa(f float64, prec int) string { return strconv.FormatFloat(f, 'f', prec, 64) }

func joinInts(v []int) string {
	var s []string
	for _, n := range v {
		s = append(s, itoa(n))
	}
	return strings.Join(s, ", ")
}

func budgetText(d time.Duration) string {
	if d <= 0 {
		return "none"
	}
	return d.String()
}
