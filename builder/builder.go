package builder

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/pbuild/pbuild/check"
	"github.com/pbuild/pbuild/config"
	"github.com/pbuild/pbuild/internal/owner"
	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/plan"
	"github.com/pbuild/pbuild/resolve"
	"github.com/pbuild/pbuild/toolchain"
)

// Engine is what a build needs of the Docker engine whatever its backend:
// the toolchain image, and its containers (a killed build's are removed).
type Engine = toolchain.Engine

// Options are the environment a build runs in; the config says what to build.
type Options struct {
	// Engine makes the toolchain image; Backend resolves and compiles.
	Engine  Engine
	Backend Backend
	Fetcher *toolchain.Fetcher
	// Platform is the engine's.
	Platform plan.Platform
	// ResolveEnv is forwarded to the resolve step (GOPROXY, GOFLAGS, ...).
	ResolveEnv []string
	// CABundle is installed for the resolve step when set.
	CABundle []byte
	// TempDir holds this build's temporary directory; the system's
	// default when empty.
	TempDir string
	// OnEvent, when set, is told about progress.
	OnEvent func(Event)
	// Output, when set, is where the artifacts go instead of the config's
	// output directory.
	Output string
	// Pin, when set, fixes the build to a manifest (rebuild, --against).
	Pin *Pin
	// ToolID identifies the pbuild that builds (the digest of its
	// executable): a different pbuild never reuses an earlier output.
	ToolID string
	// Force builds even when the output directory is up to date, and links
	// every artifact again.
	Force bool
	// Self is the running pbuild: it marks the directories and labels the
	// containers it makes, so that a later pbuild can remove them if this
	// one is killed.
	Self owner.ID
	// OutputClean allows replacing an output directory pbuild did not
	// make (pbuild build --output-clean).
	OutputClean bool
}

// Step is a step of a build.
type Step string

// The steps of a build, in order, and the clean-up of killed builds'
// leftovers.
const (
	StepPlan      Step = "plan"
	StepCleanup   Step = "cleanup"
	StepToolchain Step = "toolchain"
	StepStage     Step = "stage"
	StepUpToDate  Step = "up-to-date"
	StepResolve   Step = "resolve"
	StepCompile   Step = "compile"
	StepInspect   Step = "inspect"
	StepCheck     Step = "check"
	StepInstall   Step = "install"
)

// Event is a progress report.
type Event struct {
	Step    Step
	Message string
}

func (o *Options) event(step Step, format string, args ...any) {
	if o.OnEvent != nil {
		o.OnEvent(Event{Step: step, Message: fmt.Sprintf(format, args...)})
	}
}

// Result is a successful build.
type Result struct {
	Dir string // the output directory
	// Manifests are the manifests of the build, one per platform, in the
	// plan's order; Manifest is the first's.
	Manifests []PlatformManifest
	Manifest  *manifests.Manifest
	Raised    []resolve.Raised
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

// PlatformManifest is the manifest of one platform's artifacts, in Dir
// (slash-separated, relative to the output directory; "" for its top
// level).
type PlatformManifest struct {
	Platform plan.Platform
	Dir      string
	Manifest *manifests.Manifest
}

// File is the manifest's file, slash-separated, relative to the output
// directory.
func (pm PlatformManifest) File() string { return path.Join(pm.Dir, manifests.FileName) }

// Build builds cfg. The output directory changes only when every artifact
// of every platform was built, checked and recorded, and only when pbuild
// made it.
func Build(ctx context.Context, cfg *config.Config, opts Options) (*Result, error) {
	p, ws, err := planBuild(cfg, &opts)
	if err != nil {
		return nil, err
	}
	out, err := openOutput(ctx, p, &opts)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	if err := sweep(ctx, &opts); err != nil {
		return nil, err
	}
	work, err := owner.MkdirTemp(tempDir(opts), workPrefix, opts.Self)
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	defer owner.RemoveMarked(work)

	tc, platformTC, err := ensureToolchain(ctx, p, &opts)
	if err != nil {
		return nil, err
	}
	stage := filepath.Join(work, "stage")
	inputs, err := stageWorkspace(ctx, p, ws, tc, stage, out.Skips, &opts)
	if err != nil {
		return nil, err
	}
	if !opts.Force {
		if ms, rec := upToDate(ctx, p, inputs); ms != nil {
			opts.event(StepUpToDate, "%s is up to date (inputs sha256:%s)", p.Output, inputs[:16])
			return &Result{Dir: p.Output, Manifests: ms, Manifest: ms[0].Manifest, Raised: rec.Raised, Notes: rec.Notes, UpToDate: true}, nil
		}
	}
	res, err := resolveWorkspace(ctx, p, ws, tc, stage, &opts)
	if err != nil {
		return nil, err
	}
	tmp, err := out.Temp()
	if err != nil {
		return nil, err
	}
	var ms []PlatformManifest
	var arts []manifests.Artifact
	for _, pl := range p.Platforms {
		pm, err := buildPlatform(ctx, p, pl, ws, platformTC[pl], stage, res, tmp, &opts)
		if err != nil {
			return nil, err
		}
		ms = append(ms, pm)
		arts = append(arts, pm.Manifest.Artifacts...)
	}
	raised, notes := differences(ws, res, arts, &opts)
	if err := install(ctx, out, tmp, ms, inputs, raised, notes, &opts); err != nil {
		return nil, err
	}
	return &Result{Dir: p.Output, Manifests: ms, Manifest: ms[0].Manifest, Raised: raised, Notes: notes, ModuleDiffs: res.diffs}, nil
}

// buildPlatform compiles, inspects and checks every target for one
// platform, with ptc, the toolchain building for it, into its directory of
// tmp, and writes its manifest there.
func buildPlatform(ctx context.Context, p *plan.Plan, pl plan.Platform, ws *resolve.Workspace, ptc *toolchain.Toolchain, stage string, res *resolved, tmp string, opts *Options) (PlatformManifest, error) {
	pm := PlatformManifest{Platform: pl, Dir: p.PlatformDir(pl)}
	dir := filepath.Join(tmp, filepath.FromSlash(pm.Dir))
	prev := filepath.Join(p.Output, filepath.FromSlash(pm.Dir))
	pkgs := platformPackages(ws, pl)
	abiKey, against := stamp(p, ptc, res.Modules, ws, opts.Pin)
	kept, err := compileTargets(ctx, p, pl, pkgs, ws, ptc, stage, abiKey, dir, prev, opts)
	if err != nil {
		return pm, err
	}
	arts, err := inspectArtifacts(ctx, dir, pkgs, kept, opts)
	if err != nil {
		return pm, err
	}
	pm.Manifest = renderManifest(p, ptc, res.Modules, arts, abiKey, against)
	if err := checkArtifacts(ctx, p, dir, pm.Manifest, opts); err != nil {
		return pm, err
	}
	if err := writeManifest(filepath.Join(dir, manifests.FileName), pm.Manifest); err != nil {
		return pm, err
	}
	return pm, nil
}

// tempDir is where this build's temporary directory goes.
func tempDir(opts Options) string {
	if opts.TempDir != "" {
		return opts.TempDir
	}
	return os.TempDir()
}

// workPrefix names this build's temporary directory: the staging copy and
// the BuildKit resolve outputs.
const workPrefix = "pbuild-"

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
