package builder

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/plan"
	"github.com/pbuild/pbuild/resolve"
	"github.com/pbuild/pbuild/toolchain"
)

// resolved is what the resolve step found.
type resolved struct {
	*resolve.Result
	vendor []resolve.VendorNote // the modules' own vendor/ directories
	diffs  []string             // the build list's differences from a rebuild's pin
}

// resolveWorkspace is the resolve step: one build list for the workspace,
// vendored into stage. Built against a released host, it takes rounds:
// modules below the host's versions are raised to them through the pins
// module, modules above them fail closed (resolve.Constraints.Round), the
// same on every backend.
func resolveWorkspace(ctx context.Context, p *plan.Plan, ws *resolve.Workspace, tc *toolchain.Toolchain, stage string, opts *Options) (*resolved, error) {
	opts.event(StepResolve, "go work vendor over %d modules on %s", len(ws.Modules), opts.Backend.Name())
	var constraints *resolve.Constraints
	if opts.Pin != nil && opts.Pin.Host {
		constraints = resolve.HostConstraints(opts.Pin.Manifest)
	}
	req := ResolveRequest{Toolchain: tc, Stage: stage, Env: plan.ResolveEnv(opts.ResolveEnv, len(opts.CABundle) > 0),
		CABundle: opts.CABundle, Graph: constraints != nil, Project: p.Project}
	pins := map[string]string{}
	var list []byte
	for round := 0; ; round++ {
		out, err := opts.Backend.Resolve(ctx, req)
		if err != nil {
			return nil, err
		}
		list = out.List
		if constraints == nil {
			break
		}
		mod, err := constraints.Round(round, out.List, pins, out.Graph)
		if err != nil {
			return nil, err
		}
		if mod == nil {
			break
		}
		if err := writeStaged(stage, resolve.PinsDir+"/go.mod", mod); err != nil {
			return nil, err
		}
		req.UseDirs = []string{resolve.PinsDir}
	}
	res, err := resolve.Finish(ws, stage, list, constraints)
	if err != nil {
		return nil, err
	}
	if err := stampResolved(stage); err != nil {
		return nil, err
	}
	r := &resolved{Result: res}
	if r.vendor, err = resolve.CheckOwnVendors(ws, stage); err != nil {
		return nil, err
	}
	if r.diffs, err = checkPinnedModules(opts.Pin, res.Modules); err != nil {
		return nil, err
	}
	for _, d := range r.diffs {
		opts.event(StepResolve, "build list differs from the pin: %s", d)
	}
	opts.event(StepResolve, "%d modules in the build list", len(res.Modules))
	return r, nil
}

// stampResolved gives the files the resolve step wrote the time their
// content decides, as Stage did for the rest (resolve.StampTimes): what
// both backends bring back from go work vendor, and the pins module
// (writeStaged). The sources are not read again.
func stampResolved(stage string) error {
	for _, p := range []string{"vendor", "go.work", "go.work.sum", resolve.PinsDir} {
		if err := resolve.StampTimes(filepath.Join(stage, filepath.FromSlash(p))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
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

// differences are what the build reports beside its artifacts: the raised
// requirements of modules some artifact links, and notes on every other way
// the build differs from what each module's go.mod and vendor/ ask for (the
// own vendor/ directories, and every replacement a module's go.mod or the
// go.work makes that other artifacts link too).
func differences(ws *resolve.Workspace, res *resolved, arts []manifests.Artifact, opts *Options) ([]resolve.Raised, []string) {
	raised, unlinked := linkedRaised(res.Raised, arts)
	for _, r := range raised {
		opts.event(StepResolve, "%s", r)
	}
	for _, r := range unlinked {
		opts.event(StepResolve, "%s (linked into no artifact)", r)
	}
	var notes []string
	for _, n := range res.vendor {
		notes = append(notes, n.String())
	}
	byName := map[string]resolve.Package{}
	for _, p := range ws.Packages {
		byName[p.Name] = p
	}
	for _, r := range resolve.Replacements(ws) {
		var others []string
		for _, a := range arts {
			p, ok := byName[a.Name]
			if _, links := a.BuildInfo.Deps[r.OldPath]; !links || ok && p.Module.Path == r.Module {
				continue
			}
			others = append(others, a.Kind+" "+a.Name)
		}
		if len(others) > 0 {
			notes = append(notes, fmt.Sprintf("%s for the whole workspace: %s build with it too", r, strings.Join(others, ", ")))
		}
	}
	for _, n := range notes {
		opts.event(StepResolve, "%s", n)
	}
	return raised, notes
}

// linkedRaised splits raised requirements into those of modules some
// artifact links, which the build reports, and the others (a test-only
// dependency of a local module, say), which change nothing that ships.
func linkedRaised(raised []resolve.Raised, arts []manifests.Artifact) (linked, unlinked []resolve.Raised) {
	for _, r := range raised {
		in := false
		for _, a := range arts {
			if _, ok := a.BuildInfo.Deps[r.Dep]; ok {
				in = true
				break
			}
		}
		if in {
			linked = append(linked, r)
		} else {
			unlinked = append(unlinked, r)
		}
	}
	return linked, unlinked
}
