package builder

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/pbuild/pbuild/config"
	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/plan"
)

// Pin fixes a build to a manifest: `pbuild rebuild` reproduces exactly
// what a manifest records; `pbuild build --against` builds plugins for the
// released host a manifest describes.
type Pin struct {
	Manifest *manifests.Manifest
	// Host makes this a plugin build against a released host: the host's
	// toolchain, settings and module versions bind the plugins, and their
	// manifest carries the host's ABI key. Otherwise the build list must
	// be exactly the recorded one.
	Host bool
	// SHA256 is the manifest file's digest, recorded as Against.
	SHA256 string
	// Source names the manifest in errors (its file).
	Source string
}

// hostArtifact is the pinned manifest's host.
func (p *Pin) hostArtifact() (manifests.Artifact, bool) {
	for _, a := range p.Manifest.Artifacts {
		if a.Kind == manifests.KindHost {
			return a, true
		}
	}
	return manifests.Artifact{}, false
}

// Check applies the config's rules to the settings the pin would impose:
// the manifest is input, and gets the checks a config gets.
func (p *Pin) Check() error {
	s := p.settings()
	if s.Base == "" {
		s.Base = config.DefaultBase
	}
	return (&plan.Plan{}).Pin(p.Source, s)
}

// settings are the pinned manifest's build settings.
func (p *Pin) settings() plan.Settings {
	m := p.Manifest
	env := map[string]string{}
	for k, v := range m.Build.Env {
		if k != "CGO_ENABLED" { // pbuild's, not the config's
			env[k] = v
		}
	}
	return plan.Settings{
		Go: strings.TrimPrefix(m.Toolchain.Go, "go"), Base: m.Toolchain.BaseImage, Sum: m.Toolchain.ModuleSum,
		Packages: slices.Clone(m.Toolchain.Packages),
		Tags:     slices.Clone(m.Build.Tags), Ldflags: m.Build.Ldflags, Env: env,
	}
}

// apply gives the plan the pin's toolchain and build settings.
func (p *Pin) apply(pl *plan.Plan, event func(step Step, format string, args ...any)) error {
	if _, ok := p.hostArtifact(); p.Host && !ok {
		return &PinError{What: "the --against manifest lists no host", Details: []string{"it must be a released host's manifest"}, hint: "pass the manifest of a host release"}
	}
	s := p.settings()
	if s.Base == "" {
		s.Base = pl.Settings.Base
	}
	if pl.Settings.Go != s.Go {
		event(StepPlan, "toolchain go%s as recorded (the config says %s)", s.Go, pl.Settings.Go)
	}
	if t := p.Manifest.Toolchain; t.GOOS != "" && t.GOARCH != "" {
		// A manifest records one platform's build.
		platform := plan.Platform{OS: t.GOOS, Arch: t.GOARCH}
		if pl.Split || pl.Platforms[0] != platform {
			event(StepPlan, "for %s as recorded, into the output's top level", platform)
		}
		if err := pl.PinPlatform(platform); err != nil {
			return err
		}
	}
	return pl.Pin(p.Source, s)
}

// PinError is a build that cannot keep to its pin.
type PinError struct {
	What    string
	Details []string
	hint    string
}

func (e *PinError) Error() string {
	return e.What + ":\n  " + strings.Join(e.Details, "\n  ")
}

// Hint tells the user what to do.
func (e *PinError) Hint() string { return e.hint }

// checkPinnedModules compares the resolved build list with the pin: for a
// rebuild, it must be the recorded one; against a host, local modules the
// host also has must have the host's content.
// For a rebuild the differences are returned, not failed on, so that the
// rebuild can go on and show which artifacts they change.
func checkPinnedModules(p *Pin, got []manifests.Module) ([]string, error) {
	if p == nil {
		return nil, nil
	}
	want := map[string]manifests.Module{}
	for _, m := range p.Manifest.Modules {
		want[m.Path] = m
	}
	var diffs []string
	if p.Host {
		for _, m := range got {
			if w, ok := want[m.Path]; ok && m.Local && w.Local && w.Sum != m.Sum {
				diffs = append(diffs, fmt.Sprintf("%s: your copy hashes to %s, the host was built with %s", m.Path, m.Sum, w.Sum))
			}
		}
		if len(diffs) > 0 {
			return nil, &PinError{What: "local modules differ from the ones the host was built with", Details: diffs,
				hint: "use the host release's version of these modules (its API must not change)"}
		}
		return nil, nil
	}
	seen := map[string]bool{}
	for _, m := range got {
		seen[m.Path] = true
		w, ok := want[m.Path]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s %s: not in the recorded build list", m.Path, describeModule(m)))
		case w.Version != m.Version || w.Replace != m.Replace || w.Sum != m.Sum:
			diffs = append(diffs, fmt.Sprintf("%s: recorded %s, resolved %s", m.Path, describeModule(w), describeModule(m)))
		}
	}
	for _, m := range p.Manifest.Modules {
		if !seen[m.Path] {
			diffs = append(diffs, fmt.Sprintf("%s %s: recorded, but not resolved from this source", m.Path, describeModule(m)))
		}
	}
	sort.Strings(diffs)
	return diffs, nil
}

func describeModule(m manifests.Module) string {
	s := m.Version
	if m.Local {
		s = "(local " + m.Dir + ")"
	}
	if m.Replace != "" {
		s += " => " + m.Replace
	}
	return s + " " + m.Sum
}
