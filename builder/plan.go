package builder

import (
	"path/filepath"
	"strings"

	"github.com/pbuild/pbuild/config"
	"github.com/pbuild/pbuild/plan"
	"github.com/pbuild/pbuild/resolve"
)

// planBuild is the plan step: the plan of cfg with the pin applied, the
// workspace of its targets, and the output placed where replacing it
// cannot touch the project.
func planBuild(cfg *config.Config, opts *Options) (*plan.Plan, *resolve.Workspace, error) {
	p, err := plan.New(cfg, opts.Platform)
	if err != nil {
		return nil, nil, err
	}
	if opts.Output != "" {
		abs, err := filepath.Abs(opts.Output)
		if err != nil {
			return nil, nil, err
		}
		p.Output = abs
	}
	if pin := opts.Pin; pin != nil {
		if err := pin.apply(p, opts.event); err != nil {
			return nil, nil, err
		}
	}
	if _, ok := p.Host(); !ok && p.Loaded() && (opts.Pin == nil || (!opts.Pin.Host && opts.Pin.Manifest.Against == "")) {
		return nil, nil, &PinError{What: "nothing to load these plugins into", Details: []string{"the config declares no host"},
			hint: "declare the host in the config, or build the plugins against a released host: pbuild build --against HOST_MANIFEST"}
	}
	var dopts []resolve.Option
	if wf := resolve.FindWorkFile(p.Dir); wf != "" {
		dopts = append(dopts, resolve.WithWorkFile(wf))
	}
	ws, err := resolve.Discover(p.Targets, dopts...)
	if err != nil {
		return nil, nil, err
	}
	if err := checkPlacement(p.Output, p.Dir, ws); err != nil {
		return nil, nil, err
	}
	opts.event(StepPlan, "%d artifacts in %d local modules under %s", len(ws.Packages), len(ws.Modules), ws.Root)
	if ws.WorkFile != "" {
		var joined []string
		for _, m := range ws.Joined {
			joined = append(joined, m.Path)
		}
		opts.event(StepPlan, "the project's %s joins %d more modules: %s", ws.WorkFile, len(joined), strings.Join(joined, " "))
	}
	return p, ws, nil
}
