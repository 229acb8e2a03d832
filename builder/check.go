package builder

import (
	"context"

	"github.com/pbuild/pbuild/check"
	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/plan"
)

// checkArtifacts is the check step: every plugin in dir against the host
// and each other, and every C-ABI library as a C host needs it, as pbuild
// check would, before anything is installed. Plugins built against a
// released host are checked against its manifest entry.
func checkArtifacts(ctx context.Context, p *plan.Plan, dir string, m *manifests.Manifest, opts *Options) error {
	var verdict *check.Result
	var err error
	switch pin := opts.Pin; {
	case pin != nil && pin.Host:
		host, ok := pin.hostArtifact()
		if !ok {
			return &PinError{What: "the --against manifest lists no host", Details: []string{"it must be a released host's manifest"}, hint: "pass the manifest of a host release"}
		}
		verdict, err = check.DirAgainst(ctx, dir, m, host, check.Options{})
	default:
		if _, ok := p.Host(); !ok && p.Loaded() {
			opts.event(StepCheck, "skipped: the host of this plugin build is not here")
			return nil
		}
		verdict, err = check.Dir(ctx, dir, m, check.Options{})
	}
	if err != nil {
		return err
	}
	if err := verdict.Err(); err != nil {
		return &CheckError{Result: verdict, Err: err}
	}
	opts.event(StepCheck, "%s", check.Verdict(verdict))
	return nil
}
