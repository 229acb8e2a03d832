package builder

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/pbuild/pbuild/loader/abi"
	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/resolve"
)

// inspectArtifacts is the inspect step: every package's artifact in dir
// read (its sha256, build info, linker hashes; a C-ABI library's exported
// symbols, glibc needs and header), in target order. A kept artifact's
// entry from the last manifest is used when its files still have their
// sha256: the entry is a function of the files' bytes.
func inspectArtifacts(ctx context.Context, dir string, pkgs []resolve.Package, kept map[string]manifests.Artifact, opts *Options) ([]manifests.Artifact, error) {
	var arts []manifests.Artifact
	for _, p := range pkgs {
		file := p.File()
		a, ok := kept[file]
		if !ok || !intact(ctx, dir, a) {
			var err error
			if a, err = inspectFile(ctx, dir, p); err != nil {
				return nil, err
			}
		}
		a.Name, a.Kind, a.File, a.LoadedBy = p.Name, string(p.Kind), file, p.Kind.LoadedBy()
		if a.Header != nil {
			a.Header.File = p.Header()
		}
		if p.Kind.Loaded() && a.PluginPath != abi.LinkerPath(p.ImportPath) {
			return nil, fmt.Errorf("plugin %s: pluginpath %q, want %q", p.Name, a.PluginPath, p.ImportPath)
		}
		arts = append(arts, a)
	}
	opts.event(StepInspect, "%d artifacts read", len(arts))
	return arts, nil
}

// inspectFile reads the artifact of p in dir.
func inspectFile(ctx context.Context, dir string, p resolve.Package) (manifests.Artifact, error) {
	file := filepath.Join(dir, filepath.FromSlash(p.File()))
	if p.Kind.CABI() {
		return manifests.InspectLibrary(ctx, file, filepath.Join(dir, filepath.FromSlash(p.Header())))
	}
	return manifests.InspectFile(ctx, file)
}
