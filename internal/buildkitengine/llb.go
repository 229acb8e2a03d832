package buildkitengine

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/moby/buildkit/client/llb"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Paths inside the Runs, the same as the Docker backend's containers use, so
// both backends compile the same command lines in the same places.
const (
	SourceDir = "/src" // the staged workspace
	OutDir    = "/out" // a Run's outputs
	// CABundleDir holds the forwarded CA bundle as CABundleFile; together
	// they are resolve.CABundlePath.
	CABundleDir  = "/etc/pbuild"
	CABundleFile = "ca-certificates.crt"
	// GoCacheDir and GoModCacheDir are the toolchain image's GOCACHE and
	// GOMODCACHE.
	GoCacheDir    = "/root/.cache/go-build"
	GoModCacheDir = "/go/pkg/mod"
)

// Cache mount IDs: BuildKit keeps one persistent directory per ID.
const (
	GoCacheID    = "pbuild-gocache"
	GoModCacheID = "pbuild-gomodcache"
)

// Local context names the Solve must be given directories for.
const (
	SourceContext    = "src"
	ToolchainContext = "toolchain"
)

// Files the resolve Run exports.
const (
	BuildListFile = "buildlist.json" // `go list -m -json all`
	WorkSumFile   = "go.work.sum"
	VendorDir     = "vendor" // absent when there was nothing to vendor
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

// ToolchainRootFS is the toolchain as a root filesystem sent from this
// machine as the local context ToolchainContext (a RootFS directory), for a
// daemon that has neither the image nor a registry to pull it from. key
// (the image ID) becomes the context's shared key hint, meant to let
// BuildKit send only what changed; buildkitd v0.26.0 nevertheless received
// the whole tree (570 MB, about 20 s here) on every Solve, so ToolchainOCI is
// the better choice where the daemon supports OCI layouts.
func ToolchainRootFS(key string, platform *ocispecs.Platform) Toolchain {
	opts := []llb.LocalOption{llb.WithCustomName("toolchain root filesystem " + shortKey(key))}
	if key != "" {
		opts = append(opts, llb.SharedKeyHint("pbuild-toolchain-"+key))
	}
	return Toolchain{Root: llb.Local(ToolchainContext, opts...), Env: append([]string{}, DefaultToolchainEnv...), Platform: platform}
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
}

// resolveSteps are the resolve Run's commands, each announced on stderr so
// that a failure names its step (ResolveFailure).
var resolveSteps = []struct{ name, cmd string }{
	{"go list -m all", "go list -mod=readonly -m -json all > " + OutDir + "/" + BuildListFile},
	{"go work vendor", "go work vendor"},
	{"go.work.sum", "touch " + WorkSumFile},
	{"export", "if [ -d " + VendorDir + " ]; then cp -a " + VendorDir + " " + OutDir + "/; fi && cp -a " + WorkSumFile + " " + OutDir + "/"},
}

// stepMarker starts the stderr line announcing a resolve step.
const stepMarker = "pbuild-step: "

// ResolveScript is the shell script the resolve Run executes in SourceDir.
func ResolveScript() string {
	var b strings.Builder
	b.WriteString("set -e\n")
	for _, s := range resolveSteps {
		fmt.Fprintf(&b, "echo '%s%s' >&2\n%s\n", stepMarker, s.name, s.cmd)
	}
	return b.String()
}

// ResolveName is the resolve Run's vertex name.
const ResolveName = "resolve: go list -m all, go work vendor"

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

// Resolve is the resolve Run: in the staged workspace, with the network,
// it lists the build list and vendors it, the module cache persisting in a
// BuildKit cache mount. The returned state holds BuildListFile,
// WorkSumFile and, when anything was vendored, VendorDir: put the last two
// into the staging directory, as the Docker backend copies them out.
func Resolve(tc Toolchain, spec ResolveSpec) (llb.State, error) {
	env := []string{"GOWORK=" + SourceDir + "/go.work", "GOTOOLCHAIN=local", "GOTELEMETRY=off"}
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
	if len(spec.CABundle) > 0 {
		env = append(env, "SSL_CERT_FILE="+CABundleDir+"/"+CABundleFile)
	}
	opts, err := tc.runOpts(SourceDir, env)
	if err != nil {
		return llb.State{}, err
	}
	modCache := spec.ModCacheID
	if modCache == "" {
		modCache = GoModCacheID
	}
	opts = append(opts,
		llb.Args([]string{"/bin/sh", "-c", ResolveScript()}),
		llb.Network(llb.NetModeSandbox),
		llb.AddMount(SourceDir, spec.Source),
		llb.AddMount(GoModCacheDir, llb.Scratch(), llb.AsPersistentCacheDir(modCache, llb.CacheMountShared)),
		llb.WithCustomName(ResolveName),
	)
	if hasProxy {
		opts = append(opts, llb.WithProxy(proxy))
	}
	if spec.NoCache {
		opts = append(opts, llb.IgnoreCache)
	}
	if len(spec.CABundle) > 0 {
		ca := llb.Scratch().File(llb.Mkfile("/"+CABundleFile, 0o644, spec.CABundle), llb.WithCustomName("CA bundle"))
		opts = append(opts, llb.AddMount(CABundleDir, ca, llb.Readonly))
	}
	run := tc.Root.Run(opts...)
	return run.AddMount(OutDir, llb.Scratch()), nil
}

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
	seen := map[string]bool{}
	var outs []llb.State
	for _, a := range spec.Artifacts {
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
		opts = append(opts,
			llb.Args(a.Args),
			llb.Network(llb.NetModeNone),
			llb.AddMount(SourceDir, spec.Source, llb.Readonly),
			llb.AddMount(cacheDir, llb.Scratch(), llb.AsPersistentCacheDir(cacheID, llb.CacheMountShared)),
			llb.WithCustomName(a.VertexName()),
		)
		if spec.NoCache {
			opts = append(opts, llb.IgnoreCache)
		}
		run := tc.Root.Run(opts...)
		outs = append(outs, run.AddMount(OutDir, outRoot))
	}
	return gather(outs), nil
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

// SortedEnv is a map as KEY=VALUE sorted by key, as the Docker backend adds
// the config's build.env.
func SortedEnv(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k + "=" + m[k]
	}
	return out
}
