package install

import (
	"fmt"
	"slices"

	"github.com/pbuild/pbuild/manifests"
)

// merge is the manifest of a release directory whose manifest was old
// (nil: none) once the dist's files are in it: the dist's, with the
// artifacts old lists and the dist's does not added, and their modules
// (those of a path the dist's does not list). It also returns the
// artifacts kept from old.
func merge(dir string, dist, old *manifests.Manifest) (*manifests.Manifest, []manifests.Artifact, error) {
	if old == nil {
		return dist, nil, nil
	}
	if old.ABIKey != dist.ABIKey {
		return nil, nil, &ABIError{Dir: dir, Have: old.ABIKey, Want: dist.ABIKey}
	}
	fail := func(format string, args ...any) error {
		return &MergeError{Dir: dir, Msg: fmt.Sprintf(format, args...)}
	}
	byFile := map[string]manifests.Artifact{}
	byName := map[string]manifests.Artifact{}
	for _, a := range dist.Artifacts {
		byFile[a.File], byName[a.Name] = a, a
	}
	var kept []manifests.Artifact
	for _, a := range old.Artifacts {
		if n, ok := byFile[a.File]; ok {
			if n.SHA256 != a.SHA256 {
				return nil, nil, fail("it lists %s with sha256 %s, the dist's with %s", a.File, a.SHA256, n.SHA256)
			}
			continue
		}
		if n, ok := byName[a.Name]; ok {
			return nil, nil, fail("artifact %s is %s in it and %s in the dist's", a.Name, a.File, n.File)
		}
		kept = append(kept, a)
	}
	merged := *dist
	merged.Artifacts = append(slices.Clone(dist.Artifacts), kept...)
	merged.Modules = slices.Clone(dist.Modules)
	paths := map[string]bool{}
	for _, m := range dist.Modules {
		paths[m.Path] = true
	}
	for _, m := range old.Modules {
		if !paths[m.Path] {
			merged.Modules = append(merged.Modules, m)
			paths[m.Path] = true
		}
	}
	if err := merged.Validate(); err != nil {
		return nil, nil, fail("%v", err)
	}
	return &merged, kept, nil
}
