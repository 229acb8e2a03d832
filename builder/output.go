package builder

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/pbuild/pbuild/internal/container"
	"github.com/pbuild/pbuild/internal/fsx"
	"github.com/pbuild/pbuild/internal/outdir"
	"github.com/pbuild/pbuild/internal/owner"
	"github.com/pbuild/pbuild/plan"
	"github.com/pbuild/pbuild/resolve"
)

// PlacementError is an output directory that would replace the project's
// own files.
type PlacementError struct {
	Output string
	Msg    string
}

func (e *PlacementError) Error() string { return fmt.Sprintf("output %s %s", e.Output, e.Msg) }

// Hint tells the user what to do.
func (e *PlacementError) Hint() string {
	return "set output in the config (or --out) to a directory of its own, such as dist beside pbuild.yaml"
}

// checkPlacement makes sure that the output directory, with every symbolic
// link resolved, is neither the config's directory nor a local module's,
// and holds none of them: replacing it must not touch the project. (The
// config checks the same by name; links can hide it, as `ln -s . lnk` and
// output lnk/plugins do.)
func checkPlacement(out, configDir string, ws *resolve.Workspace) error {
	realOut, err := fsx.RealPath(out)
	if err != nil {
		return fmt.Errorf("output %s: %w", out, err)
	}
	dirs := []struct{ what, dir string }{{"the config's directory", configDir}}
	for _, m := range ws.Modules {
		dirs = append(dirs, struct{ what, dir string }{"module " + m.Path, m.Dir})
	}
	for _, d := range dirs {
		real, err := fsx.RealPath(d.dir)
		if err != nil {
			return fmt.Errorf("output %s: %w", out, err)
		}
		switch {
		case real == realOut:
			return &PlacementError{Output: out, Msg: fmt.Sprintf("is %s (%s)", d.what, real)}
		case inside(realOut, real):
			return &PlacementError{Output: out, Msg: fmt.Sprintf("holds %s (%s)", d.what, real)}
		}
	}
	return nil
}

// inside reports whether path lies below dir (both clean and absolute).
func inside(dir, path string) bool {
	return strings.HasPrefix(path, strings.TrimSuffix(dir, string(filepath.Separator))+string(filepath.Separator))
}

// sweep removes what killed pbuild processes on this machine left: their
// temporary directories and their containers. What live builds and other
// machines use is left alone.
func sweep(ctx context.Context, opts *Options) error {
	dirs, err := owner.Sweep(tempDir(*opts), workPrefix, opts.Self)
	for _, d := range dirs {
		opts.event(StepCleanup, "removed %s, left by a pbuild that was killed", d)
	}
	if err != nil {
		return fmt.Errorf("clean up after killed builds: %w", err)
	}
	if opts.Engine == nil {
		return nil
	}
	gone, err := container.Sweep(ctx, opts.Engine, opts.Self)
	for _, c := range gone {
		opts.event(StepCleanup, "removed %s container %.12s, left by pbuild process %d that was killed", c.Labels[container.Label+".step"], c.ID, c.Owner.PID)
	}
	if err != nil {
		return fmt.Errorf("clean up after killed builds: %w", err)
	}
	return nil
}

// openOutput locks the output directory for this build, waiting while
// another pbuild builds into it, and checks that it may be replaced.
func openOutput(ctx context.Context, p *plan.Plan, opts *Options) (*outdir.Dir, error) {
	return outdir.Open(ctx, p.Output, outdir.Options{Self: opts.Self, Clean: opts.OutputClean, OnWait: func(holder string) {
		opts.event(StepInstall, "waiting for %s, which builds into %s", holder, p.Output)
	}})
}

// install is the install step: the inputs record written into tmp, which
// holds the artifacts and manifests ms, and tmp swapped into the output's
// place.
func install(ctx context.Context, out *outdir.Dir, tmp string, ms []PlatformManifest, inputs string, raised []resolve.Raised, notes []string, opts *Options) error {
	if err := writeInputs(ctx, tmp, inputs, ms, raised, notes); err != nil {
		return err
	}
	if err := out.Install(tmp); err != nil {
		return err
	}
	opts.event(StepInstall, "%s", out.Path())
	return nil
}
