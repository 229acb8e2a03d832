package bundle

import (
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/pbuild/pbuild/manifests"
)

// The attestation's types and URIs.
const (
	PayloadType    = "application/vnd.in-toto+json"
	StatementType  = "https://in-toto.io/Statement/v1"
	ProvenanceType = "https://slsa.dev/provenance/v1"
	// BuildType names pbuild's build: the external parameters say what was
	// built, the internal ones the settings pbuild controlled.
	BuildType = "https://github.com/pbuild/pbuild/buildtypes/build/v1"
	// BuilderIDPrefix is followed by pbuild's version in the builder ID.
	BuilderIDPrefix = "https://github.com/pbuild/pbuild/cmd/pbuild@"
)

// Statement is an in-toto v1 Statement carrying SLSA provenance v1.
type Statement struct {
	Type          string               `json:"_type"`
	Subject       []ResourceDescriptor `json:"subject"`
	PredicateType string               `json:"predicateType"`
	Predicate     Provenance           `json:"predicate"`
}

// ResourceDescriptor is an in-toto v1 ResourceDescriptor. Digest keys are
// the spec's lowercase algorithm names: "sha256", and "dirHash" for Go's h1
// directory hashes (in hex).
type ResourceDescriptor struct {
	Name        string            `json:"name,omitempty"`
	URI         string            `json:"uri,omitempty"`
	Digest      map[string]string `json:"digest,omitempty"`
	Annotations map[string]any    `json:"annotations,omitempty"`
}

// Provenance is a SLSA provenance v1 predicate.
type Provenance struct {
	BuildDefinition BuildDefinition `json:"buildDefinition"`
	RunDetails      RunDetails      `json:"runDetails"`
}

// BuildDefinition says what was built and how.
type BuildDefinition struct {
	BuildType            string               `json:"buildType"`
	ExternalParameters   ExternalParameters   `json:"externalParameters"`
	InternalParameters   InternalParameters   `json:"internalParameters"`
	ResolvedDependencies []ResourceDescriptor `json:"resolvedDependencies"`
}

// ExternalParameters are what the user chose.
type ExternalParameters struct {
	Config  string `json:"config,omitempty"` // the config file's name; empty when a dist was bundled directly
	Name    string `json:"name"`
	Version string `json:"version"`
}

// InternalParameters are what pbuild set: the toolchain, its images and
// the build settings, from the manifest.
type InternalParameters struct {
	ABIKey           string            `json:"abiKey"`
	Go               string            `json:"go"`
	GOOS             string            `json:"goos"`
	GOARCH           string            `json:"goarch"`
	GOAMD64          string            `json:"goamd64,omitempty"`
	CC               string            `json:"cc"`
	BaseImage        string            `json:"baseImage"`
	BaseImageID      string            `json:"baseImageID"`
	ToolchainImage   string            `json:"toolchainImage"`
	ToolchainImageID string            `json:"toolchainImageID"`
	Flags            []string          `json:"flags"`
	Tags             []string          `json:"tags"`
	Ldflags          string            `json:"ldflags"`
	Env              map[string]string `json:"env"`
}

// RunDetails names the builder. The metadata is empty: a bundle carries no
// wall-clock times or invocation IDs, so that it is reproducible.
type RunDetails struct {
	Builder  Builder  `json:"builder"`
	Metadata struct{} `json:"metadata"`
}

// Builder identifies pbuild and its version.
type Builder struct {
	ID string `json:"id"`
}

// statement makes the attestation's statement: the subjects are the
// archive, the SBOM, and the manifest, artifacts and C headers inside the
// archive; an artifact's subject is annotated with its kind and name, a
// header's with kind "c-header", its library's name and file (headerOf).
func statement(base string, opts Options, m *manifests.Manifest, manifestSHA string, sums Checksums) *Statement {
	subj := []ResourceDescriptor{
		{Name: base + ArchiveSuffix, Digest: map[string]string{"sha256": sums[base+ArchiveSuffix]}},
		{Name: base + SBOMSuffix, Digest: map[string]string{"sha256": sums[base+SBOMSuffix]}},
		{Name: base + "/" + manifests.FileName, Digest: map[string]string{"sha256": manifestSHA}},
	}
	for _, f := range distFiles(m) {
		ann := map[string]any{"kind": f.Kind, "name": f.Name}
		if f.Of != "" {
			ann["headerOf"] = f.Of
		}
		subj = append(subj, ResourceDescriptor{Name: base + "/" + f.File, Digest: map[string]string{"sha256": f.SHA256}, Annotations: ann})
	}
	tc, b := m.Toolchain, m.Build
	return &Statement{
		Type:          StatementType,
		Subject:       subj,
		PredicateType: ProvenanceType,
		Predicate: Provenance{
			BuildDefinition: BuildDefinition{
				BuildType:          BuildType,
				ExternalParameters: ExternalParameters{Config: opts.Config, Name: opts.Name, Version: opts.Version},
				InternalParameters: InternalParameters{
					ABIKey: m.ABIKey, Go: tc.Go, GOOS: tc.GOOS, GOARCH: tc.GOARCH, GOAMD64: tc.GOAMD64, CC: tc.CC,
					BaseImage: tc.BaseImage, BaseImageID: tc.BaseImageID, ToolchainImage: tc.Image, ToolchainImageID: tc.ImageID,
					Flags: b.Flags, Tags: b.Tags, Ldflags: b.Ldflags, Env: b.Env,
				},
				ResolvedDependencies: resolvedDependencies(m),
			},
			RunDetails: RunDetails{Builder: Builder{ID: BuilderIDPrefix + opts.Tool}},
		},
	}
}

// resolvedDependencies lists the toolchain module, the base image and the
// build list.
func resolvedDependencies(m *manifests.Manifest) []ResourceDescriptor {
	tc := m.Toolchain
	path, version, _ := strings.Cut(tc.Module, "@")
	deps := []ResourceDescriptor{withSum(ResourceDescriptor{URI: purl(path, version), Annotations: map[string]any{"go": tc.Go}}, tc.ModuleSum)}
	base := ResourceDescriptor{Name: tc.BaseImage, Annotations: map[string]any{"role": "base image"}}
	if hexID, ok := strings.CutPrefix(tc.BaseImageID, "sha256:"); ok && isHexSHA256(hexID) {
		base.Digest = map[string]string{"sha256": hexID} // the image ID: the sha256 of its config
	} else {
		base.Annotations["imageID"] = tc.BaseImageID
	}
	deps = append(deps, base)
	for _, mod := range m.Modules {
		rd := ResourceDescriptor{URI: purl(mod.Path, mod.Version)}
		if mod.Local {
			rd.Annotations = map[string]any{"local": true, "dir": mod.Dir}
		}
		if mod.Replace != "" {
			if rd.Annotations == nil {
				rd.Annotations = map[string]any{}
			}
			rd.Annotations["replace"] = mod.Replace
		}
		deps = append(deps, withSum(rd, mod.Sum))
	}
	return deps
}

// withSum records a Go h1 hash as the spec's "dirHash" digest (hex of the
// same bytes); a sum in another form goes into the annotations as it is.
func withSum(rd ResourceDescriptor, sum string) ResourceDescriptor {
	if h, ok := h1Hex(sum); ok {
		rd.Digest = map[string]string{"dirHash": h}
		return rd
	}
	if sum != "" {
		if rd.Annotations == nil {
			rd.Annotations = map[string]any{}
		}
		rd.Annotations["sum"] = sum
	}
	return rd
}

// h1Hex returns the hex form of an "h1:<base64 sha256>" hash.
func h1Hex(sum string) (string, bool) {
	b64, ok := strings.CutPrefix(sum, "h1:")
	if !ok {
		return "", false
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b) != 32 {
		return "", false
	}
	return hex.EncodeToString(b), true
}

// purl is the package URL of a Go module; version may be empty.
func purl(path, version string) string {
	s := "pkg:golang/" + purlEscape(path, true)
	if version != "" {
		s += "@" + purlEscape(version, false)
	}
	return s
}

// purlEscape percent-encodes everything but unreserved characters (and
// '/' between path segments).
func purlEscape(s string, path bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' || path && c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
	}
	return b.String()
}
