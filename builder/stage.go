package builder

import (
	"context"

	"github.com/pbuild/pbuild/plan"
	"github.com/pbuild/pbuild/resolve"
	"github.com/pbuild/pbuild/toolchain"
)

// stageWorkspace is the stage step: a copy of the workspace's modules in
// stage (the user's files are only read; skip leaves out the output and
// what pbuild keeps beside it), and the digest of every input of the build.
func stageWorkspace(ctx context.Context, p *plan.Plan, ws *resolve.Workspace, tc *toolchain.Toolchain, stage string, skip func(string) bool, opts *Options) (string, error) {
	if err := resolve.Stage(ws, stage, p.Settings.Go, skip); err != nil {
		return "", err
	}
	inputs, err := inputsDigest(p, tc, stage, opts)
	if err != nil {
		return "", err
	}
	opts.event(StepStage, "%d modules staged, inputs sha256:%s", len(ws.Modules), inputs[:16])
	return inputs, nil
}
