package builder

import (
	"context"

	"github.com/pbuild/pbuild/plan"
	"github.com/pbuild/pbuild/toolchain"
)

// ensureToolchain is the toolchain step: the pinned toolchain image, made
// when missing, and for a rebuild the recorded C compiler.
func ensureToolchain(ctx context.Context, p *plan.Plan, opts *Options) (*toolchain.Toolchain, error) {
	maker := &toolchain.Maker{Engine: opts.Engine, Fetcher: opts.Fetcher, Project: p.Project, Owner: opts.Self.String(),
		OnStep: func(m string) { opts.event(StepToolchain, "%s", m) }}
	s := p.Settings
	tc, err := maker.Ensure(ctx, toolchain.Spec{Go: s.Go, Base: s.Base, Sum: s.Sum, GOOS: p.Platform.OS, GOARCH: p.Platform.Arch})
	if err != nil {
		return nil, err
	}
	opts.event(StepToolchain, "%s in %s (%s)", tc.Go, tc.Image, tc.CC)
	if pin := opts.Pin; pin != nil && !pin.Host && tc.CC != pin.Manifest.Toolchain.CC {
		return nil, &PinError{What: "the C compiler differs from the recorded one",
			Details: []string{"recorded: " + pin.Manifest.Toolchain.CC, "here:     " + tc.CC},
			hint:    "use the recorded base image (toolchain.baseImage in the manifest)"}
	}
	return tc, nil
}
