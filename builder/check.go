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
		host, _ := pin.hostArtifact() // Pin.apply refused a manifest without one
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
