package builder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pbuild/pbuild/check"
	"github.com/pbuild/pbuild/config"
	"github.com/pbuild/pbuild/internal/archive"
	"github.com/pbuild/pbuild/internal/container"
	"github.com/pbuild/pbuild/internal/fsx"
	"github.com/pbuild/pbuild/internal/outdir"
	"github.com/pbuild/pbuild/internal/owner"
	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/resolve"
	"github.com/pbuild/pbuild/toolchain"
)

// CacheVolume is the engine volume that keeps the Go build cache between
// builds.
const CacheVolume = "pbuild-gocache"

// ABIKeyVar is the variable in the host's main package that pbuild stamps
// with the ABI key (-ldflags -X).
const ABIKeyVar = "main.pbuildABIKey"

// LoaderABIKeyVar is the loader package's copy of the key, stamped too so
// that a host using github.com/pbuild/pbuild/loader knows its own key.
const LoaderABIKeyVar = "github.com/pbuild/pbuild/loader.hostABIKey"

// Engine is what a build needs of a container engine.
type Engine = toolchain.Engine

// Options are the environment a build runs in; the config says what to build.
type Options struct {
	Engine  Engine
	Fetcher *toolchain.Fetcher
	// GOOS and GOARCH are the platform of the engine.
	GOOS, GOARCH string
	// ResolveEnv is forwarded to the resolve step (GOPROXY, GOFLAGS, ...).
	ResolveEnv []string
	// CABundle is installed in the resolve container when set.
	CABundle []byte
	// TempDir holds the staging copy; the system's default when empty.
	TempDir string
	// OnEvent, when set, is told about progress.
	OnEvent func(Event)
	// Log receives the output of the go command.
	Log io.Writer
	// Output, when set, is where the artifacts go instead of the config's
	// output directory.
	Output string
	// Pin, when set, fixes the build to a manifest (rebuild, --against).
	Pin *Pin
	// BuildKit, when set, runs resolve and compile on a BuildKit daemon
	// instead of in engine containers.
	BuildKit *BuildKit
	// ToolID identifies the pbuild that builds (the digest of its
	// executable): a different pbuild never reuses an earlier output.
	ToolID string
	// Force builds even when the output directory is up to date, and links
	// every artifact again instead of letting the go command keep the
	// output directory's up-to-date files.
	Force bool
	// Self is the running pbuild: it marks the directories and labels the
	// containers it makes, so that a later pbuild can remove them if this
	// one is killed.
	Self owner.ID
	// OutputClean allows replacing an output directory pbuild did not
	// make (pbuild build --output-clean).
	OutputClean bool

	project string // the config file, labelling containers
	work    string // this build's temporary directory
}

// Event is a progress report.
type Event struct {
	Step    string // toolchain, plan, resolve, build, manifest, output
	Message string
}

func (o *Options) event(step, format string, args ...any) {
	if o.OnEvent != nil {
		o.OnEvent(Event{Step: step, Message: fmt.Sprintf(format, args...)})
	}
}

// Result is a successful build.
type Result struct {
	Dir      string // the output directory
	Manifest *manifests.Manifest
	Raised   []resolve.Raised
	// Notes are the other ways the build differs from what each module's
	// own go.mod and vendor/ ask for: a replacement one module's go.mod
	// makes for every artifact, a vendor/ directory that is not used.
	Notes []string
	// ModuleDiffs are the build list's differences from a rebuild's pin.
	ModuleDiffs []string
	// UpToDate is set when nothing was built: the output directory was
	// made from the same inputs and is intact.
	UpToDate bool
}

// Build builds cfg. The output directory changes only when every artifact
// was built and the manifest written, and only when pbuild made it.
func Build(ctx context.Context, cfg *config.Config, opts Options) (*Result, error) {
	cfg, err := pinConfig(cfg, opts.Pin, opts.event)
	if err != nil {
		return nil, err
	}
	opts.project = cfg.File
	if cfg.Host.Name == "" && (opts.Pin == nil || (!opts.Pin.Host && opts.Pin.Manifest.Against == "")) {
		return nil, &PinError{What: "nothing to load these plugins into", Details: []string{"the config declares no host"},
			hint: "declare the host in the config, or build the plugins against a released host: pbuild build --against HOST_MANIFEST"}
	}
	outPath := cfg.OutputDir()
	if opts.Output != "" {
		outPath = opts.Output
	}
	ws, err := plan(cfg)
	if err != nil {
		return nil, err
	}
	if err := checkPlacement(outPath, cfg, ws); err != nil {
		return nil, err
	}
	opts.event("plan", "%d artifacts in %d local modules under %s", len(ws.Packages), len(ws.Modules), ws.Root)
	if ws.WorkFile != "" {
		var joined []string
		for _, m := range ws.Joined {
			joined = append(joined, m.Path)
		}
		opts.event("plan", "the project's %s joins %d more modules: %s", ws.WorkFile, len(joined), strings.Join(joined, " "))
	}

	out, err := outdir.Open(ctx, outPath, outdir.Options{Self: opts.Self, Clean: opts.OutputClean, OnWait: func(holder string) {
		opts.event("output", "waiting for %s, which builds into %s", holder, outPath)
	}})
	if err != nil {
		return nil, err
	}
	defer out.Close()
	if err := sweep(ctx, &opts); err != nil {
		return nil, err
	}
	if opts.work, err = owner.MkdirTemp(tempDir(opts), workPrefix, opts.Self); err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	defer owner.RemoveMarked(opts.work)

	maker := &toolchain.Maker{Engine: opts.Engine, Fetcher: opts.Fetcher, Project: cfg.File, Owner: opts.Self.String(), OnStep: func(m string) { opts.event("toolchain", "%s", m) }}
	tc, err := maker.Ensure(ctx, toolchain.Spec{Go: cfg.Toolchain.Go, Base: cfg.Toolchain.Base, Sum: cfg.Toolchain.Sum, GOOS: opts.GOOS, GOARCH: opts.GOARCH})
	if err != nil {
		return nil, err
	}
	opts.event("toolchain", "%s in %s (%s)", tc.Go, tc.Image, tc.CC)
	if p := opts.Pin; p != nil && !p.Host && tc.CC != p.Manifest.Toolchain.CC {
		return nil, &PinError{What: "the C compiler differs from the recorded one",
			Details: []string{"recorded: " + p.Manifest.Toolchain.CC, "here:     " + tc.CC},
			hint:    "use the recorded base image (toolchain.baseImage in the manifest)"}
	}

	stage := filepath.Join(opts.work, "stage")
	if err := resolve.Stage(ws, stage, cfg.Toolchain.Go, out.Skips); err != nil {
		return nil, err
	}
	inputs, err := inputsDigest(cfg, tc, stage, &opts)
	if err != nil {
		return nil, err
	}
	outDir := out.Path()
	if !opts.Force {
		if m, rec := upToDate(ctx, outDir, inputs); m != nil {
			opts.event("output", "%s is up to date (inputs sha256:%s)", outDir, inputs[:16])
			return &Result{Dir: outDir, Manifest: m, Raised: rec.Raised, Notes: rec.Notes, UpToDate: true}, nil
		}
	}

	opts.event("resolve", "go work vendor over %d modules", len(ws.Modules))
	var res *resolve.Result
	var bk *bkToolchain
	if opts.BuildKit != nil {
		if bk, err = opts.BuildKit.toolchain(ctx, tc); err != nil {
			return nil, err
		}
		res, err = opts.BuildKit.resolve(ctx, bk, ws, stage, &opts)
	} else {
		resolver := &resolve.Resolver{Engine: opts.Engine, Image: tc.Image, Project: cfg.File, Owner: opts.Self.String(), Env: opts.ResolveEnv, CABundle: opts.CABundle, Log: opts.Log}
		if opts.Pin != nil && opts.Pin.Host {
			resolver.Constraints = resolve.HostConstraints(opts.Pin.Manifest)
		}
		res, err = resolver.Run(ctx, ws, stage)
	}
	if err != nil {
		return nil, err
	}
	if err := resolve.StampTimes(stage); err != nil {
		return nil, err
	}
	vendorNotes, err := resolve.CheckOwnVendors(ws, stage)
	if err != nil {
		return nil, err
	}
	moduleDiffs, err := checkPinnedModules(opts.Pin, res.Modules)
	if err != nil {
		return nil, err
	}
	for _, d := range moduleDiffs {
		opts.event("pin", "build list differs: %s", d)
	}
	opts.event("resolve", "%d modules in the build list", len(res.Modules))

	m := newManifest(cfg, tc, res.Modules, sharedModules(ws))
	switch p := opts.Pin; {
	case p != nil && p.Host:
		// Built for the released host: its ABI key, stamped and recorded.
		m.ABIKey, m.Against = p.Manifest.ABIKey, p.SHA256
	case p != nil:
		// A rebuild stamps what was stamped.
		m.ABIKey, m.Against = p.Manifest.ABIKey, p.Manifest.Against
	}
	tmp, err := out.Temp()
	if err != nil {
		return nil, err
	}
	var kept map[string]manifests.Artifact
	if opts.BuildKit != nil {
		opts.event("build", "%d artifacts on BuildKit", len(ws.Packages))
		err = opts.BuildKit.compile(ctx, bk, tmp, ws, stage, m, &opts)
	} else {
		kept, err = buildArtifacts(ctx, tmp, outDir, ws, stage, tc, m, &opts)
	}
	if err != nil {
		return nil, err
	}
	if err := inspectArtifacts(ctx, tmp, ws, m, kept); err != nil {
		return nil, err
	}
	var unlinked []resolve.Raised
	res.Raised, unlinked = linkedRaised(res.Raised, m.Artifacts)
	for _, r := range res.Raised {
		opts.event("resolve", "%s", r)
	}
	for _, r := range unlinked {
		opts.event("resolve", "%s (linked into no artifact)", r)
	}
	notes := differences(ws, vendorNotes, m.Artifacts)
	for _, n := range notes {
		opts.event("resolve", "%s", n)
	}
	opts.event("check", "every plugin against the host and each other")
	var verdict *check.Result
	if p := opts.Pin; p != nil && p.Host {
		host, ok := p.hostArtifact()
		if !ok {
			return nil, &PinError{What: "the --against manifest lists no host", Details: []string{"it must be a released host's manifest"}, hint: "pass the manifest of a host release"}
		}
		verdict, err = check.DirAgainst(ctx, tmp, m, host, check.Options{})
	} else if cfg.Host.Name != "" {
		verdict, err = check.Dir(ctx, tmp, m, check.Options{})
	}
	if err != nil {
		return nil, err
	}
	if verdict == nil {
		opts.event("check", "skipped: the host of this plugin build is not here")
	} else if err := verdict.Err(); err != nil {
		return nil, &CheckError{Result: verdict, Err: err}
	}
	if err := writeManifest(filepath.Join(tmp, manifests.FileName), m); err != nil {
		return nil, err
	}
	if err := writeInputs(ctx, tmp, inputs, res.Raised, notes); err != nil {
		return nil, err
	}
	if err := out.Install(tmp); err != nil {
		return nil, err
	}
	opts.event("output", "%s", outDir)
	return &Result{Dir: outDir, Manifest: m, Raised: res.Raised, Notes: notes, ModuleDiffs: moduleDiffs}, nil
}

// plan checks what can be checked before any container runs.
func plan(cfg *config.Config) (*resolve.Workspace, error) {
	var targets []resolve.Target
	for _, a := range cfg.Artifacts() {
		kind := resolve.KindPlugin
		if a.Name == cfg.Host.Name {
			kind = resolve.KindHost
		}
		targets = append(targets, resolve.Target{Name: a.Name, Kind: kind, Dir: cfg.AbsPath(a.Path), Version: a.Version})
	}
	var opts []resolve.Option
	if wf := resolve.FindWorkFile(cfg.Dir); wf != "" {
		opts = append(opts, resolve.WithWorkFile(wf))
	}
	return resolve.Discover(targets, opts...)
}

// linkedRaised splits raised requirements into those of modules some
// artifact links, which the build reports, and the others (a test-only
// dependency of a local module, say), which change nothing that ships.
func linkedRaised(raised []resolve.Raised, arts []manifests.Artifact) (linked, unlinked []resolve.Raised) {
	for _, r := range raised {
		in := false
		for _, a := range arts {
			if _, ok := a.BuildInfo.Deps[r.Dep]; ok {
				in = true
				break
			}
		}
		if in {
			linked = append(linked, r)
		} else {
			unlinked = append(unlinked, r)
		}
	}
	return linked, unlinked
}

// differences are the notes on how the build differs from what each
// module's go.mod and vendor/ ask for: the own vendor/ directories, and
// every replacement a module's go.mod (or the go.work) makes that other
// artifacts link too.
func differences(ws *resolve.Workspace, vendor []resolve.VendorNote, arts []manifests.Artifact) []string {
	var out []string
	for _, n := range vendor {
		out = append(out, n.String())
	}
	byName := map[string]resolve.Package{}
	for _, p := range ws.Packages {
		byName[p.Name] = p
	}
	for _, r := range resolve.Replacements(ws) {
		var others []string
		for _, a := range arts {
			p, ok := byName[a.Name]
			if _, links := a.BuildInfo.Deps[r.OldPath]; !links || ok && p.Module.Path == r.Module {
				continue
			}
			others = append(others, a.Kind+" "+a.Name)
		}
		if len(others) > 0 {
			out = append(out, fmt.Sprintf("%s for the whole workspace: %s build with it too", r, strings.Join(others, ", ")))
		}
	}
	return out
}

// Flags are the go build flags every artifact shares.
func Flags() []string {
	return []string{"-mod=vendor", "-trimpath", "-buildvcs=false"}
}

// sharedModules are the local modules plugins depend on, directly or
// through other local modules (a shared API module, a host module whose
// packages plugins import): their source is part of the ABI. A plugin's own
// module, or a module only the host uses, is not.
func sharedModules(ws *resolve.Workspace) map[string]bool {
	byPath := map[string]*resolve.Module{}
	for _, m := range ws.Modules {
		byPath[m.Path] = m
	}
	shared := map[string]bool{}
	var visit func(m *resolve.Module)
	visit = func(m *resolve.Module) {
		for _, r := range m.File.Require {
			if dep, ok := byPath[r.Mod.Path]; ok && !shared[dep.Path] {
				shared[dep.Path] = true
				visit(dep)
			}
		}
	}
	for _, p := range ws.Packages {
		if p.Kind == resolve.KindPlugin {
			visit(p.Module)
		}
	}
	return shared
}

// abiModules are the modules the ABI key covers: every dependency, and the
// shared local modules.
func abiModules(mods []manifests.Module, shared map[string]bool) []manifests.Module {
	var out []manifests.Module
	for _, m := range mods {
		if !m.Local || shared[m.Path] {
			out = append(out, m)
		}
	}
	return out
}

func newManifest(cfg *config.Config, tc *toolchain.Toolchain, mods []manifests.Module, shared map[string]bool) *manifests.Manifest {
	env := map[string]string{"CGO_ENABLED": "1"}
	for k, v := range cfg.Build.Env {
		env[k] = v
	}
	goamd64 := tc.GOAMD64
	if v, ok := env["GOAMD64"]; ok && tc.GOARCH == "amd64" {
		goamd64 = v
	}
	if tc.GOARCH != "amd64" {
		goamd64 = ""
	}
	m := &manifests.Manifest{
		SchemaVersion: manifests.SchemaVersion,
		Toolchain: manifests.Toolchain{
			Go: tc.Go, Module: tc.Module, ModuleSum: tc.ModuleSum,
			BaseImage: tc.BaseImage, BaseImageID: tc.BaseImageID,
			Image: tc.Image, ImageID: tc.ImageID,
			GOOS: tc.GOOS, GOARCH: tc.GOARCH, GOAMD64: goamd64, CC: tc.CC,
		},
		Build: manifests.Build{
			Flags:   Flags(),
			Tags:    append([]string{}, cfg.Build.Tags...),
			Ldflags: cfg.Build.Ldflags,
			Env:     env,
		},
		Modules: mods,
	}
	m.ABIKey = manifests.ABIKey(m.Toolchain, m.Build, abiModules(m.Modules, shared))
	return m
}

// goBuildArgs is the go build command line of one artifact.
func goBuildArgs(b manifests.Build, abiKey, kind, out string) []string {
	args := append([]string{"go", "build"}, b.Flags...)
	if len(b.Tags) > 0 {
		args = append(args, "-tags="+strings.Join(b.Tags, ","))
	}
	ldflags := strings.TrimSpace(b.Ldflags + " -X " + LoaderABIKeyVar + "=" + abiKey + " -X " + ABIKeyVar + "=" + abiKey)
	args = append(args, "-ldflags="+ldflags)
	if kind == resolve.KindPlugin {
		args = append(args, "-buildmode=plugin")
	}
	return append(args, "-o", out, ".")
}

// artifactFile is an artifact's path in the output directory.
func artifactFile(p resolve.Package) string {
	if p.Kind == resolve.KindPlugin {
		return path.Join("plugins", p.Name+".so")
	}
	return p.Name
}

// CheckError is a build whose artifacts cannot all load together; the
// output directory is left as it was.
type CheckError struct {
	Result *check.Result
	Err    error
}

func (e *CheckError) Error() string {
	var b strings.Builder
	check.Render(&b, e.Result)
	return fmt.Sprintf("the built artifacts cannot load together:\n%s%v", b.String(), e.Err)
}

func (e *CheckError) Unwrap() error { return e.Err }

// Hint tells the user what to do.
func (e *CheckError) Hint() string {
	return "this should not happen to artifacts built together: report it, with the output above"
}

// CompileError is an artifact that did not build.
type CompileError struct {
	Name, Kind string
	Code       int
	Output     string
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("build %s %s: exit %d\n%s", e.Kind, e.Name, e.Code, strings.TrimSpace(e.Output))
}

// Hint tells the user what to do.
func (e *CompileError) Hint() string {
	if strings.Contains(e.Output, "no space left on device") {
		return "the Docker engine's disk is full (not your code): free space there (docker system df, docker builder prune) and build again"
	}
	return "fix the error the go command reports above; the output directory was left as it was"
}

// buildArtifacts builds every artifact in one network-less container into
// tmp, a new directory beside the output directory outDir, and returns the
// manifest entries of the last build's artifacts the go command kept.
func buildArtifacts(ctx context.Context, tmp, outDir string, ws *resolve.Workspace, stage string, tc *toolchain.Toolchain, m *manifests.Manifest, opts *Options) (map[string]manifests.Artifact, error) {
	var kept map[string]manifests.Artifact
	env := buildEnv(m)
	err := container.Use(ctx, opts.Engine, container.Spec{
		Image:   tc.Image,
		Step:    "build",
		Project: opts.project,
		Owner:   opts.Self.String(),
		Env:     env,
		Mounts:  buildMounts(),
	}, func(c *container.Container) error {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(archive.WriteDir(pw, stage, "src")) }()
		err := c.CopyTo(ctx, "/", pr)
		pr.Close()
		if err != nil {
			return err
		}
		outDirs := "/out"
		if hasPlugins(ws) {
			outDirs = "/out/plugins"
		}
		if code, err := c.Exec(ctx, container.Exec{Cmd: []string{"mkdir", "-p", outDirs}}); err != nil || code != 0 {
			return fmt.Errorf("prepare %s: exit %d: %v", outDirs, code, err)
		}
		var prev map[string]manifests.Artifact
		if !opts.Force {
			prev = previousArtifacts(ctx, outDir, ws)
		}
		given := sortedKeys(prev)
		if len(given) > 0 {
			opts.event("build", "%d artifacts of the last build given to the go command, which links only what changed", len(given))
			pr, pw := io.Pipe()
			go func() { pw.CloseWithError(archive.WriteFiles(pw, outDir, "out", given)) }()
			err := c.CopyTo(ctx, "/", pr)
			pr.Close()
			if err != nil {
				return err
			}
		}
		pinned := pin(ctx, c, given)
		if err := compileAll(ctx, c, ws, m, opts); err != nil {
			return err
		}
		if pinned {
			kept = keptArtifacts(ctx, c, prev, opts)
		}
		if len(kept) > 0 {
			// What was kept is in the output directory already: only the
			// new links travel.
			rm := append([]string{"rm", "-f", "--"}, prefixed("/out/", sortedKeys(kept))...)
			if code, err := c.Exec(ctx, container.Exec{Cmd: rm}); err != nil || code != 0 {
				kept = nil
			}
		}
		rc, err := c.CopyFrom(ctx, "/out")
		if err != nil {
			return err
		}
		defer rc.Close()
		if err := archive.Extract(rc, tmp, "out"); err != nil {
			return err
		}
		for f := range kept {
			if err := fsx.LinkOrCopy(filepath.Join(outDir, filepath.FromSlash(f)), filepath.Join(tmp, filepath.FromSlash(f))); err != nil {
				return fmt.Errorf("keep %s: %w", f, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return kept, nil
}

// buildMounts are the build container's: the Go build cache volume, and
// the go command's work directories (/tmp) in memory, off the container's
// root file system, whose storage driver may be slow to write (every
// object and every link passes through $WORK).
func buildMounts() []container.Mount {
	return []container.Mount{{Volume: CacheVolume, Target: "/root/.cache/go-build"}, {Target: "/tmp", Tmpfs: true}}
}

// pinDir holds, in the build container, a hard link to each of the last
// build's artifacts given to the go command. A link writes a new file,
// where an up-to-date file the go command keeps keeps its inode (it only
// updates the times); the pin keeps the old inode alive, so that a new
// file cannot get its number (file systems reuse a freed inode at once).
const pinDir = "/pbuild-kept"

// pin links the given artifacts into pinDir; false when it cannot, and
// then nothing is reported kept.
func pin(ctx context.Context, c *container.Container, given []string) bool {
	if len(given) == 0 {
		return false
	}
	if code, err := c.Exec(ctx, container.Exec{Cmd: []string{"mkdir", "-p", pinDir}}); err != nil || code != 0 {
		return false
	}
	cmd := append([]string{"cp", "-l", "--parents", "--"}, prefixed("out/", given)...)
	code, err := c.Exec(ctx, container.Exec{Cmd: append(cmd, pinDir), Dir: "/", Stdout: io.Discard, Stderr: io.Discard})
	return err == nil && code == 0
}

// keptArtifacts are the given artifacts the go command kept: still the
// pinned inode, and still the recorded bytes. It reports them.
func keptArtifacts(ctx context.Context, c *container.Container, given map[string]manifests.Artifact, opts *Options) map[string]manifests.Artifact {
	files := sortedKeys(given)
	var out bytes.Buffer
	cmd := append([]string{"stat", "-c", "%i %n", "--"}, prefixed("/out/", files)...)
	cmd = append(cmd, prefixed(pinDir+"/out/", files)...)
	if code, err := c.Exec(ctx, container.Exec{Cmd: cmd, Stdout: &out, Stderr: io.Discard}); err != nil || code != 0 {
		return nil
	}
	ino := fieldsByFile(out.String())
	var same []string
	for _, f := range files {
		if n := ino["/out/"+f]; n != "" && n == ino[pinDir+"/out/"+f] {
			same = append(same, f)
		}
	}
	kept := map[string]manifests.Artifact{}
	if len(same) > 0 {
		out.Reset()
		cmd := append([]string{"sha256sum", "--"}, prefixed("/out/", same)...)
		if code, err := c.Exec(ctx, container.Exec{Cmd: cmd, Stdout: &out, Stderr: io.Discard}); err != nil || code != 0 {
			return nil
		}
		sums := fieldsByFile(out.String())
		for _, f := range same {
			if sums["/out/"+f] == given[f].SHA256 {
				kept[f] = given[f]
			}
		}
	}
	opts.event("build", "kept %d of %d artifacts as up to date: %s", len(kept), len(given), strings.Join(sortedKeys(kept), " "))
	return kept
}

// fieldsByFile reads lines of "<value> <file>" (stat -c '%i %n', and
// sha256sum, which puts two spaces or " *" before the name).
func fieldsByFile(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if v, file, ok := strings.Cut(line, " "); ok {
			m[strings.TrimLeft(file, " *")] = v
		}
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func prefixed(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}

func hasPlugins(ws *resolve.Workspace) bool {
	for _, p := range ws.Packages {
		if p.Kind == resolve.KindPlugin {
			return true
		}
	}
	return false
}

// buildEnv is the environment of every compile, on either backend.
func buildEnv(m *manifests.Manifest) []string {
	env := []string{"GOWORK=/src/go.work", "GOTOOLCHAIN=local", "GOFLAGS=", "GOPROXY=off", "GOTELEMETRY=off", "HOME=/root", "GOCACHE=/root/.cache/go-build"}
	for _, k := range sortedKeys(m.Build.Env) {
		env = append(env, k+"="+m.Build.Env[k])
	}
	return env
}

// compileAll builds the host and the first plugin side by side (the first
// plugin fills the build cache with the standard library built for plugins),
// then every other plugin in parallel. All failures are reported.
func compileAll(ctx context.Context, c *container.Container, ws *resolve.Workspace, m *manifests.Manifest, opts *Options) error {
	pkgs := ws.Packages
	var phases [][]resolve.Package
	if len(pkgs) > 2 {
		phases = [][]resolve.Package{pkgs[:2], pkgs[2:]}
	} else {
		phases = [][]resolve.Package{pkgs}
	}
	var errs []error
	for _, phase := range phases {
		var wg sync.WaitGroup
		perr := make([]error, len(phase))
		for i, p := range phase {
			wg.Add(1)
			go func() {
				defer wg.Done()
				perr[i] = compile(ctx, c, p, m, opts)
			}()
		}
		wg.Wait()
		errs = append(errs, perr...)
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	return nil
}

func compile(ctx context.Context, c *container.Container, p resolve.Package, m *manifests.Manifest, opts *Options) error {
	start := time.Now()
	opts.event("build", "%s %s", p.Kind, p.Name)
	var out bytes.Buffer
	args := goBuildArgs(m.Build, m.ABIKey, p.Kind, "/out/"+artifactFile(p))
	code, err := c.Exec(ctx, container.Exec{Cmd: args, Dir: path.Join("/src", p.Rel), Stdout: &out, Stderr: &out})
	if err != nil {
		return err
	}
	if code != 0 {
		return &CompileError{Name: p.Name, Kind: p.Kind, Code: code, Output: out.String()}
	}
	opts.event("build", "%s %s done in %.1fs", p.Kind, p.Name, time.Since(start).Seconds())
	return nil
}

// inspectArtifacts reads every artifact into the manifest. A kept
// artifact's entry from the last manifest is used when the file still has
// its sha256: the entry is a function of the file's bytes.
func inspectArtifacts(ctx context.Context, dir string, ws *resolve.Workspace, m *manifests.Manifest, kept map[string]manifests.Artifact) error {
	for _, p := range ws.Packages {
		file := artifactFile(p)
		a, ok := kept[file]
		if !ok || !intact(ctx, dir, a) {
			var err error
			if a, err = manifests.InspectFile(ctx, filepath.Join(dir, filepath.FromSlash(file))); err != nil {
				return err
			}
		}
		a.Name, a.Kind, a.File = p.Name, p.Kind, file
		if p.Kind == resolve.KindPlugin && a.PluginPath != linkerPath(p.ImportPath) && a.PluginPath != p.ImportPath {
			return fmt.Errorf("plugin %s: pluginpath %q, want %q", p.Name, a.PluginPath, p.ImportPath)
		}
		m.Artifacts = append(m.Artifacts, a)
	}
	return nil
}

// linkerPath is an import path as the linker records it in symbol names and
// as a pluginpath: '%', '"' and non-printable or non-ASCII bytes escaped
// everywhere, and '.' in the last element too.
func linkerPath(p string) string {
	last := strings.LastIndex(p, "/")
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c <= ' ' || c == '%' || c == '"' || c >= 0x7f || (c == '.' && i > last) {
			fmt.Fprintf(&b, "%%%02x", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func writeManifest(file string, m *manifests.Manifest) error {
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := manifests.Write(f, m); err != nil {
		f.Close()
		return fmt.Errorf("write manifest: %w", err)
	}
	return f.Close()
}
