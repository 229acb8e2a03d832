package builder

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/pbuild/pbuild/internal/fsx"
	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/plan"
	"github.com/pbuild/pbuild/resolve"
	"github.com/pbuild/pbuild/toolchain"
)

// compileTargets is the compile step of one platform: every package built
// on the backend into tmp, stamped with abiKey. The last build's artifacts
// in prev that are intact and up to date are kept: taken from there, not
// linked again. It returns their manifest entries, by file.
func compileTargets(ctx context.Context, p *plan.Plan, pl plan.Platform, pkgs []resolve.Package, ws *resolve.Workspace, tc *toolchain.Toolchain, stage, abiKey, tmp, prev string, opts *Options) (map[string]manifests.Artifact, error) {
	inputsOf, err := buildInputs(stage, ws)
	if err != nil {
		return nil, err
	}
	var phases [][]Unit
	for _, phase := range plan.Phases(pkgs) {
		var units []Unit
		for _, pkg := range phase {
			t := pkg.Target
			out := plan.OutDir + "/" + t.File()
			units = append(units, Unit{Target: t, Args: p.Settings.GoBuildArgs(t, abiKey, out), Dir: path.Join(plan.SourceDir, pkg.Rel), Out: out, Inputs: inputsOf(pkg)})
		}
		phases = append(phases, units)
	}
	req := CompileRequest{Toolchain: tc, Stage: stage, Phases: phases, Env: p.Settings.CompileEnv(pl, tc.CCCommand), Out: tmp,
		PreviousDir: prev, Force: opts.Force, Project: p.Project}
	if !opts.Force {
		req.Previous = previousArtifacts(ctx, prev, pkgs)
	}
	opts.event(StepCompile, "%d artifacts for %s on %s", len(pkgs), pl, opts.Backend.Name())
	res, err := opts.Backend.Compile(ctx, req)
	if err != nil {
		return nil, err
	}
	kept := map[string]manifests.Artifact{}
	for _, f := range res.Kept {
		a, ok := req.Previous[f]
		if !ok {
			continue
		}
		for _, af := range a.Files() {
			if err := keepFile(prev, tmp, af.File); err != nil {
				return nil, err
			}
		}
		kept[f] = a
	}
	if len(req.Previous) > 0 {
		opts.event(StepCompile, "kept %d of %d artifacts as up to date: %s", len(kept), len(req.Previous), strings.Join(slices.Sorted(maps.Keys(kept)), " "))
	}
	return kept, nil
}

// keepFile puts the last build's file f (slash-separated) of prev into
// tmp unless the compile wrote it.
func keepFile(prev, tmp, f string) error {
	dst := filepath.Join(tmp, filepath.FromSlash(f))
	if _, err := os.Lstat(dst); !os.IsNotExist(err) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("keep %s: %w", f, err)
	}
	if err := fsx.LinkOrCopy(filepath.Join(prev, filepath.FromSlash(f)), dst); err != nil {
		return fmt.Errorf("keep %s: %w", f, err)
	}
	return nil
}

// buildInputs returns, for a package of ws, the paths of the staged
// workspace (slash-separated, relative to it) that building it reads:
// go.work, go.work.sum and vendor/; the go.mod of every module go.work
// uses, as the go command loads them all; and the whole directories of
// the package's module and of the local modules it requires, directly or
// through other local modules. Nil, the whole workspace, when a module is
// the workspace's root directory, whose files cannot be told from the
// others'. go.work is read once, for all packages.
func buildInputs(stage string, ws *resolve.Workspace) (func(resolve.Package) []string, error) {
	data, err := os.ReadFile(filepath.Join(stage, "go.work"))
	if err != nil {
		return nil, fmt.Errorf("build inputs: %w", err)
	}
	wf, err := modfile.ParseWork("go.work", data, nil)
	if err != nil {
		return nil, fmt.Errorf("build inputs: %w", err)
	}
	shared := []string{"go.work", "go.work.sum"}
	if _, err := os.Stat(filepath.Join(stage, "vendor")); err == nil {
		shared = append(shared, "vendor")
	}
	for _, u := range wf.Use {
		dir := path.Clean(filepath.ToSlash(u.Path))
		if dir == "." || path.IsAbs(dir) || strings.HasPrefix(dir, "../") {
			return func(resolve.Package) []string { return nil }, nil
		}
		shared = append(shared, dir+"/go.mod")
	}
	byPath := map[string]*resolve.Module{}
	for _, m := range ws.Modules {
		byPath[m.Path] = m
	}
	return func(p resolve.Package) []string {
		inputs := slices.Clone(shared)
		seen := map[*resolve.Module]bool{}
		var visit func(m *resolve.Module) bool
		visit = func(m *resolve.Module) bool {
			if seen[m] {
				return true
			}
			seen[m] = true
			if m.Rel == "." {
				return false
			}
			inputs = append(inputs, m.Rel)
			for _, r := range m.File.Require {
				if dep, ok := byPath[r.Mod.Path]; ok && !visit(dep) {
					return false
				}
			}
			return true
		}
		if !visit(p.Module) {
			return nil
		}
		sort.Strings(inputs)
		return slices.Compact(inputs)
	}, nil
}
