package bundle

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/pbuild/pbuild/manifests"
)

// SBOM property names.
const (
	propABIKey     = "pbuild:abiKey"
	propGOOS       = "pbuild:goos"
	propGOARCH     = "pbuild:goarch"
	propName       = "pbuild:name"
	propKind       = "pbuild:kind"
	propPluginPath = "pbuild:pluginpath"
	propSum        = "pbuild:sum" // a module's h1 sum (of its zip, or of a local module's files)
	propLocal      = "pbuild:local"
	propDir        = "pbuild:dir"
	propReplace    = "pbuild:replace"
	propGo         = "pbuild:go"
	propLoadedBy   = "pbuild:loadedBy"
	propHeader     = "pbuild:header"   // a C-ABI library's header file
	propHeaderOf   = "pbuild:headerOf" // a header's library file
	propCSymbols   = "pbuild:cSymbols" // comma-separated
	propGLIBC      = "pbuild:glibc"    // comma-separated
)

// sbom makes the CycloneDX 1.5 SBOM of a bundle: the bundle itself as the
// metadata component, every artifact and C header (file: its kind, for a
// C-ABI library what loads it, its header, C symbols and glibc versions),
// every module of the build list (library) and the toolchain, and which
// artifact is built from what.
func sbom(base string, opts Options, m *manifests.Manifest, archiveSHA string, t time.Time) ([]byte, error) {
	bundleRef := "bundle:" + base
	bom := cdx.NewBOM()
	bom.SerialNumber = SerialNumber(archiveSHA)
	bom.Metadata = &cdx.Metadata{
		Timestamp:  t.UTC().Format(time.RFC3339),
		Lifecycles: &[]cdx.Lifecycle{{Phase: cdx.LifecyclePhaseBuild}},
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication, Name: "pbuild", Version: opts.Tool,
		}}},
		Component: &cdx.Component{
			BOMRef:  bundleRef,
			Type:    cdx.ComponentTypeApplication,
			Name:    opts.Name,
			Version: opts.Version,
			Hashes:  &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: archiveSHA}},
			Properties: &[]cdx.Property{
				{Name: propABIKey, Value: m.ABIKey},
				{Name: propGOARCH, Value: m.Toolchain.GOARCH},
				{Name: propGOOS, Value: m.Toolchain.GOOS},
			},
		},
	}

	refs := map[string]string{} // module path -> bom-ref
	used := map[string]bool{}
	var comps []cdx.Component
	tcPath, tcVersion, _ := strings.Cut(m.Toolchain.Module, "@")
	toolchainRef := uniqueRef(used, purl(tcPath, tcVersion))
	comps = append(comps, cdx.Component{
		BOMRef:      toolchainRef,
		Type:        cdx.ComponentTypeLibrary,
		Name:        tcPath,
		Version:     tcVersion,
		Description: "the Go toolchain the artifacts were built with; its standard library is linked into every artifact",
		PackageURL:  purl(tcPath, tcVersion),
		Properties:  &[]cdx.Property{{Name: propGo, Value: m.Toolchain.Go}, {Name: propSum, Value: m.Toolchain.ModuleSum}},
	})
	for _, mod := range m.Modules {
		c := cdx.Component{
			Type:       cdx.ComponentTypeLibrary,
			Name:       mod.Path,
			Version:    mod.Version,
			PackageURL: purl(mod.Path, mod.Version),
		}
		props := []cdx.Property{}
		if mod.Local {
			c.Version = "(local)"
			props = append(props, cdx.Property{Name: propDir, Value: mod.Dir}, cdx.Property{Name: propLocal, Value: "true"})
		}
		if mod.Replace != "" {
			props = append(props, cdx.Property{Name: propReplace, Value: mod.Replace})
		}
		props = append(props, cdx.Property{Name: propSum, Value: mod.Sum})
		c.Properties = &props
		c.BOMRef = uniqueRef(used, c.PackageURL)
		refs[mod.Path] = c.BOMRef
		comps = append(comps, c)
	}

	var artifactRefs []string
	var deps []cdx.Dependency
	for _, f := range distFiles(m) {
		ref := "artifact:" + f.File
		artifactRefs = append(artifactRefs, ref)
		a := f.Artifact
		props := []cdx.Property{{Name: propKind, Value: f.Kind}, {Name: propName, Value: f.Name}}
		if f.Kind == KindHeader {
			props = append(props, cdx.Property{Name: propHeaderOf, Value: f.Of})
		} else {
			if a.PluginPath != "" {
				props = append(props, cdx.Property{Name: propPluginPath, Value: a.PluginPath})
			}
			if a.LoadedBy != "" {
				props = append(props, cdx.Property{Name: propLoadedBy, Value: a.LoadedBy})
			}
			if a.Header != nil {
				props = append(props, cdx.Property{Name: propHeader, Value: a.Header.File})
			}
			if len(a.CSymbols) > 0 {
				props = append(props, cdx.Property{Name: propCSymbols, Value: strings.Join(a.CSymbols, ",")})
			}
			if len(a.GLIBC) > 0 {
				props = append(props, cdx.Property{Name: propGLIBC, Value: strings.Join(a.GLIBC, ",")})
			}
		}
		comps = append(comps, cdx.Component{
			BOMRef:     ref,
			Type:       cdx.ComponentTypeFile,
			Name:       f.File,
			Hashes:     &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: f.SHA256}},
			Properties: &props,
		})
		if f.Kind == KindHeader {
			// A header is what its library is built from: it depends on it.
			deps = append(deps, cdx.Dependency{Ref: ref, Dependencies: &[]string{"artifact:" + f.Of}})
			continue
		}
		on := []string{toolchainRef}
		main, _, _ := strings.Cut(a.BuildInfo.Main, "@")
		for _, p := range append([]string{main}, slices.Sorted(maps.Keys(a.BuildInfo.Deps))...) {
			if r, ok := refs[p]; ok && !slices.Contains(on, r) {
				on = append(on, r)
			}
		}
		slices.Sort(on)
		deps = append(deps, cdx.Dependency{Ref: ref, Dependencies: &on})
	}
	deps = append([]cdx.Dependency{{Ref: bundleRef, Dependencies: &artifactRefs}}, deps...)
	bom.Components = &comps
	bom.Dependencies = &deps

	var buf bytes.Buffer
	enc := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON)
	enc.SetPretty(true).SetEscapeHTML(false)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_5); err != nil {
		return nil, fmt.Errorf("sbom: %w", err)
	}
	return buf.Bytes(), nil
}

// uniqueRef returns ref, or ref with a "#n" suffix when it is used, and
// marks it used.
func uniqueRef(used map[string]bool, ref string) string {
	r := ref
	for n := 2; used[r]; n++ {
		r = fmt.Sprintf("%s#%d", ref, n)
	}
	used[r] = true
	return r
}

// SerialNumber is the SBOM's serial number for the archive with this
// sha256: a name-based (version 5) UUID, so the same bundle always has the
// same serial number and different bundles different ones.
func SerialNumber(archiveSHA string) string {
	h := sha1.New()
	h.Write(serialNamespace[:])
	h.Write([]byte("sha256:" + archiveSHA))
	u := h.Sum(nil)[:16]
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// serialNamespace is the UUID namespace of bundle serial numbers (a
// random UUID chosen for pbuild).
var serialNamespace = [16]byte{0x4f, 0x3b, 0x8e, 0x52, 0x1c, 0x7a, 0x4d, 0x09, 0x9e, 0x61, 0x2b, 0xd4, 0x70, 0x15, 0xa8, 0xc3}
