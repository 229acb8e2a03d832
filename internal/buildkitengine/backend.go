package buildkitengine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	dockerclient "github.com/docker/docker/client"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"

	"github.com/pbuild/pbuild/builder"
	"github.com/pbuild/pbuild/plan"
	"github.com/pbuild/pbuild/resolve"
	"github.com/pbuild/pbuild/toolchain"
)

// Backend runs a build's resolve and compile steps as LLB graphs on a
// BuildKit daemon: the one inside the Docker engine, or a remote buildkitd
// (builder.Backend).
type Backend struct {
	Client *client.Client
	// Remote is a daemon without the engine's image store: the toolchain
	// travels to it as an OCI layout, once per image.
	Remote bool
	// Docker exports the toolchain image for a remote daemon.
	Docker *dockerclient.Client
	// CacheDir keeps the exported OCI layouts.
	CacheDir string
	// Status, when set, is given every solve's progress.
	Status func(*client.SolveStatus)

	mu         sync.Mutex
	toolchains map[string]*daemonToolchain // by image ID
}

var _ builder.Backend = (*Backend)(nil)

// Name is "buildkit".
func (b *Backend) Name() string { return "buildkit" }

// daemonToolchain is the toolchain as the daemon sees it.
type daemonToolchain struct {
	tc     Toolchain
	stores map[string]string
}

func (b *Backend) toolchain(ctx context.Context, tc *toolchain.Toolchain) (*daemonToolchain, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t, ok := b.toolchains[tc.ImageID]; ok {
		return t, nil
	}
	t := &daemonToolchain{tc: ToolchainImage(tc.Image, nil)}
	if b.Remote {
		dir, manifest, err := OCILayout(ctx, b.Docker, tc.Image, filepath.Join(b.CacheDir, "buildkit"))
		if err != nil {
			return nil, fmt.Errorf("toolchain for the BuildKit daemon: %w", err)
		}
		t = &daemonToolchain{tc: ToolchainOCI(manifest, nil), stores: map[string]string{OCIStoreID: dir}}
	}
	if b.toolchains == nil {
		b.toolchains = map[string]*daemonToolchain{}
	}
	b.toolchains[tc.ImageID] = t
	return t, nil
}

// solveTimeout bounds one Solve, as the Docker engine's calls are bounded:
// a daemon that stops answering fails the build instead of hanging it.
const solveTimeout = 2 * time.Hour

// solveAttempts bounds how often a Solve is tried when BuildKit fails in a
// way that another try gets past (Transient).
const solveAttempts = 3

// solve solves st with src as the source context, exporting to out, and
// tries again after a transient failure of the daemon: what finished is in
// BuildKit's cache, so another try resumes where the failed one stopped.
func (b *Backend) solve(ctx context.Context, t *daemonToolchain, st llb.State, src, out string) (*SolveResult, error) {
	ctx, cancel := context.WithTimeout(ctx, solveTimeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		res, err := Solve(ctx, b.Client, st, SolveOptions{
			LocalDirs: map[string]string{SourceContext: src},
			OCIStores: t.stores,
			OutputDir: out,
			Status:    b.Status,
		})
		if err == nil || ctx.Err() != nil || !Transient(err) {
			return res, err
		}
		if attempt == solveAttempts {
			return res, fmt.Errorf("after %d attempts: %w", attempt, err)
		}
	}
}

// Resolve runs the resolve's commands, one Run each, on the staged
// workspace, and brings vendor/, go.work.sum and (with UseDirs) go.work
// back into it.
func (b *Backend) Resolve(ctx context.Context, r builder.ResolveRequest) (*builder.ResolveOutput, error) {
	t, err := b.toolchain(ctx, r.Toolchain)
	if err != nil {
		return nil, err
	}
	st, err := Resolve(t.tc, ResolveSpec{Source: Source(), Env: r.Env, CABundle: r.CABundle, UseDirs: r.UseDirs, Graph: r.Graph})
	if err != nil {
		return nil, err
	}
	out, err := os.MkdirTemp(filepath.Dir(r.Stage), "resolved-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(out)
	if _, err := b.solve(ctx, t, st, r.Stage, out); err != nil {
		var ee *ExecError
		if errors.As(err, &ee) {
			return nil, &resolve.Error{Step: ee.Vertex, Code: ee.ExitCode, Output: ee.Output}
		}
		return nil, err
	}
	var res builder.ResolveOutput
	if res.List, err = os.ReadFile(filepath.Join(out, BuildListFile)); err != nil {
		return nil, fmt.Errorf("resolve: %w", err)
	}
	if r.Graph {
		if res.Graph, err = os.ReadFile(filepath.Join(out, GraphFile)); err != nil {
			return nil, fmt.Errorf("resolve: %w", err)
		}
	}
	back := []string{VendorDir, WorkSumFile}
	if len(r.UseDirs) > 0 {
		back = append(back, WorkFile) // with the pins module
	}
	for _, name := range back {
		os.RemoveAll(filepath.Join(r.Stage, name))
		if err := os.Rename(filepath.Join(out, name), filepath.Join(r.Stage, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("resolve: %w", err)
		}
	}
	return &res, nil
}

// Compile builds every unit, one Run each without network, and exports
// them into r.Out. Runs whose result BuildKit has (their inputs did not
// change) are cached: their files are reported kept. With r.Force every
// Run runs.
func (b *Backend) Compile(ctx context.Context, r builder.CompileRequest) (*builder.CompileOutput, error) {
	t, err := b.toolchain(ctx, r.Toolchain)
	if err != nil {
		return nil, err
	}
	var arts []Artifact
	units := map[string]builder.Unit{}
	for _, phase := range r.Phases {
		for _, u := range phase {
			a := Artifact{Name: u.Target.String(), Args: u.Args, Dir: u.Dir, Out: u.Out, Inputs: u.Inputs}
			arts = append(arts, a)
			units[a.VertexName()] = u
		}
	}
	first := 0
	if len(r.Phases) > 1 {
		first = len(r.Phases[0])
	}
	st, err := Compile(t.tc, CompileSpec{Source: Source(), Env: r.Env, Artifacts: arts, First: first, CacheID: plan.GoCache, NoCache: r.Force})
	if err != nil {
		return nil, err
	}
	res, err := b.solve(ctx, t, st, r.Stage, r.Out)
	if err != nil {
		var ee *ExecError
		if errors.As(err, &ee) {
			if u, ok := units[ee.Vertex]; ok {
				return nil, &builder.CompileError{Name: u.Target.Name, Kind: string(u.Target.Kind), Code: ee.ExitCode, Output: ee.Output}
			}
		}
		return nil, err
	}
	var kept []string
	for name, u := range units {
		if s, ok := res.Step(name); ok && s.Cached {
			if _, given := r.Previous[u.Target.File()]; given {
				kept = append(kept, u.Target.File())
			}
		}
	}
	return &builder.CompileOutput{Kept: kept}, nil
}
