package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

// runner runs the commands of a benchmark and remembers what it must clean up.
type runner struct {
	ctx     context.Context
	log     io.Writer
	verbose bool
	runID   string // the value of the pbuild-bench label on containers started here
	timeout time.Duration
	logDir  string // where pbuild's output is kept (seen with -keep)
}

// cmdResult is one finished command.
type cmdResult struct {
	Stdout, Stderr string
	Dur            time.Duration
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// run runs a command in dir with env added to the environment and waits for
// it. On interrupt the command gets SIGINT (pbuild then removes its
// containers) and, after a grace period, SIGKILL.
func (r *runner) run(dir string, env []string, name string, args ...string) (cmdResult, error) {
	ctx, cancel := context.WithTimeout(r.ctx, r.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 30 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if r.verbose {
		r.logf("$ %s %s", name, strings.Join(args, " "))
	}
	start := time.Now()
	err := cmd.Run()
	res := cmdResult{Stdout: stdout.String(), Stderr: stderr.String(), Dur: time.Since(start)}
	if err != nil {
		if r.ctx.Err() != nil {
			return res, r.ctx.Err()
		}
		return res, fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, tail(res.Stderr+res.Stdout, 40))
	}
	return res, nil
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// goEnv is the environment of every native go command: the pinned
// toolchain (no switching), a build cache of the benchmark's own, the
// machine's module cache (warm) and the flags pbuild uses.
func goEnv(cache, gowork string) []string {
	return []string{"GOTOOLCHAIN=local", "GOTELEMETRY=off", "GOFLAGS=", "GOCACHE=" + cache, "GOWORK=" + gowork, "CGO_ENABLED=1", "GOENV=off"}
}

// nativeFlags are pbuild's flags for artifacts, without vendoring (a native
// build uses the module cache) and without the ABI key -X flags.
var nativeFlags = []string{"-trimpath", "-buildvcs=false"}

// prepareModules writes every module's go.sum (go list -mod=mod -deps, which
// fetches through GOPROXY into the module cache what is missing) and warms
// the module cache.
func (r *runner) prepareModules(goBin, cache string, p *project) error {
	dirs := p.moduleDirs()
	sem := make(chan struct{}, 4)
	errs := make([]error, len(dirs))
	var wg sync.WaitGroup
	for i, d := range dirs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			env := append(goEnv(cache, "off"), "GOFLAGS=-mod=mod")
			_, errs[i] = r.run(filepath.Join(p.Dir, d), env, goBin, "list", "-mod=mod", "-deps", "./...")
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// writeGoWork writes a go.work over the project's modules: dir/go.work,
// using absolute paths when abs.
func writeGoWork(file string, p *project, abs bool) error {
	var b strings.Builder
	b.WriteString("go 1.24.4\n\nuse (\n")
	for _, d := range p.moduleDirs() {
		if abs {
			fmt.Fprintf(&b, "\t%s\n", filepath.Join(p.Dir, d))
		} else {
			fmt.Fprintf(&b, "\t./%s\n", d)
		}
	}
	b.WriteString(")\n")
	return os.WriteFile(file, []byte(b.String()), 0o644)
}

// nativeBuild builds the host and every plugin with the pinned go on the
// machine, into out, with pbuild's schedule: the host and the first plugin
// side by side, then all the others at once. It returns each artifact's
// duration.
func (r *runner) nativeBuild(goBin, cache, gowork string, p *project, out string) (map[string]float64, error) {
	if err := os.MkdirAll(filepath.Join(out, "plugins"), 0o755); err != nil {
		return nil, err
	}
	type job struct{ name, dir, out string }
	jobs := []job{{"host", filepath.Join(p.Dir, "host"), filepath.Join(out, "host")}}
	for _, name := range p.Plugins {
		jobs = append(jobs, job{name, filepath.Join(p.Dir, "plugins", name), filepath.Join(out, "plugins", name+".so")})
	}
	phases := [][]job{jobs}
	if len(jobs) > 2 {
		phases = [][]job{jobs[:2], jobs[2:]}
	}
	times := map[string]float64{}
	var mu sync.Mutex
	for _, phase := range phases {
		var wg sync.WaitGroup
		errs := make([]error, len(phase))
		for i, j := range phase {
			wg.Add(1)
			go func() {
				defer wg.Done()
				args := append([]string{"build"}, nativeFlags...)
				if j.name != "host" {
					args = append(args, "-buildmode=plugin")
				}
				args = append(args, "-o", j.out, ".")
				res, err := r.run(j.dir, goEnv(cache, gowork), goBin, args...)
				errs[i] = err
				mu.Lock()
				times[j.name] = res.Dur.Seconds()
				mu.Unlock()
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}
	return times, nil
}

// vendoredCopy copies the project's modules to dst with a go.work and runs
// go work vendor there: the source the one-container-per-plugin way builds
// without network.
func (r *runner) vendoredCopy(goBin, cache string, p *project, dst string) error {
	for _, d := range p.moduleDirs() {
		if err := copyTree(filepath.Join(p.Dir, d), filepath.Join(dst, d)); err != nil {
			return err
		}
	}
	gowork := filepath.Join(dst, "go.work")
	if err := writeGoWork(gowork, p, false); err != nil {
		return err
	}
	_, err := r.run(dst, goEnv(cache, gowork), goBin, "work", "vendor")
	return err
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
}

// dirSize is the total size of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// hashPlugins is the sha256 of every plugin file in dir, by plugin name.
func hashPlugins(dir string) (map[string]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.so"))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		out[strings.TrimSuffix(filepath.Base(f), ".so")] = hex.EncodeToString(sum[:])
	}
	return out, nil
}

// changed lists the plugins whose hash differs between before and after.
func changed(before, after map[string]string) []string {
	var out []string
	for name, h := range after {
		if before[name] != h {
			out = append(out, name)
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			out = append(out, name+"(missing)")
		}
	}
	sort.Strings(out)
	return out
}

// pbuild -------------------------------------------------------------------

// pbuildRun is one pbuild build: its wall time, its steps and per-artifact
// times from --progress=rawjson.
type pbuildRun struct {
	Total     float64
	Steps     steps
	Artifacts map[string]float64 // "done in" of each artifact
	Image     string             // the toolchain image it used
	// Linked are the artifacts linked by this build, not kept from the
	// last one; nil when pbuild did not say (then the times tell).
	Linked []string
	// UpToDate is set when pbuild found the output up to date.
	UpToDate bool
}

// steps splits a pbuild build by its progress events.
type steps struct {
	Toolchain  float64 // start to the resolve step (plan, toolchain image lookup)
	Resolve    float64 // the resolve container: staging copy, go list, go work vendor, copy back
	BuildSetup float64 // the build container: create, start, tar copy of the source in
	Compile    float64 // first artifact started to the last one done
	Collect    float64 // copy of the artifacts out, ELF inspection
	Finish     float64 // check, manifest, output rename
	Exit       float64 // what the wall time has beyond the last event
}

var (
	doneRe  = regexp.MustCompile(`^(host|plugin) (\S+) done in ([0-9.]+)s$`)
	startRe = regexp.MustCompile(`^(host|plugin) (\S+)$`)
	imageRe = regexp.MustCompile(`^go\S+ in (\S+) \(`)
	// BuildKit: a vertex per artifact.
	vertexRe = regexp.MustCompile(`^build (?:host|plugin) (\S+)$`)
	// The report of the last build's artifacts that were kept.
	keptRe = regexp.MustCompile(`^kept \d+ of \d+ artifacts as up to date:(.*)$`)
)

// vertex is what pbuild's rawjson progress says of one vertex: one of its
// steps, or a BuildKit Run.
type vertex struct {
	name               string
	started, completed time.Time
	cached             bool
	logs               []logLine
}

type logLine struct {
	at  time.Time
	msg string
}

// parseJSON reads pbuild's --progress=rawjson output: BuildKit's
// SolveStatus stream, pbuild's steps among its vertices.
func parseJSON(out string, total float64) pbuildRun {
	run := pbuildRun{Total: total, Artifacts: map[string]float64{}}
	vs := map[digest.Digest]*vertex{}
	var order []digest.Digest
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var ss client.SolveStatus
		if dec.Decode(&ss) != nil {
			break
		}
		for _, v := range ss.Vertexes {
			x := vs[v.Digest]
			if x == nil {
				x = &vertex{name: v.Name}
				vs[v.Digest] = x
				order = append(order, v.Digest)
			}
			x.cached = x.cached || v.Cached
			if v.Started != nil && x.started.IsZero() {
				x.started = *v.Started
			}
			if v.Completed != nil {
				x.completed = *v.Completed
			}
		}
		for _, l := range ss.Logs {
			if x := vs[l.Vertex]; x != nil {
				for _, line := range strings.Split(strings.TrimSpace(string(l.Data)), "\n") {
					x.logs = append(x.logs, logLine{l.Timestamp, line})
				}
			}
		}
	}
	step := map[string]*vertex{}
	var t0 time.Time
	var kept map[string]bool
	cached := map[string]bool{}
	var firstUnit, lastDone time.Time
	for _, d := range order {
		x := vs[d]
		if t0.IsZero() || (!x.started.IsZero() && x.started.Before(t0)) {
			t0 = x.started
		}
		if v := vertexRe.FindStringSubmatch(x.name); v != nil {
			if !x.completed.IsZero() && !x.started.IsZero() {
				run.Artifacts[v[1]] = x.completed.Sub(x.started).Seconds()
			} else {
				run.Artifacts[v[1]] = 0
			}
			cached[v[1]] = x.cached
			if x.completed.After(lastDone) {
				lastDone = x.completed
			}
			continue
		}
		if _, seen := step[x.name]; !seen {
			step[x.name] = x
		}
		for _, l := range x.logs {
			switch {
			case x.name == "toolchain" && imageRe.MatchString(l.msg):
				run.Image = imageRe.FindStringSubmatch(l.msg)[1]
			case x.name == "up-to-date":
				run.UpToDate = true
			case x.name != "compile":
			case keptRe.MatchString(l.msg):
				kept = map[string]bool{}
				for _, f := range strings.Fields(keptRe.FindStringSubmatch(l.msg)[1]) {
					kept[strings.TrimSuffix(filepath.Base(f), ".so")] = true
				}
			case doneRe.MatchString(l.msg):
				dm := doneRe.FindStringSubmatch(l.msg)
				v, _ := strconv.ParseFloat(dm[3], 64)
				run.Artifacts[dm[2]] = v
				lastDone = l.at
			case startRe.MatchString(l.msg) && firstUnit.IsZero():
				firstUnit = l.at
			}
		}
	}
	switch {
	case kept != nil:
		run.Linked = []string{}
		for name := range run.Artifacts {
			if !kept[name] {
				run.Linked = append(run.Linked, name)
			}
		}
	case len(cached) > 0:
		run.Linked = []string{}
		for name, c := range cached {
			if !c {
				run.Linked = append(run.Linked, name)
			}
		}
	}
	sort.Strings(run.Linked)
	resolve, compile, check, install := step["resolve"], step["compile"], step["check"], step["install"]
	if resolve == nil || compile == nil || check == nil || install == nil {
		return run // an up-to-date build, or a failed one: only the total
	}
	if firstUnit.IsZero() {
		firstUnit = compile.started // BuildKit: the compile is one solve
	}
	if lastDone.IsZero() {
		lastDone = compile.completed
	}
	at := func(t time.Time) float64 { return t.Sub(t0).Seconds() }
	run.Steps = steps{
		Toolchain:  at(resolve.started),
		Resolve:    resolve.completed.Sub(resolve.started).Seconds(),
		BuildSetup: firstUnit.Sub(compile.started).Seconds(),
		Compile:    lastDone.Sub(firstUnit).Seconds(),
		Collect:    check.started.Sub(lastDone).Seconds(),
		Finish:     install.completed.Sub(check.started).Seconds(),
		Exit:       total - at(install.completed),
	}
	return run
}

// pbuildBuild runs pbuild build on the project with the backend (none: the
// CLI has no --backend flag and its only backend is used).
func (r *runner) pbuildBuild(bin, backend string, p *project, tag string) (pbuildRun, error) {
	args := []string{"build", "-f", filepath.Join(p.Dir, "pbuild.yaml"), "--progress=rawjson"}
	if backend != "" {
		args = append(args, "--backend", backend)
	}
	res, err := r.run(p.Dir, []string{"BUILDKIT_PROGRESS="}, bin, args...)
	if r.logDir != "" {
		os.MkdirAll(r.logDir, 0o755)
		os.WriteFile(filepath.Join(r.logDir, fmt.Sprintf("%s-n%d.log", tag, p.N)), []byte(res.Stdout+res.Stderr), 0o644)
	}
	if err != nil {
		return pbuildRun{}, err
	}
	return parseJSON(res.Stderr, res.Dur.Seconds()), nil
}

// pbuildBackends tells which of the wanted backends the CLI has: the
// --backend flag of pbuild build. Without it the CLI has one backend,
// Docker.
func (r *runner) pbuildHasBackendFlag(bin string) (bool, error) {
	res, err := r.run("", nil, bin, "build", "--help")
	if err != nil {
		return false, err
	}
	return regexp.MustCompile(`(?m)^\s+(-\w, )?--backend\b`).MatchString(res.Stdout + res.Stderr), nil
}

// docker -------------------------------------------------------------------

// removeCacheVolume removes pbuild's build cache volume, waiting while
// another build uses it.
func (r *runner) removeCacheVolume() error {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		res, err := r.run("", nil, "docker", "volume", "rm", "pbuild-gocache")
		if err == nil || strings.Contains(res.Stderr, "No such volume") || strings.Contains(res.Stderr, "no such volume") {
			return nil
		}
		if r.ctx.Err() != nil {
			return r.ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cannot remove the volume pbuild-gocache (another build is using it?): %v", err)
		}
		r.logf("pbuild-gocache is in use, waiting: %s", strings.TrimSpace(res.Stderr))
		time.Sleep(5 * time.Second)
	}
}

// toolchainImage is the pbuild toolchain image for the pinned Go.
func (r *runner) toolchainImage(goVersion string) (string, error) {
	res, err := r.run("", nil, "docker", "images", "--filter", "label=org.pbuild.go="+goVersion, "--format", "{{.Repository}}:{{.Tag}}")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(res.Stdout, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasSuffix(line, ":<none>") {
			return line, nil
		}
	}
	return "", fmt.Errorf("no image labelled org.pbuild.go=%s: run pbuild build once", goVersion)
}

// dockerRunArgs are the arguments of a container the benchmark starts:
// labelled, removed when it exits, without network.
func (r *runner) dockerRunArgs() []string {
	return []string{"run", "--rm", "--label", "pbuild-bench=" + r.runID, "--network", "none"}
}

// containerStart is one no-op container run: the floor of every step that
// runs a container.
func (r *runner) containerStart(image string) (float64, error) {
	args := append(r.dockerRunArgs(), image, "true")
	res, err := r.run("", nil, "docker", args...)
	return res.Dur.Seconds(), err
}

// perContainer builds every plugin in a container of its own with a fresh
// build cache (a tmpfs) from the vendored copy, one after the other: the way
// builder images such as Tyk's plugin compiler or KrakenD's builder are
// used. It returns the total and the time of each plugin.
func (r *runner) perContainer(image, vendored, out string, p *project) (float64, map[string]float64, error) {
	os.RemoveAll(out)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return 0, nil, err
	}
	times := map[string]float64{}
	start := time.Now()
	for _, name := range p.Plugins {
		args := append(r.dockerRunArgs(),
			"--user", fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()),
			"--tmpfs", "/tmp:rw,exec,size=8g",
			"-e", "HOME=/tmp", "-e", "GOCACHE=/tmp/gocache", "-e", "GOPATH=/tmp/go", "-e", "GOMODCACHE=/tmp/go/pkg/mod",
			"-e", "GOWORK=/src/go.work", "-e", "GOFLAGS=-mod=vendor", "-e", "GOPROXY=off", "-e", "GOTOOLCHAIN=local", "-e", "CGO_ENABLED=1",
			"-v", vendored+":/src:ro", "-v", out+":/out",
			"-w", "/src/plugins/"+name,
			image, "go", "build", "-buildmode=plugin", "-trimpath", "-buildvcs=false", "-o", "/out/"+name+".so", ".")
		res, err := r.run("", nil, "docker", args...)
		if err != nil {
			return 0, nil, err
		}
		times[name] = res.Dur.Seconds()
	}
	return time.Since(start).Seconds(), times, nil
}

// removeContainers removes every container this run labelled (after an
// interrupt; --rm removes them otherwise).
func removeContainers(runID string) {
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=pbuild-bench="+runID).Output()
	if err != nil {
		return
	}
	ids := strings.Fields(string(out))
	if len(ids) > 0 {
		exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
	}
}

// fileIDs are the files under dir, by path relative to it, to tell a file
// written again (a new inode: go build links to a temporary file and
// renames it) from one left alone (go build only touches an up-to-date
// target's modification time).
func fileIDs(dir string) map[string]os.FileInfo {
	out := map[string]os.FileInfo{}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := os.Stat(path); err == nil {
				rel, _ := filepath.Rel(dir, path)
				out[rel] = fi
			}
		}
		return nil
	})
	return out
}

// rewritten lists, by artifact name, the files written again between two
// fileIDs.
func rewritten(before, after map[string]os.FileInfo) []string {
	var out []string
	for rel, fi := range after {
		if old, ok := before[rel]; !ok || !os.SameFile(old, fi) {
			out = append(out, strings.TrimSuffix(filepath.Base(rel), ".so"))
		}
	}
	sort.Strings(out)
	return out
}

// cacheObjects are the outputs in a Go build cache directory (the files
// named <hash>-d: compiled packages, cgo objects, ...), by name.
func cacheObjects(dir string) map[string]string {
	out := map[string]string{}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(d.Name(), "-d") {
			out[d.Name()] = path
		}
		return nil
	})
	return out
}

// volumeObjects are the outputs in the pbuild-gocache volume, listed from a
// container of the toolchain image, by name (paths relative to the
// volume); nil when they cannot be listed.
func (r *runner) volumeObjects(image string) map[string]string {
	if image == "" {
		return nil
	}
	args := append(r.dockerRunArgs(), "-v", "pbuild-gocache:/c:ro", "-w", "/c", image, "find", ".", "-type", "f", "-name", "*-d")
	res, err := r.run("", nil, "docker", args...)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, line := range strings.Fields(res.Stdout) {
		out[filepath.Base(line)] = line
	}
	return out
}

// newObjects are the objects in after that are not in before: their paths.
func newObjects(before, after map[string]string) []string {
	var out []string
	for name, path := range after {
		if _, ok := before[name]; !ok {
			out = append(out, path)
		}
	}
	sort.Strings(out)
	return out
}

// projectFileRe finds the generated project's source files in a compiled
// object: under -trimpath its positions read <import path>/<file>.go.
var projectFileRe = regexp.MustCompile(`example\.com/bench/(api|host|plugins/p[0-9]+)/[a-z]+\.go`)

// attribute says which of the project's packages the objects are: a plugin
// or the host when the object holds its files (an object may also hold
// api.go positions through inlining), else the API. It returns the sorted
// package dirs and how many objects are none of them.
func attribute(matches map[string][]string, total int) ([]string, int) {
	pkgs := map[string]bool{}
	for _, ms := range matches {
		own := ""
		for _, m := range ms {
			dir := projectFileRe.FindStringSubmatch(m)[1]
			if dir != "api" {
				own = dir
			} else if own == "" {
				own = "api"
			}
		}
		if own != "" {
			pkgs[own] = true
		}
	}
	var out []string
	for p := range pkgs {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, total - len(matches)
}

// attributeFiles reads the objects from the machine's file system.
func attributeFiles(paths []string) ([]string, int) {
	matches := map[string][]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if ms := projectFileRe.FindAllString(string(b), -1); len(ms) > 0 {
			matches[p] = ms
		}
	}
	return attribute(matches, len(paths))
}

// attributeVolume reads the objects in the pbuild-gocache volume with grep
// in a container.
func (r *runner) attributeVolume(image string, paths []string) ([]string, int, error) {
	if len(paths) == 0 {
		return nil, 0, nil
	}
	script := `grep -aoE 'example\.com/bench/(api|host|plugins/p[0-9]+)/[a-z]+\.go' /dev/null "$@"; true`
	args := append(r.dockerRunArgs(), "-v", "pbuild-gocache:/c:ro", "-w", "/c", image, "sh", "-c", script, "sh")
	res, err := r.run("", nil, "docker", append(args, paths...)...)
	if err != nil {
		return nil, 0, err
	}
	matches := map[string][]string{}
	for _, line := range strings.Split(res.Stdout, "\n") {
		if file, m, ok := strings.Cut(line, ":"); ok && projectFileRe.MatchString(m) {
			matches[file] = append(matches[file], m)
		}
	}
	pkgs, other := attribute(matches, len(paths))
	return pkgs, other, nil
}
