// Command bench measures pbuild against native go build and against one
// container per plugin, on generated projects of N plugins, and writes the
// table to bench/RESULTS.md. See bench/README.md.
//
//	go run ./bench [-n 1,8,32] [-runs 3] [-out bench/RESULTS.md]
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const pinnedGo = "1.24.4"

type options struct {
	ns            []int
	runs          int
	out           string
	backends      []string
	pbuild        string
	coldRuns      int
	containerMaxN int
	containerRuns int
	buildkitReset string
	bkColdMaxN    int
	budget        time.Duration
	keep          bool
	verbose       bool
	timeout       time.Duration
	command       string
}

func main() {
	var o options
	var ns, backends string
	flag.StringVar(&ns, "n", "1,8,32", "plugin counts to generate projects for")
	flag.IntVar(&o.runs, "runs", 3, "repetitions of the warm no-op and one-plugin-edited scenarios; the table shows medians")
	flag.IntVar(&o.coldRuns, "cold-runs", 1, "repetitions of the cold scenarios (and of native into an empty output dir)")
	flag.StringVar(&o.out, "out", "bench/RESULTS.md", "where to write the results (empty: only print)")
	flag.StringVar(&backends, "backends", "docker,buildkit", "pbuild backends to measure; one without support in the CLI is reported as not available")
	flag.StringVar(&o.pbuild, "pbuild", "", "pbuild binary (default: built from ./cmd/pbuild into the temp dir)")
	flag.IntVar(&o.containerMaxN, "container-max-n", 1, "largest N the one-container-per-plugin way is measured for (it costs N fresh builds per run); larger N are extrapolated from the largest measured")
	flag.IntVar(&o.containerRuns, "container-runs", 1, "repetitions of the one-container-per-plugin way")
	flag.StringVar(&o.buildkitReset, "buildkit-reset", goBuildCacheReset, "what empties BuildKit's cache before a cold BuildKit build: "+goBuildCacheReset+" (the engine's BuildKit through its API, all but the module cache mount), or a shell command, e.g. 'buildctl prune --all' for a buildkitd of your own")
	flag.DurationVar(&o.budget, "budget", 25*time.Minute, "time the whole run should take: repetitions beyond the first are skipped when the next one would not fit the share of an N (0: no limit)")
	flag.IntVar(&o.bkColdMaxN, "buildkit-cold-max-n", 32, "largest N a cold BuildKit build is measured for; larger N are extrapolated")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (for debugging)")
	flag.BoolVar(&o.verbose, "v", false, "log every command")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "limit of one command")
	flag.Parse()
	for _, s := range strings.Split(ns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench: -n: bad plugin count %q\n", s)
			os.Exit(2)
		}
		o.ns = append(o.ns, n)
	}
	sort.Ints(o.ns)
	for _, b := range strings.Split(backends, ",") {
		if b = strings.TrimSpace(b); b != "" {
			o.backends = append(o.backends, b)
		}
	}
	if o.runs < 1 || o.coldRuns < 1 || o.containerRuns < 1 {
		fmt.Fprintln(os.Stderr, "bench: -runs, -cold-runs and -container-runs must be at least 1")
		os.Exit(2)
	}
	o.command = "go run ./bench " + strings.Join(os.Args[1:], " ")
	if len(os.Args) == 1 {
		o.command = "go run ./bench"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		if errors.Is(err, context.Canceled) {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

// bench is the state of one benchmark run.
type bench struct {
	opts    options
	r       *runner
	tmp     string
	repo    string
	goBin   string // the pinned go
	pbuild  string // the pbuild binary
	pbuildV string
	image   string // the toolchain image
	// backends: name -> the --backend value to pass ("" when the CLI has
	// no such flag); unavailable: name -> why.
	backends    map[string]string
	unavailable map[string]string
	primed      map[string]bool
	machine     machine
	results     []*result
	edits       []*editCheck
	stepsOf     map[string][]steps // "docker/warm/8" -> steps of every run
	startup     []float64          // no-op container runs
	sizes       map[int]int64      // vendored source size by N
	load        *loadSampler
	started     time.Time
	notes       []string
	failures    []string // backends that failed at some N
}

func run(ctx context.Context, o options) error {
	b := &bench{opts: o, backends: map[string]string{}, unavailable: map[string]string{}, primed: map[string]bool{}, stepsOf: map[string][]steps{}, sizes: map[int]int64{}, started: time.Now()}
	id := make([]byte, 4)
	rand.Read(id)
	b.load = startLoadSampler()
	defer b.load.close()
	b.r = &runner{ctx: ctx, log: os.Stderr, verbose: o.verbose, runID: hex.EncodeToString(id), timeout: o.timeout}
	var err error
	if b.repo, err = os.Getwd(); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(b.repo, "cmd", "pbuild")); err != nil {
		return fmt.Errorf("run from the root of the pbuild repository (no cmd/pbuild here)")
	}
	if b.tmp, err = os.MkdirTemp("", "pbuild-bench-*"); err != nil {
		return err
	}
	defer func() {
		removeContainers(b.r.runID)
		if o.keep {
			b.r.logf("kept %s", b.tmp)
			return
		}
		os.RemoveAll(b.tmp)
	}()
	b.r.logDir = filepath.Join(b.tmp, "logs")
	if err := b.setup(); err != nil {
		return err
	}
	for i, n := range o.ns {
		if err := b.measure(n, len(o.ns)-i); err != nil {
			return err
		}
	}
	b.machine.LoadEnd = loadAvg()
	elapsed := time.Since(b.started)
	report := b.report(elapsed)
	fmt.Print(report.table)
	fmt.Printf("\nwhole run: %s\n", elapsed.Round(time.Second))
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(report.markdown), 0o644); err != nil {
			return err
		}
		b.r.logf("wrote %s", o.out)
	}
	return nil
}

// setup finds the pinned go, builds pbuild, checks the backends and
// describes the machine.
func (b *bench) setup() error {
	r := b.r
	res, err := r.run(b.repo, []string{"GOTOOLCHAIN=go" + pinnedGo}, "go", "env", "GOROOT")
	if err != nil {
		return fmt.Errorf("the pinned go%s (GOTOOLCHAIN=go%s): %w", pinnedGo, pinnedGo, err)
	}
	b.goBin = filepath.Join(strings.TrimSpace(res.Stdout), "bin", "go")
	if res, err = r.run(b.repo, []string{"GOTOOLCHAIN=local"}, b.goBin, "version"); err != nil || !strings.Contains(res.Stdout, "go"+pinnedGo+" ") {
		return fmt.Errorf("%s is not go%s: %s %v", b.goBin, pinnedGo, res.Stdout, err)
	}
	b.pbuild = b.opts.pbuild
	if b.pbuild == "" {
		b.pbuild = filepath.Join(b.tmp, "pbuild")
		r.logf("building pbuild from ./cmd/pbuild")
		if _, err := r.run(b.repo, nil, "go", "build", "-o", b.pbuild, "./cmd/pbuild"); err != nil {
			fallback := filepath.Join(b.repo, "bin", "pbuild")
			if _, serr := os.Stat(fallback); serr != nil {
				return err
			}
			r.logf("cannot build ./cmd/pbuild, using %s: %v", fallback, err)
			b.notes = append(b.notes, "./cmd/pbuild did not build at the time of the run; bin/pbuild was used")
			b.pbuild = fallback
		}
	}
	if b.pbuild, err = filepath.Abs(b.pbuild); err != nil {
		return err
	}
	if res, err := r.run("", nil, b.pbuild, "version"); err == nil {
		b.pbuildV = strings.TrimSpace(res.Stdout)
	}
	hasFlag, err := r.pbuildHasBackendFlag(b.pbuild)
	if err != nil {
		return err
	}
	for _, name := range b.opts.backends {
		switch {
		case hasFlag:
			b.backends[name] = name
		case name == "docker":
			b.backends[name] = "" // the only backend
		default:
			b.unavailable[name] = "not available: `pbuild build` has no --backend flag"
		}
	}
	b.machine = describeMachine(b.tmp)
	b.machine.GoPinned = "go" + pinnedGo + " (" + b.goBin + ")"
	b.machine.Pbuild = b.pbuildV
	return nil
}

// result is one scenario at one N.
type result struct {
	Scenario string
	N        int
	Times    []float64
	Skipped  string // why there are no times
	PerItem  map[string][]float64
}

// editCheck is what an edit to one plugin rebuilt.
type editCheck struct {
	Who       string // native, docker, buildkit
	N         int
	Edited    string
	Changed   [][]string // the plugins whose file changed, per run
	Rewritten [][]string // native: the files written again, per run
	// Recompiled are the project's packages the edit build compiled
	// (objects it added to the build cache holding their files), and Other
	// how many other objects it added, per run; nil when not observable.
	Recompiled [][]string
	Other      []int
	Artifacts  map[string][]float64 // each artifact's time, per run
	// Linked are the artifacts pbuild linked (not kept as up to date),
	// per run in which it said so.
	Linked [][]string
}

func (b *bench) add(scenario string, n int) *result {
	res := &result{Scenario: scenario, N: n, PerItem: map[string][]float64{}}
	b.results = append(b.results, res)
	return res
}

// nativeState is the native scenarios at one N.
type nativeState struct {
	p                          *project
	dir, cache, out, gowork    string
	cold, warm, relink, edited *result
	edit                       *editCheck
}

// pbuildState is one backend's scenarios at one N.
type pbuildState struct {
	name, flag         string
	failed             bool
	p                  *project
	cold, warm, edited *result
	edit               *editCheck
}

// measure runs every scenario for N plugins: the repetitions interleave
// native and pbuild, so both sides of a ratio run minutes apart.
func (b *bench) measure(n int, nLeft int) error {
	r := b.r
	startN := time.Now()
	dir := filepath.Join(b.tmp, fmt.Sprintf("n%d", n))
	p, err := generate(filepath.Join(dir, "proj"), n)
	if err != nil {
		return err
	}
	r.logf("N=%d: generated %s; resolving modules (go.sum, module cache)", n, p.Dir)
	setupCache := filepath.Join(b.tmp, "gocache-setup")
	if err := r.prepareModules(b.goBin, setupCache, p); err != nil {
		return err
	}
	// Native and every backend build copies of their own, so that one
	// side's edit never turns the other's next warm build into a rebuild.
	own := func(side string) (*project, error) {
		cp := *p
		cp.Dir = filepath.Join(dir, side, "proj")
		return &cp, copyTree(p.Dir, cp.Dir)
	}
	np, err := own("native")
	if err != nil {
		return err
	}
	nat := &nativeState{p: np, dir: dir, cache: filepath.Join(dir, "native", "gocache"), out: filepath.Join(dir, "native", "dist"), gowork: filepath.Join(dir, "native", "go.work")}
	os.MkdirAll(filepath.Dir(nat.gowork), 0o755)
	if err := writeGoWork(nat.gowork, np, true); err != nil {
		return err
	}
	vendored := filepath.Join(dir, "vendored")
	if err := r.vendoredCopy(b.goBin, setupCache, p, vendored); err != nil {
		return err
	}
	b.sizes[n] = dirSize(vendored)
	nat.cold, nat.warm, nat.relink, nat.edited = b.add("native/cold", n), b.add("native/warm", n), b.add("native/relink", n), b.add("native/edit", n)
	nat.edit = &editCheck{Who: "native", N: n, Edited: p.Edited, Artifacts: map[string][]float64{}}
	b.edits = append(b.edits, nat.edit)

	var pbs []*pbuildState
	for _, name := range b.opts.backends {
		if why, ok := b.unavailable[name]; ok {
			for _, s := range []string{"cold", "warm", "edit"} {
				b.add(name+"/"+s, n).Skipped = why
			}
			continue
		}
		bp, err := own(name)
		if err != nil {
			return err
		}
		ps := &pbuildState{name: name, flag: b.backends[name], p: bp}
		ps.cold, ps.warm, ps.edited = b.add(name+"/cold", n), b.add(name+"/warm", n), b.add(name+"/edit", n)
		ps.edit = &editCheck{Who: name, N: n, Edited: p.Edited, Artifacts: map[string][]float64{}}
		b.edits = append(b.edits, ps.edit)
		pbs = append(pbs, ps)
	}

	reps := max(b.opts.runs, b.opts.coldRuns)
	var next time.Duration // what the next repetition is expected to take
	for i := 0; i < reps; i++ {
		if i > 0 && b.opts.budget > 0 {
			share := (b.opts.budget - time.Since(b.started) + time.Since(startN)) / time.Duration(nLeft)
			if time.Since(startN)+next > share {
				note := fmt.Sprintf("N=%d: %d of %d runs, to stay within -budget %s", n, i, reps, b.opts.budget)
				r.logf("%s", note)
				b.notes = append(b.notes, note)
				break
			}
		}
		next = 0
		t, err := b.nativeRep(nat, i)
		if err != nil {
			return err
		}
		next += t
		for _, ps := range pbs {
			if ps.failed {
				continue
			}
			t, err := b.pbuildRep(ps, i)
			if err == nil {
				next += t
				continue
			}
			if errors.Is(err, context.Canceled) || (ps.name == "docker" && !b.primed[ps.name]) {
				return err
			}
			// A backend that fails loses this N's rows, not the run.
			why := "failed: " + failureReason(err)
			r.logf("N=%d: pbuild on %s %s", n, ps.name, why)
			ps.failed = true
			b.failures = append(b.failures, fmt.Sprintf("pbuild on %s at N=%d %s", ps.name, n, why))
			for _, res := range []*result{ps.cold, ps.warm, ps.edited} {
				res.Times, res.Skipped = nil, why
			}
			for _, s := range []string{"cold", "warm", "edit"} {
				delete(b.stepsOf, fmt.Sprintf("%s/%s/%d", ps.name, s, n))
			}
			ps.edit.Changed = nil
		}
	}

	// one container per plugin
	pc := b.add("container", n)
	if b.image == "" {
		if b.image, err = r.toolchainImage(pinnedGo); err != nil {
			return err
		}
	}
	if len(b.startup) == 0 {
		for i := 0; i < 5; i++ {
			t, err := r.containerStart(b.image)
			if err != nil {
				return err
			}
			b.startup = append(b.startup, t)
		}
	}
	if n > b.opts.containerMaxN {
		pc.Skipped = fmt.Sprintf("not run (N > -container-max-n=%d)", b.opts.containerMaxN)
		return nil
	}
	for i := 0; i < b.opts.containerRuns; i++ {
		r.logf("N=%d run %d/%d: one container per plugin, fresh caches (%d containers)", n, i+1, b.opts.containerRuns, n)
		total, per, err := r.perContainer(b.image, vendored, filepath.Join(dir, "percontainer"), p)
		if err != nil {
			return err
		}
		pc.Times = append(pc.Times, total)
		for k, v := range per {
			pc.PerItem[k] = append(pc.PerItem[k], v)
		}
	}
	return nil
}

// nativeRep is repetition i of the native scenarios.
func (b *bench) nativeRep(s *nativeState, i int) (time.Duration, error) {
	start, coldDur := time.Now(), time.Duration(0)
	r, p := b.r, s.p
	r.logf("N=%d run %d: native go build", p.N, i+1)
	build := func(out string) (float64, map[string]float64, error) {
		var per map[string]float64
		t, err := b.timed(func() error {
			var err error
			per, err = r.nativeBuild(b.goBin, s.cache, s.gowork, p, out)
			return err
		})
		return t, per, err
	}
	if i < b.opts.coldRuns {
		c0 := time.Now()
		os.RemoveAll(s.cache)
		os.RemoveAll(s.out)
		t, _, err := build(s.out)
		if err != nil {
			return 0, err
		}
		s.cold.Times = append(s.cold.Times, t)
		coldDur += time.Since(c0)
	}
	if i < b.opts.runs {
		t, _, err := build(s.out)
		if err != nil {
			return 0, err
		}
		s.warm.Times = append(s.warm.Times, t)
	}
	if i < b.opts.coldRuns {
		c0 := time.Now()
		fresh := filepath.Join(s.dir, "native", "fresh")
		os.RemoveAll(fresh)
		t, _, err := build(fresh)
		os.RemoveAll(fresh)
		if err != nil {
			return 0, err
		}
		s.relink.Times = append(s.relink.Times, t)
		coldDur += time.Since(c0)
	}
	if i >= b.opts.runs {
		return b.repeatable(i, start, coldDur), nil
	}
	plugins := filepath.Join(s.out, "plugins")
	before, err := hashPlugins(plugins)
	if err != nil {
		return 0, err
	}
	ids := fileIDs(s.out)
	objects := cacheObjects(s.cache)
	if err := p.edit(fmt.Sprintf("native-%d", i)); err != nil {
		return 0, err
	}
	t, per, err := build(s.out)
	if err != nil {
		return 0, err
	}
	s.edited.Times = append(s.edited.Times, t)
	after, err := hashPlugins(plugins)
	if err != nil {
		return 0, err
	}
	e := s.edit
	e.Changed = append(e.Changed, changed(before, after))
	e.Rewritten = append(e.Rewritten, rewritten(ids, fileIDs(s.out)))
	pkgs, other := attributeFiles(newObjects(objects, cacheObjects(s.cache)))
	e.Recompiled, e.Other = append(e.Recompiled, pkgs), append(e.Other, other)
	for k, v := range per {
		e.Artifacts[k] = append(e.Artifacts[k], v)
	}
	return b.repeatable(i, start, coldDur), nil
}

// pbuildRep is repetition i of one backend's scenarios.
func (b *bench) pbuildRep(s *pbuildState, i int) (time.Duration, error) {
	start, coldDur := time.Now(), time.Duration(0)
	r, p, n, name := b.r, s.p, s.p.N, s.name
	if !b.primed[name] {
		r.logf("N=%d: pbuild on %s, first build (untimed: fills the module cache)", n, name)
		first, err := r.pbuildBuild(b.pbuild, s.flag, p, name+"-first")
		if err != nil {
			return 0, err
		}
		if b.image == "" && first.Image != "" {
			b.image = first.Image
		}
		b.primed[name] = true
		start = time.Now()
	}
	r.logf("N=%d run %d: pbuild on %s", n, i+1, name)
	key := func(sc string) string { return fmt.Sprintf("%s/%s/%d", name, sc, n) }
	if i < b.opts.coldRuns && name == "buildkit" && n > b.opts.bkColdMaxN {
		s.cold.Skipped = fmt.Sprintf("not run (N > -buildkit-cold-max-n=%d)", b.opts.bkColdMaxN)
		if i == 0 {
			// The warm build needs one build of this project before it.
			r.logf("N=%d: pbuild on %s, first build of this project (untimed)", n, name)
			if _, err := r.pbuildBuild(b.pbuild, s.flag, p, name+"-settle"); err != nil {
				return 0, err
			}
			start = time.Now()
		}
	} else if i < b.opts.coldRuns {
		c0 := time.Now()
		// Each backend empties only its own Go build cache, so that the
		// other's next warm build stays warm.
		if name == "buildkit" {
			switch reset := b.opts.buildkitReset; reset {
			case "":
			case goBuildCacheReset:
				ctx, cancel := context.WithTimeout(r.ctx, r.timeout)
				pruned, err := pruneGoBuildCache(ctx)
				cancel()
				if err != nil {
					return 0, err
				}
				r.logf("N=%d: emptied BuildKit's cache but for the module cache mount (%d records)", n, pruned)
			default:
				if _, err := r.run("", nil, "sh", "-c", reset); err != nil {
					return 0, err
				}
			}
		} else if err := r.removeCacheVolume(); err != nil {
			return 0, err
		}
		// Cold is a fresh checkout too: no earlier output for pbuild to
		// find up to date or to keep artifacts from.
		if err := os.RemoveAll(filepath.Join(p.Dir, "dist")); err != nil {
			return 0, err
		}
		run, err := r.pbuildBuild(b.pbuild, s.flag, p, fmt.Sprintf("%s-cold-%d", name, i))
		if err != nil {
			return 0, err
		}
		if run.UpToDate {
			return 0, fmt.Errorf("N=%d: pbuild on %s found a cold build's output up to date", n, name)
		}
		s.cold.Times = append(s.cold.Times, run.Total)
		b.stepsOf[key("cold")] = append(b.stepsOf[key("cold")], run.Steps)
		coldDur += time.Since(c0)
	}
	if i >= b.opts.runs {
		return b.repeatable(i, start, coldDur), nil
	}
	run, err := r.pbuildBuild(b.pbuild, s.flag, p, fmt.Sprintf("%s-warm-%d", name, i))
	if err != nil {
		return 0, err
	}
	s.warm.Times = append(s.warm.Times, run.Total)
	b.stepsOf[key("warm")] = append(b.stepsOf[key("warm")], run.Steps)
	dist := filepath.Join(p.Dir, "dist", "plugins")
	before, err := hashPlugins(dist)
	if err != nil {
		return 0, err
	}
	// The Docker backend's build cache is a volume the harness can list;
	// BuildKit's is a cache mount it cannot.
	var objects map[string]string
	if s.flag == "" || name == "docker" {
		objects = r.volumeObjects(b.image)
	}
	if err := p.edit(fmt.Sprintf("%s-%d", name, i)); err != nil {
		return 0, err
	}
	if run, err = r.pbuildBuild(b.pbuild, s.flag, p, fmt.Sprintf("%s-edit-%d", name, i)); err != nil {
		return 0, err
	}
	if run.UpToDate {
		return 0, fmt.Errorf("N=%d: pbuild on %s found the output up to date after an edit", n, name)
	}
	s.edited.Times = append(s.edited.Times, run.Total)
	b.stepsOf[key("edit")] = append(b.stepsOf[key("edit")], run.Steps)
	after, err := hashPlugins(dist)
	if err != nil {
		return 0, err
	}
	e := s.edit
	e.Changed = append(e.Changed, changed(before, after))
	if objects != nil {
		if after := r.volumeObjects(b.image); after != nil {
			pkgs, other, err := r.attributeVolume(b.image, newObjects(objects, after))
			if err != nil {
				return 0, err
			}
			e.Recompiled, e.Other = append(e.Recompiled, pkgs), append(e.Other, other)
		}
	}
	for k, v := range run.Artifacts {
		e.Artifacts[k] = append(e.Artifacts[k], v)
	}
	if run.Linked != nil {
		e.Linked = append(e.Linked, run.Linked)
	}
	return b.repeatable(i, start, coldDur), nil
}

// repeatable is what of repetition i the next one repeats: all of it when
// it is also cold, else all but the cold scenarios.
func (b *bench) repeatable(i int, start time.Time, cold time.Duration) time.Duration {
	if i+1 < b.opts.coldRuns {
		return time.Since(start)
	}
	return time.Since(start) - cold
}

func (b *bench) timed(f func() error) (float64, error) {
	start := time.Now()
	err := f()
	return time.Since(start).Seconds(), err
}

// failureReason is what pbuild said went wrong: its "pbuild: ..." line and
// the line after it, else the error's first line.
func failureReason(err error) string {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "pbuild: ") {
			why := strings.TrimSpace(l)
			if i+1 < len(lines) && !strings.HasPrefix(lines[i+1], "hint:") && strings.TrimSpace(lines[i+1]) != "" {
				why += " " + strings.TrimSpace(lines[i+1])
			}
			if len(why) > 300 {
				why = why[:300] + "..."
			}
			return why
		}
	}
	return firstLine(err.Error())
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
