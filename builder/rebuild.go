package builder

import (
	"fmt"
	"sort"
	"strings"

	"github.com/pbuild/pbuild/loader/abi"
	"github.com/pbuild/pbuild/manifests"
)

// ArtifactDiff is an artifact a rebuild did not reproduce, with where the
// difference comes from.
type ArtifactDiff struct {
	Name     string   `json:"name"`
	File     string   `json:"file"`
	Want     string   `json:"want"` // recorded sha256
	Got      string   `json:"got"`  // rebuilt sha256, "" if missing
	Causes   []string `json:"causes"`
	Packages []string `json:"packages"` // packages whose linker hashes differ
}

// CompareArtifacts compares the artifacts of a rebuild with the recorded
// ones.
func CompareArtifacts(want, got *manifests.Manifest) []ArtifactDiff {
	rebuilt := map[string]manifests.Artifact{}
	for _, a := range got.Artifacts {
		rebuilt[a.Name] = a
	}
	var diffs []ArtifactDiff
	for _, w := range want.Artifacts {
		g, ok := rebuilt[w.Name]
		if ok && g.SHA256 == w.SHA256 && g.File == w.File {
			continue
		}
		d := ArtifactDiff{Name: w.Name, File: w.File, Want: w.SHA256, Got: g.SHA256}
		if !ok {
			d.Causes = []string{"not rebuilt: the config has no such artifact"}
		} else {
			d.Causes = buildInfoDiff(w.BuildInfo, g.BuildInfo)
			d.Packages = packageDiff(w.Packages, g.Packages)
			if len(d.Causes) == 0 && len(d.Packages) == 0 {
				d.Causes = []string{"same build info and package hashes: the difference is in the main package or the link (ldflags, cgo objects)"}
			}
		}
		diffs = append(diffs, d)
	}
	return diffs
}

func buildInfoDiff(w, g manifests.BuildInfo) []string {
	var out []string
	if w.GoVersion != g.GoVersion {
		out = append(out, fmt.Sprintf("toolchain: recorded %s, rebuilt %s", w.GoVersion, g.GoVersion))
	}
	for _, k := range unionKeys(w.Settings, g.Settings) {
		if w.Settings[k] != g.Settings[k] {
			out = append(out, fmt.Sprintf("%s: recorded %s, rebuilt %s", k, abi.Unset(w.Settings[k]), abi.Unset(g.Settings[k])))
		}
	}
	for _, k := range unionKeys(w.Deps, g.Deps) {
		if w.Deps[k] != g.Deps[k] {
			out = append(out, fmt.Sprintf("%s: recorded %s, rebuilt %s", k, abi.Unset(w.Deps[k]), abi.Unset(g.Deps[k])))
		}
	}
	return out
}

func packageDiff(w, g map[string]string) []string {
	var out []string
	for _, k := range unionKeys(w, g) {
		if w[k] != g[k] {
			out = append(out, k)
		}
	}
	return out
}

func unionKeys(a, b map[string]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]string{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// RebuildError is a rebuild that did not reproduce every artifact.
type RebuildError struct {
	Diffs []ArtifactDiff
	// Modules are the build list's differences from the recorded one.
	Modules []string
}

func (e *RebuildError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "rebuild differs in %d artifacts:", len(e.Diffs))
	if len(e.Modules) > 0 {
		fmt.Fprintf(&b, "\n  the source resolves to another build list:")
		for _, m := range e.Modules {
			fmt.Fprintf(&b, "\n    %s", m)
		}
	}
	for _, d := range e.Diffs {
		fmt.Fprintf(&b, "\n  %s (%s): recorded sha256 %s, rebuilt %s", d.Name, d.File, short(d.Want), short(d.Got))
		for _, c := range d.Causes {
			fmt.Fprintf(&b, "\n    %s", c)
		}
		if len(d.Packages) > 0 {
			fmt.Fprintf(&b, "\n    packages: %s", abi.ListPackages(d.Packages, 5))
		}
	}
	return b.String()
}

// Hint tells the user what to do.
func (e *RebuildError) Hint() string {
	return "rebuild from the exact source the manifest was built from; the causes above point at what differs"
}

func short(sum string) string {
	if len(sum) > 16 {
		return sum[:16]
	}
	if sum == "" {
		return "(none)"
	}
	return sum
}
