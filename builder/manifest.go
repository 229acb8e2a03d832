package builder

import (
	"fmt"
	"os"
	"slices"

	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/plan"
	"github.com/pbuild/pbuild/resolve"
	"github.com/pbuild/pbuild/toolchain"
)

// manifestToolchain and manifestBuild are what the manifest records of the
// toolchain and the settings; the ABI key is a hash of them and of the
// modules.
func manifestToolchain(p *plan.Plan, tc *toolchain.Toolchain) manifests.Toolchain {
	goamd64 := ""
	if tc.GOARCH == "amd64" {
		goamd64 = tc.GOAMD64
		if v, ok := p.Settings.Env["GOAMD64"]; ok {
			goamd64 = v
		}
	}
	return manifests.Toolchain{
		Go: tc.Go, Module: tc.Module, ModuleSum: tc.ModuleSum,
		BaseImage: tc.BaseImage, BaseImageID: tc.BaseImageID,
		Image: tc.Image, ImageID: tc.ImageID,
		GOOS: tc.GOOS, GOARCH: tc.GOARCH, GOAMD64: goamd64, CC: tc.CC,
		Packages: slices.Sorted(slices.Values(p.Settings.Packages)),
	}
}

func manifestBuild(s plan.Settings) manifests.Build {
	env := map[string]string{"CGO_ENABLED": "1"}
	for k, v := range s.Env {
		env[k] = v
	}
	return manifests.Build{Flags: plan.Flags(), Tags: slices.Clone(s.Tags), Ldflags: s.Ldflags, Env: env}
}

// stamp is the ABI key the artifacts are stamped with, known before they
// are built, and the against field of their manifest: a plugin build
// against a released host takes the host's key, a rebuild the recorded
// one.
func stamp(p *plan.Plan, tc *toolchain.Toolchain, mods []manifests.Module, ws *resolve.Workspace, pin *Pin) (abiKey, against string) {
	switch {
	case pin != nil && pin.Host:
		return pin.Manifest.ABIKey, pin.SHA256
	case pin != nil:
		return pin.Manifest.ABIKey, pin.Manifest.Against
	}
	return manifests.ABIKey(manifestToolchain(p, tc), manifestBuild(p.Settings), abiModules(mods, sharedModules(ws))), ""
}

// renderManifest is the manifest of a build: rendered from the plan, the
// toolchain, the build list and what inspection found.
func renderManifest(p *plan.Plan, tc *toolchain.Toolchain, mods []manifests.Module, arts []manifests.Artifact, abiKey, against string) *manifests.Manifest {
	return &manifests.Manifest{
		SchemaVersion: manifests.SchemaVersion,
		ABIKey:        abiKey,
		Against:       against,
		Toolchain:     manifestToolchain(p, tc),
		Build:         manifestBuild(p.Settings),
		Modules:       mods,
		Artifacts:     arts,
	}
}

// sharedModules are the local modules plugins depend on, directly or
// through other local modules (a shared API module, a host module whose
// packages plugins import): their source is part of the ABI. A plugin's own
// module, or a module only the host uses, is not.
func sharedModules(ws *resolve.Workspace) map[string]bool {
	byPath := map[string]*resolve.Module{}
	for _, m := range ws.Modules {
		byPath[m.Path] = m
	}
	shared := map[string]bool{}
	var visit func(m *resolve.Module)
	visit = func(m *resolve.Module) {
		for _, r := range m.File.Require {
			if dep, ok := byPath[r.Mod.Path]; ok && !shared[dep.Path] {
				shared[dep.Path] = true
				visit(dep)
			}
		}
	}
	for _, p := range ws.Packages {
		if p.Kind.Loaded() {
			visit(p.Module)
		}
	}
	return shared
}

// abiModules are the modules the ABI key covers: every dependency, and the
// shared local modules.
func abiModules(mods []manifests.Module, shared map[string]bool) []manifests.Module {
	var out []manifests.Module
	for _, m := range mods {
		if !m.Local || shared[m.Path] {
			out = append(out, m)
		}
	}
	return out
}

func writeManifest(file string, m *manifests.Manifest) error {
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	if err := manifests.Write(f, m); err != nil {
		f.Close()
		return fmt.Errorf("write manifest: %w", err)
	}
	return f.Close()
}
