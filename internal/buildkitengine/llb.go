package buildkitengine

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pbuild/pbuild/plan"
)

// Paths inside the Runs: plan's, the same as the Docker backend's
// containers use, so both backends compile the same command lines in the
// same places.
const (
	SourceDir = plan.SourceDir // the staged workspace
	TmpDir    = plan.TmpDir    // the go command's work directories, in memory
	OutDir    = plan.OutDir    // a Run's outputs
	// CABundleDir holds the forwarded CA bundle as CABundleFile: together
	// plan.CABundlePath.
	CABundleDir  = plan.CABundleDir
	CABundleFile = plan.CABundleFile
	// GoCacheDir and GoModCacheDir are the toolchain image's GOCACHE and
	// GOMODCACHE.
	GoCacheDir    = plan.GoCacheDir
	GoModCacheDir = plan.ModDir
)

// Cache mount IDs: BuildKit keeps one persistent directory per ID.
const (
	GoCacheID    = plan.GoCache
	GoModCacheID = plan.ModCache
)

// SourceContext is the local context the Solve must be given the staged
// workspace for.
const SourceContext = "src"

// Files the resolve Run exports.
const (
	BuildListFile = "buildlist.json" // `go list -m -json all`
	WorkSumFile   = "go.work.sum"
	WorkFile      = "go.work"   // only with ResolveSpec.UseDirs
	GraphFile     = "graph.txt" // `go mod graph`, only with ResolveSpec.Graph
	VendorDir     = "vendor"    // absent when there was nothing to vendor
)

// DefaultToolchainEnv is the environment images/toolchain.Dockerfile sets,
// plus what every pbuild Run sets (GOFLAGS empty, HOME). BuildKit does not
// apply an image's ENV to LLB Runs, so it is set on each of them.
var DefaultToolchainEnv = []string{
	"PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"GOTOOLCHAIN=local",
	"GOTELEMETRY=off",
	"GOPATH=/go",
	"GOMODCACHE=" + GoModCacheDir,
	"GOCACHE=" + GoCacheDir,
	"GOFLAGS=",
	"HOME=/root",
}

// Toolchain is the root filesystem of every Run and the environment set on
// each of them.
type Toolchain struct {
	Root llb.State
	// Env is KEY=VALUE, applied before a Run's own environment. Callers
	// may replace it with the image's configured Env (ImageInspect) for
	// exact parity with the Docker backend; DefaultToolchainEnv mirrors it.
	Env []string
	// Platform the Runs execute on; the daemon's when nil.
	Platform *ocispecs.Platform
}

// ToolchainImage is the toolchain as an image present in the Docker engine
// whose BuildKit runs the build: resolved from the engine's image store,
// nothing is pulled (the default resolve mode prefers a local image).
func ToolchainImage(ref string, platform *ocispecs.Platform) Toolchain {
	opts := []llb.ImageOption{llb.WithCustomName("toolchain " + ref)}
	if platform != nil {
		opts = append(opts, llb.Platform(*platform))
	}
	return Toolchain{Root: llb.Image(ref, opts...), Env: append([]string{}, DefaultToolchainEnv...), Platform: platform}
}

func shortKey(k string) string {
	k = strings.TrimPrefix(k, "sha256:")
	if len(k) > 12 {
		return k[:12]
	}
	return k
}

// Source is the staged workspace, sent as the local context SourceContext.
// Every build sends it under the same shared key, so BuildKit transfers only
// the files that differ from the last build's.
func Source() llb.State {
	return llb.Local(SourceContext, llb.SharedKeyHint("pbuild-src"), llb.WithCustomName("staged workspace"))
}

// runOpts are the options every Run shares: the root, the environment
// (toolchain first, then the Run's), the working directory.
func (tc Toolchain) runOpts(dir string, env []string) ([]llb.RunOption, error) {
	opts := []llb.RunOption{llb.Dir(dir)}
	for _, kv := range mergeEnv(tc.Env, env) {
		k, v, _ := strings.Cut(kv, "=")
		opts = append(opts, llb.AddEnv(k, v))
	}
	if tc.Platform != nil {
		opts = append(opts, llb.Platform(*tc.Platform))
	}
	return opts, nil
}

// mergeEnv applies later KEY=VALUE entries over earlier ones, keeping the
// first position of every key.
func mergeEnv(lists ...[]string) []string {
	var keys []string
	vals := map[string]string{}
	for _, l := range lists {
		for _, kv := range l {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				continue
			}
			if _, seen := vals[k]; !seen {
				keys = append(keys, k)
			}
			vals[k] = v
		}
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "=" + vals[k]
	}
	return out
}

// ResolveSpec is the resolve step.
type ResolveSpec struct {
	// Source is the staged workspace (Source()), mounted at SourceDir.
	Source llb.State
	// Env is forwarded (GOPROXY, GOPRIVATE, GONOSUMDB, GOSUMDB, GOFLAGS,
	// HTTP(S)_PROXY, NO_PROXY, ...). Proxy variables are passed as
	// BuildKit proxy settings, which stay out of the cache key.
	Env []string
	// CABundle, when set, is mounted at CABundleDir/CABundleFile and named
	// by SSL_CERT_FILE.
	CABundle []byte
	// ModCacheID names the persistent module cache; GoModCacheID when empty.
	ModCacheID string
	// NoCache runs the step even when BuildKit has its result (--no-cache).
	NoCache bool
	// UseDirs are module directories, relative to the workspace, that `go
	// work use` adds to go.work before anything is listed (the pins module
	// of a build against a host's manifest); the changed go.work is then
	// exported as WorkFile too.
	UseDirs []string
	// Graph exports `go mod graph` as GraphFile, to name who requires a
	// module (a build against a host's manifest needs it when a module is
	// above the host's version).
	Graph bool
}

// proxyKeys are the variables BuildKit's proxy settings carry.
var proxyKeys = map[string]func(*llb.ProxyEnv, string){
	"HTTP_PROXY":  func(p *llb.ProxyEnv, v string) { p.HTTPProxy = v },
	"http_proxy":  func(p *llb.ProxyEnv, v string) { p.HTTPProxy = v },
	"HTTPS_PROXY": func(p *llb.ProxyEnv, v string) { p.HTTPSProxy = v },
	"https_proxy": func(p *llb.ProxyEnv, v string) { p.HTTPSProxy = v },
	"FTP_PROXY":   func(p *llb.ProxyEnv, v string) { p.FTPProxy = v },
	"ftp_proxy":   func(p *llb.ProxyEnv, v string) { p.FTPProxy = v },
	"NO_PROXY":    func(p *llb.ProxyEnv, v string) { p.NoProxy = v },
	"no_proxy":    func(p *llb.ProxyEnv, v string) { p.NoProxy = v },
	"ALL_PROXY":   func(p *llb.ProxyEnv, v string) { p.AllProxy = v },
	"all_proxy":   func(p *llb.ProxyEnv, v string) { p.AllProxy = v },
}

// Resolve is the resolve step: in the staged workspace, with the network,
// one Run per command (`go work use` of UseDirs, `go list -m -json all`,
// `go mod graph` with Graph, `go work vendor`), each named after its
// command so that a failure names it, the module cache persisting in a
// BuildKit cache mount. The returned state holds BuildListFile,
// WorkSumFile, GraphFile with Graph, WorkFile with UseDirs and, when
// anything was vendored, VendorDir: put all but the first two into the
// staging directory, as the Docker backend copies them out.
func Resolve(tc Toolchain, spec ResolveSpec) (llb.State, error) {
	var env []string
	var proxy llb.ProxyEnv
	hasProxy := false
	for _, kv := range spec.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return llb.State{}, fmt.Errorf("resolve env %q: want KEY=VALUE", kv)
		}
		if set, isProxy := proxyKeys[k]; isProxy {
			set(&proxy, v)
			hasProxy = true
			continue
		}
		env = append(env, kv)
	}
	for _, d := range spec.UseDirs {
		if !isRelPath(d) {
			return llb.State{}, fmt.Errorf("resolve: module directory %q is not a clean relative path", d)
		}
	}
	base, err := tc.runOpts(SourceDir, env)
	if err != nil {
		return llb.State{}, err
	}
	modCache := spec.ModCacheID
	if modCache == "" {
		modCache = GoModCacheID
	}
	base = append(base,
		llb.Network(llb.NetModeSandbox),
		llb.AddMount(GoModCacheDir, llb.Scratch(), llb.AsPersistentCacheDir(modCache, llb.CacheMountShared)),
	)
	if hasProxy {
		base = append(base, llb.WithProxy(proxy))
	}
	if spec.NoCache {
		base = append(base, llb.IgnoreCache)
	}
	if len(spec.CABundle) > 0 {
		ca := llb.Scratch().File(llb.Mkfile("/"+CABundleFile, 0o644, spec.CABundle), llb.WithCustomName("CA bundle"))
		base = append(base, llb.AddMount(CABundleDir, ca, llb.Readonly))
	}
	// run runs one command on src, returning the workspace after it and
	// what it wrote to OutDir.
	run := func(name, cmd string, src llb.State) (llb.State, llb.State) {
		opts := append(slices.Clone(base), llb.Args([]string{"/bin/sh", "-c", cmd}), llb.WithCustomName(name))
		r := tc.Root.Run(opts...)
		return r.AddMount(SourceDir, src), r.AddMount(OutDir, llb.Scratch())
	}
	src := spec.Source
	for _, d := range spec.UseDirs {
		src, _ = run(StepWorkUse, "go work use "+shellQuote("./"+d), src)
	}
	src, list := run(StepList, "go list -mod=readonly -m -json all > "+OutDir+"/"+BuildListFile, src)
	var graph llb.State
	if spec.Graph {
		src, graph = run(StepGraph, "go mod graph > "+OutDir+"/"+GraphFile, src)
	}
	src, _ = run(StepVendor, "go work vendor && touch "+WorkSumFile, src)

	// Wildcards, so that a file that is not there copies nothing: vendor/
	// exists only when there was something to vendor.
	ci := &llb.CopyInfo{AllowWildcard: true, AllowEmptyWildcard: true, CreateDestPath: true}
	fa := llb.Copy(list, "/"+BuildListFile, "/", ci)
	if spec.Graph {
		fa = fa.Copy(graph, "/"+GraphFile, "/", ci)
	}
	fa = fa.Copy(src, "/"+WorkSumFile, "/", ci).Copy(src, "/vendo[r]", "/", ci)
	if len(spec.UseDirs) > 0 {
		fa = fa.Copy(src, "/"+WorkFile, "/", ci)
	}
	return llb.Scratch().File(fa, llb.WithCustomName("resolve: export")), nil
}

// shellQuote quotes s for /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// The resolve's steps: the names of their Runs, and of the step a
// resolve.Error names.
const (
	StepWorkUse = "go work use"
	StepList    = "go list -m all"
	StepGraph   = "go mod graph"
	StepVendor  = "go work vendor"
)

// Artifact is one compile Run.
type Artifact struct {
	// Name labels the Run ("plugin hello"); its vertex is "build " + Name,
	// and an ExecError names it so.
	Name string
	// Args is the go build command line, unchanged (builder.goBuildArgs);
	// its -o names Out.
	Args []string
	// Dir is the working directory, under SourceDir.
	Dir string
	// Out is the file the command writes, under OutDir
	// (/out/plugins/hello.so); its directory is created beforehand.
	Out string
	// Inputs, when set, are the only parts of the source the Run sees:
	// paths relative to SourceDir ("go.work", "vendor", "plugins/hello"),
	// files or directories, each mounted read-only at its place under
	// SourceDir. BuildKit keys the Run's cache on their content alone, so
	// an edit elsewhere in the workspace leaves the Run a cache hit. A path
	// inside another one is covered by it. Empty: the whole source.
	Inputs []string
}

// VertexName is the name of the artifact's Run in progress and errors.
func (a Artifact) VertexName() string { return "build " + a.Name }

// CompileSpec is the compile step.
type CompileSpec struct {
	// Source is the workspace with its vendor directory and go.work.sum,
	// mounted read-only at SourceDir.
	Source llb.State
	// Env is the build environment, after the toolchain's: GOWORK,
	// GOPROXY=off, the config's build.env, ... (the Docker backend's build
	// container environment).
	Env []string
	// Artifacts are compiled in parallel, each in its own Run.
	Artifacts []Artifact
	// First, when between 1 and len(Artifacts)-1, is how many of the
	// Artifacts (the first ones) are compiled before the others: the
	// others start only when those are done, so that they find the
	// standard library and the dependencies compiled for their build mode
	// in the shared build cache instead of each compiling them at once.
	// The wait is carried by an empty stamp directory each of the first
	// Runs leaves, so the later Runs' cache keys do not depend on what the
	// first ones built. 0: all at once.
	First int
	// CacheID names the persistent build cache shared by the Runs;
	// GoCacheID when empty.
	CacheID string
	// CacheDir is where it is mounted: the GOCACHE of the merged
	// environment, else GoCacheDir.
	CacheDir string
	// NoCache runs the compiles even when BuildKit has their results
	// (--no-cache). BuildKit then also empties the Go build cache mount.
	NoCache bool
}

// Compile is one Run per artifact, without network, sharing a persistent
// Go build cache, and a state gathering every artifact at its path under
// OutDir (plugins/hello.so, greeter).
func Compile(tc Toolchain, spec CompileSpec) (llb.State, error) {
	if len(spec.Artifacts) == 0 {
		return llb.State{}, errors.New("compile: no artifacts")
	}
	env := mergeEnv(tc.Env, spec.Env)
	cacheDir := spec.CacheDir
	if cacheDir == "" {
		cacheDir = GoCacheDir
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "GOCACHE="); ok && path.IsAbs(v) {
				cacheDir = v
			}
		}
	}
	cacheID := spec.CacheID
	if cacheID == "" {
		cacheID = GoCacheID
	}
	if spec.First < 0 || spec.First > len(spec.Artifacts) {
		return llb.State{}, fmt.Errorf("compile: first %d of %d artifacts", spec.First, len(spec.Artifacts))
	}
	seen := map[string]bool{}
	var outs, stamps []llb.State
	for i, a := range spec.Artifacts {
		rel, err := outRel(a.Out)
		if err != nil {
			return llb.State{}, fmt.Errorf("compile %s: %w", a.Name, err)
		}
		if seen[rel] {
			return llb.State{}, fmt.Errorf("compile %s: %s is written twice", a.Name, a.Out)
		}
		seen[rel] = true
		if len(a.Args) == 0 {
			return llb.State{}, fmt.Errorf("compile %s: no command", a.Name)
		}
		if !path.IsAbs(a.Dir) {
			return llb.State{}, fmt.Errorf("compile %s: working directory %q is not absolute", a.Name, a.Dir)
		}
		opts, err := tc.runOpts(a.Dir, spec.Env)
		if err != nil {
			return llb.State{}, err
		}
		outRoot := llb.Scratch()
		if d := path.Dir(rel); d != "." {
			outRoot = outRoot.File(llb.Mkdir("/"+d, 0o755, llb.WithParents(true)), llb.WithCustomNamef("mkdir %s for %s", d, a.Name))
		}
		src, err := sourceMounts(spec.Source, a.Inputs)
		if err != nil {
			return llb.State{}, fmt.Errorf("compile %s: %w", a.Name, err)
		}
		opts = append(opts, src...)
		opts = append(opts,
			llb.Args(a.Args),
			llb.Network(llb.NetModeNone),
			llb.AddMount(cacheDir, llb.Scratch(), llb.AsPersistentCacheDir(cacheID, llb.CacheMountShared)),
			// The go command's work directories in memory, as in the
			// Docker backend's build container.
			llb.AddMount(TmpDir, llb.Scratch(), llb.Tmpfs()),
			llb.WithCustomName(a.VertexName()),
		)
		later := spec.First > 0 && i >= spec.First
		if later {
			for j, st := range stamps {
				opts = append(opts, llb.AddMount(path.Join(StampDir, strconv.Itoa(j)), st, llb.Readonly))
			}
		}
		if spec.NoCache {
			opts = append(opts, llb.IgnoreCache)
		}
		run := tc.Root.Run(opts...)
		outs = append(outs, run.AddMount(OutDir, outRoot))
		if spec.First > 0 && !later && spec.First < len(spec.Artifacts) {
			stamps = append(stamps, run.AddMount(StampDir, llb.Scratch()))
		}
	}
	return gather(outs), nil
}

// isRelPath reports whether p is a clean slash path below the directory it
// is relative to.
func isRelPath(p string) bool {
	return p != "" && p != "." && p != ".." && !path.IsAbs(p) && path.Clean(p) == p && !strings.HasPrefix(p, "../")
}

// StampDir is where a Run of the first artifacts leaves its empty stamp,
// and where the later Runs mount the stamps (StampDir/0, StampDir/1, ...).
const StampDir = "/.pbuild-stamp"

// sourceMounts mount the source at SourceDir read-only: whole, or only
// the given paths, each at its place, sorted, leaving out a path inside
// another one.
func sourceMounts(src llb.State, inputs []string) ([]llb.RunOption, error) {
	if len(inputs) == 0 {
		return []llb.RunOption{llb.AddMount(SourceDir, src, llb.Readonly)}, nil
	}
	var paths []string
	for _, p := range inputs {
		if !isRelPath(p) {
			return nil, fmt.Errorf("input %q is not a clean relative path under %s", p, SourceDir)
		}
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var opts []llb.RunOption
	var kept []string
	for _, p := range paths {
		if slices.ContainsFunc(kept, func(k string) bool { return p == k || strings.HasPrefix(p, k+"/") }) {
			continue
		}
		kept = append(kept, p)
		opts = append(opts, llb.AddMount(path.Join(SourceDir, p), src, llb.SourcePath("/"+p), llb.Readonly))
	}
	return opts, nil
}

// outRel is an output path relative to OutDir.
func outRel(out string) (string, error) {
	clean := path.Clean(out)
	rel, ok := strings.CutPrefix(clean, OutDir+"/")
	if !ok || clean != out || rel == "" {
		return "", fmt.Errorf("output %q is not a clean path under %s", out, OutDir)
	}
	return rel, nil
}

// gather copies the contents of every state into one scratch state, in
// order. Copies rather than llb.Merge: the BuildKit of Docker 20.10 has no
// MergeOp.
func gather(states []llb.State) llb.State {
	var fa *llb.FileAction
	for _, st := range states {
		ci := &llb.CopyInfo{CopyDirContentsOnly: true, CreateDestPath: true, AllowWildcard: false}
		if fa == nil {
			fa = llb.Copy(st, "/", "/", ci)
		} else {
			fa = fa.Copy(st, "/", "/", ci)
		}
	}
	return llb.Scratch().File(fa, llb.WithCustomName("gather artifacts"))
}
