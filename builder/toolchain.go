package builder

import (
	"context"
	"strings"

	"github.com/pbuild/pbuild/plan"
	"github.com/pbuild/pbuild/resolve"
	"github.com/pbuild/pbuild/toolchain"
)

// ensureToolchain is the toolchain step: the pinned toolchain image, with
// the config's packages and the C cross compilers of the plan's platforms,
// made when missing. It returns the engine's toolchain and, by platform,
// the toolchain building for it.
func ensureToolchain(ctx context.Context, p *plan.Plan, opts *Options) (*toolchain.Toolchain, map[plan.Platform]*toolchain.Toolchain, error) {
	maker := &toolchain.Maker{Engine: opts.Engine, Fetcher: opts.Fetcher, Project: p.Project, Owner: opts.Self.String(),
		OnStep: func(m string) { opts.event(StepToolchain, "%s", m) }}
	s := p.Settings
	spec := toolchain.Spec{Go: s.Go, Base: s.Base, Sum: s.Sum, GOOS: p.Engine.OS, GOARCH: p.Engine.Arch, Packages: s.Packages}
	for _, pl := range p.Platforms {
		spec.Targets = append(spec.Targets, pl.String())
	}
	tc, err := maker.Ensure(ctx, spec)
	if err != nil {
		return nil, nil, err
	}
	opts.event(StepToolchain, "%s in %s (%s)", tc.Go, tc.Image, tc.CC)
	if len(tc.Packages) > 0 {
		opts.event(StepToolchain, "packages %s", strings.Join(tc.Packages, " "))
	}
	byPlatform := map[plan.Platform]*toolchain.Toolchain{}
	for _, pl := range p.Platforms {
		ptc, err := platformToolchain(pl, tc, opts.Pin)
		if err != nil {
			return nil, nil, err
		}
		if pl != p.Engine {
			opts.event(StepToolchain, "%s with %s (%s)", pl, ptc.CCCommand, ptc.CC)
		}
		byPlatform[pl] = ptc
	}
	return tc, byPlatform, nil
}

// platformToolchain is the toolchain building for pl: tc, or tc with pl's
// cross compiler. A rebuild must find the recorded C compiler.
func platformToolchain(pl plan.Platform, tc *toolchain.Toolchain, pin *Pin) (*toolchain.Toolchain, error) {
	ptc, err := tc.For(pl.OS, pl.Arch)
	if err != nil {
		return nil, err
	}
	if pin != nil && !pin.Host && ptc.CC != pin.Manifest.Toolchain.CC {
		return nil, &PinError{What: "the C compiler differs from the recorded one",
			Details: []string{"recorded: " + pin.Manifest.Toolchain.CC, "here:     " + ptc.CC},
			hint:    "use the recorded base image (toolchain.baseImage in the manifest)"}
	}
	return ptc, nil
}

// platformPackages are the workspace's packages with their targets made
// for pl, in target order.
func platformPackages(ws *resolve.Workspace, pl plan.Platform) []resolve.Package {
	pkgs := make([]resolve.Package, len(ws.Packages))
	for i, pkg := range ws.Packages {
		pkg.Platform = pl
		pkgs[i] = pkg
	}
	return pkgs
}
