package builder

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/pbuild/pbuild/loader/abi"
	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/resolve"
)

// inspectArtifacts is the inspect step: every artifact in dir read (its
// sha256, build info, linker hashes), in target order. A kept artifact's
// entry from the last manifest is used when the file still has its sha256:
// the entry is a function of the file's bytes.
func inspectArtifacts(ctx context.Context, dir string, ws *resolve.Workspace, kept map[string]manifests.Artifact, opts *Options) ([]manifests.Artifact, error) {
	var arts []manifests.Artifact
	for _, p := range ws.Packages {
		file := p.File()
		a, ok := kept[file]
		if !ok || !intact(ctx, dir, a) {
			var err error
			if a, err = manifests.InspectFile(ctx, filepath.Join(dir, filepath.FromSlash(file))); err != nil {
				return nil, err
			}
		}
		a.Name, a.Kind, a.File = p.Name, string(p.Kind), file
		if p.Kind.Loaded() && a.PluginPath != abi.LinkerPath(p.ImportPath) {
			return nil, fmt.Errorf("plugin %s: pluginpath %q, want %q", p.Name, a.PluginPath, p.ImportPath)
		}
		arts = append(arts, a)
	}
	opts.event(StepInspect, "%d artifacts read", len(arts))
	return arts, nil
}
