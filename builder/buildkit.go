package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	dockerclient "github.com/docker/docker/client"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/util/progress/progressui"
	"golang.org/x/mod/modfile"

	"github.com/pbuild/pbuild/internal/buildkitengine"
	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/resolve"
	"github.com/pbuild/pbuild/toolchain"
)

// BuildKit runs the resolve and compile steps as one LLB graph each on a
// BuildKit daemon: the one inside the Docker engine, or a remote buildkitd.
// The toolchain image is still made and probed in the Docker engine.
type BuildKit struct {
	Client *client.Client
	// Remote is a daemon without the engine's image store: the toolchain
	// travels to it as an OCI layout, once per image.
	Remote bool
	// Docker exports the toolchain image for a remote daemon.
	Docker *dockerclient.Client
	// CacheDir keeps the exported OCI layouts.
	CacheDir    string
	Progress    progressui.DisplayMode
	ProgressOut io.Writer
}

// bkToolchain is the toolchain as the daemon sees it.
type bkToolchain struct {
	tc     buildkitengine.Toolchain
	stores map[string]string
}

func (b *BuildKit) toolchain(ctx context.Context, tc *toolchain.Toolchain) (*bkToolchain, error) {
	if !b.Remote {
		return &bkToolchain{tc: buildkitengine.ToolchainImage(tc.Image, nil)}, nil
	}
	dir, manifest, err := buildkitengine.OCILayout(ctx, b.Docker, tc.Image, filepath.Join(b.CacheDir, "buildkit"))
	if err != nil {
		return nil, fmt.Errorf("toolchain for the BuildKit daemon: %w", err)
	}
	return &bkToolchain{tc: buildkitengine.ToolchainOCI(manifest, nil), stores: map[string]string{buildkitengine.OCIStoreID: dir}}, nil
}

// solveTimeout bounds one Solve, as the Docker engine's calls are bounded:
// a daemon that stops answering fails the build instead of hanging it.
const solveTimeout = 2 * time.Hour

// solveAttempts bounds how often a Solve is tried when BuildKit fails in a
// way that another try gets past (buildkitengine.Transient).
const solveAttempts = 3

// solve solves st with src as the source context, exporting to out, and
// tries again after a transient failure of the daemon: what finished is in
// BuildKit's cache, so another try resumes where the failed one stopped.
func (b *BuildKit) solve(ctx context.Context, t *bkToolchain, st llb.State, src, out string, opts *Options) error {
	ctx, cancel := context.WithTimeout(ctx, solveTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		_, err := buildkitengine.Solve(ctx, b.Client, st, buildkitengine.SolveOptions{
			LocalDirs:   map[string]string{buildkitengine.SourceContext: src},
			OCIStores:   t.stores,
			OutputDir:   out,
			Progress:    b.Progress,
			ProgressOut: b.ProgressOut,
		})
		if err == nil || ctx.Err() != nil || !buildkitengine.Transient(err) {
			return err
		}
		if attempt == solveAttempts {
			return fmt.Errorf("after %d attempts: %w", attempt, err)
		}
		opts.event("buildkit", "%v; solving again (attempt %d of %d)", err, attempt+1, solveAttempts)
	}
}

// resolve runs `go list -m all` and `go work vendor` over the staged
// workspace on the daemon and brings vendor/ and go.work.sum back into it.
// Built against a host's manifest, it takes rounds as the Docker backend's
// resolver does (resolve.Constraints.Round), one Solve each: a round that
// raises modules stages the pins module, which the next round adds to
// go.work, and the last round's go.work comes back too.
func (b *BuildKit) resolve(ctx context.Context, t *bkToolchain, ws *resolve.Workspace, stage string, opts *Options) (*resolve.Result, error) {
	var constraints *resolve.Constraints
	if opts.Pin != nil && opts.Pin.Host {
		constraints = resolve.HostConstraints(opts.Pin.Manifest)
	}
	pins := map[string]string{}
	for round := 0; ; round++ {
		spec := buildkitengine.ResolveSpec{Source: buildkitengine.Source(), Env: opts.ResolveEnv, CABundle: opts.CABundle, Graph: constraints != nil}
		if round > 0 {
			spec.UseDirs = []string{resolve.PinsDir}
		}
		out, list, err := b.resolveRound(ctx, t, spec, stage, opts)
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(out)
		if constraints != nil {
			mod, err := constraints.Round(round, list, pins, func() ([]byte, error) {
				return os.ReadFile(filepath.Join(out, buildkitengine.GraphFile))
			})
			if err != nil {
				return nil, err
			}
			if mod != nil {
				if err := writeStaged(stage, resolve.PinsDir+"/go.mod", mod); err != nil {
					return nil, err
				}
				continue
			}
		}
		back := []string{buildkitengine.VendorDir, buildkitengine.WorkSumFile}
		if len(spec.UseDirs) > 0 {
			back = append(back, buildkitengine.WorkFile) // with the pins module
		}
		for _, name := range back {
			if err := os.Rename(filepath.Join(out, name), filepath.Join(stage, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("resolve: %w", err)
			}
		}
		return resolve.Finish(ws, stage, list, constraints)
	}
}

// resolveRound solves one resolve Run over the staged workspace into a new
// directory, which it returns with the listed build list.
func (b *BuildKit) resolveRound(ctx context.Context, t *bkToolchain, spec buildkitengine.ResolveSpec, stage string, opts *Options) (string, []byte, error) {
	st, err := buildkitengine.Resolve(t.tc, spec)
	if err != nil {
		return "", nil, err
	}
	out, err := os.MkdirTemp(opts.work, "resolved-*")
	if err != nil {
		return "", nil, err
	}
	if err := b.solve(ctx, t, st, stage, out, opts); err != nil {
		os.RemoveAll(out)
		var ee *buildkitengine.ExecError
		if errors.As(err, &ee) {
			step, output := buildkitengine.ResolveFailure(ee.Output)
			return "", nil, &resolve.Error{Step: step, Code: ee.ExitCode, Output: output}
		}
		return "", nil, err
	}
	list, err := os.ReadFile(filepath.Join(out, buildkitengine.BuildListFile))
	if err != nil {
		os.RemoveAll(out)
		return "", nil, fmt.Errorf("resolve: %w", err)
	}
	return out, list, nil
}

// writeStaged writes a file of the staged workspace, rel being slash-separated.
func writeStaged(stage, rel string, data []byte) error {
	file := filepath.Join(stage, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("stage %s: %w", rel, err)
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		return fmt.Errorf("stage %s: %w", rel, err)
	}
	return nil
}

// compile builds every artifact, one Run each without network, and
// exports them into tmp, a new directory beside the output directory. As on
// the Docker backend (compileAll), the host and the first plugin build
// first, the others when they are done; each Run sees only the part of the
// workspace its artifact is built from (buildInputs).
func (b *BuildKit) compile(ctx context.Context, t *bkToolchain, tmp string, ws *resolve.Workspace, stage string, m *manifests.Manifest, opts *Options) error {
	var arts []buildkitengine.Artifact
	for _, p := range ws.Packages {
		inputs, err := buildInputs(stage, ws, p)
		if err != nil {
			return err
		}
		out := "/out/" + artifactFile(p)
		arts = append(arts, buildkitengine.Artifact{Name: p.Kind + " " + p.Name, Args: goBuildArgs(m.Build, m.ABIKey, p.Kind, out), Dir: path.Join("/src", p.Rel), Out: out, Inputs: inputs})
	}
	first := 0
	if len(arts) > 2 {
		first = 2
	}
	st, err := buildkitengine.Compile(t.tc, buildkitengine.CompileSpec{Source: buildkitengine.Source(), Env: buildEnv(m), Artifacts: arts, First: first, CacheID: CacheVolume})
	if err != nil {
		return err
	}
	if err := b.solve(ctx, t, st, stage, tmp, opts); err != nil {
		var ee *buildkitengine.ExecError
		if errors.As(err, &ee) {
			kind, name, _ := strings.Cut(strings.TrimPrefix(ee.Vertex, "build "), " ")
			return &CompileError{Name: name, Kind: kind, Code: ee.ExitCode, Output: ee.Output}
		}
		return err
	}
	return nil
}

// buildInputs are the paths of the staged workspace (slash-separated,
// relative to it) that building p reads: go.work, go.work.sum and vendor/;
// the go.mod of every module go.work uses, as the go command loads them
// all; and the whole directories of p's module and of the local modules it
// requires, directly or through other local modules. An edit anywhere else
// leaves p's Run a cache hit on BuildKit. Nil, the whole workspace, when a
// module is the workspace's root directory, whose files cannot be told
// from the others'.
func buildInputs(stage string, ws *resolve.Workspace, p resolve.Package) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(stage, "go.work"))
	if err != nil {
		return nil, fmt.Errorf("build inputs: %w", err)
	}
	wf, err := modfile.ParseWork("go.work", data, nil)
	if err != nil {
		return nil, fmt.Errorf("build inputs: %w", err)
	}
	inputs := []string{"go.work", "go.work.sum"}
	if _, err := os.Stat(filepath.Join(stage, "vendor")); err == nil {
		inputs = append(inputs, "vendor")
	}
	for _, u := range wf.Use {
		dir := path.Clean(filepath.ToSlash(u.Path))
		if dir == "." || path.IsAbs(dir) || strings.HasPrefix(dir, "../") {
			return nil, nil
		}
		inputs = append(inputs, dir+"/go.mod")
	}
	byPath := map[string]*resolve.Module{}
	for _, m := range ws.Modules {
		byPath[m.Path] = m
	}
	seen := map[*resolve.Module]bool{}
	var visit func(m *resolve.Module) bool
	visit = func(m *resolve.Module) bool {
		if seen[m] {
			return true
		}
		seen[m] = true
		if m.Rel == "." {
			return false
		}
		inputs = append(inputs, m.Rel)
		for _, r := range m.File.Require {
			if dep, ok := byPath[r.Mod.Path]; ok && !visit(dep) {
				return false
			}
		}
		return true
	}
	if !visit(p.Module) {
		return nil, nil
	}
	sort.Strings(inputs)
	return slices.Compact(inputs), nil
}
