package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	dockerclient "github.com/docker/docker/client"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/util/progress/progressui"

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

func (b *BuildKit) solve(ctx context.Context, t *bkToolchain, st llb.State, src, out string) error {
	_, err := buildkitengine.Solve(ctx, b.Client, st, buildkitengine.SolveOptions{
		LocalDirs:   map[string]string{buildkitengine.SourceContext: src},
		OCIStores:   t.stores,
		OutputDir:   out,
		Progress:    b.Progress,
		ProgressOut: b.ProgressOut,
	})
	return err
}

// resolve runs `go list -m all` and `go work vendor` over the staged
// workspace on the daemon and brings vendor/ and go.work.sum back into it.
func (b *BuildKit) resolve(ctx context.Context, t *bkToolchain, ws *resolve.Workspace, stage string, opts *Options) (*resolve.Result, error) {
	st, err := buildkitengine.Resolve(t.tc, buildkitengine.ResolveSpec{Source: buildkitengine.Source(), Env: opts.ResolveEnv, CABundle: opts.CABundle})
	if err != nil {
		return nil, err
	}
	out, err := os.MkdirTemp(opts.TempDir, "pbuild-resolved-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(out)
	if err := b.solve(ctx, t, st, stage, out); err != nil {
		var ee *buildkitengine.ExecError
		if errors.As(err, &ee) {
			step, output := buildkitengine.ResolveFailure(ee.Output)
			return nil, &resolve.Error{Step: step, Code: ee.ExitCode, Output: output}
		}
		return nil, err
	}
	for _, name := range []string{buildkitengine.VendorDir, buildkitengine.WorkSumFile} {
		if err := os.Rename(filepath.Join(out, name), filepath.Join(stage, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("resolve: %w", err)
		}
	}
	list, err := os.ReadFile(filepath.Join(out, buildkitengine.BuildListFile))
	if err != nil {
		return nil, fmt.Errorf("resolve: %w", err)
	}
	return resolve.Finish(ws, stage, list, nil)
}

// compile builds every artifact, one Run each without network, and
// exports them into a fresh directory beside the output directory.
func (b *BuildKit) compile(ctx context.Context, t *bkToolchain, outDir string, ws *resolve.Workspace, stage string, m *manifests.Manifest, opts *Options) (string, error) {
	var arts []buildkitengine.Artifact
	for _, p := range ws.Packages {
		out := "/out/" + artifactFile(p)
		arts = append(arts, buildkitengine.Artifact{Name: p.Kind + " " + p.Name, Args: goBuildArgs(m.Build, m.ABIKey, p.Kind, out), Dir: path.Join("/src", p.Rel), Out: out})
	}
	st, err := buildkitengine.Compile(t.tc, buildkitengine.CompileSpec{Source: buildkitengine.Source(), Env: buildEnv(m), Artifacts: arts, CacheID: CacheVolume})
	if err != nil {
		return "", err
	}
	tmp, err := newOutputTemp(outDir)
	if err != nil {
		return "", err
	}
	if err := b.solve(ctx, t, st, stage, tmp); err != nil {
		os.RemoveAll(tmp)
		var ee *buildkitengine.ExecError
		if errors.As(err, &ee) {
			kind, name, _ := strings.Cut(strings.TrimPrefix(ee.Vertex, "build "), " ")
			return "", &CompileError{Name: name, Kind: kind, Code: ee.ExitCode, Output: ee.Output}
		}
		return "", err
	}
	return tmp, nil
}
