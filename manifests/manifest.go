package manifests

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/pbuild/pbuild/internal/safefile"
	"github.com/pbuild/pbuild/loader/abi"
	"github.com/pbuild/pbuild/plan"
)

// SchemaVersion is the version of the manifest format this package
// writes. It reads it and MinSchemaVersion: version 1 is version 2 without
// C-ABI libraries (kinds c-shared and c-archive), Toolchain.Packages and
// the artifacts' LoadedBy, Header, CSymbols and GLIBC.
const SchemaVersion = 2

// MinSchemaVersion is the oldest manifest format Read accepts.
const MinSchemaVersion = 1

// FileName is the manifest's file name inside the dist directory.
const FileName = "pbuild.manifest.json"

// MaxSize is the largest manifest Read and ReadFile accept, in bytes.
const MaxSize = 64 << 20

// Artifact kinds: the plan's kinds (package plan), as manifests record
// them.
const (
	KindHost   = string(plan.Host)
	KindPlugin = string(plan.Plugin)
	// KindCShared is a C-ABI shared library (-buildmode=c-shared) with its
	// C header, for C hosts (dlopen), not Go.
	KindCShared = string(plan.CShared)
	// KindCArchive is a C-ABI static library (-buildmode=c-archive) with
	// its C header, for a C program's link, not Go.
	KindCArchive = string(plan.CArchive)
)

// Kinds lists every kind, in the plan's order.
func Kinds() []string {
	var out []string
	for _, k := range plan.Kinds() {
		out = append(out, string(k))
	}
	return out
}

// IsCABI reports whether kind is a C-ABI library's: an artifact with a
// C header, for C code, that no Go host loads.
func IsCABI(kind string) bool { return plan.Kind(kind).CABI() }

// Manifest is the content of dist/pbuild.manifest.json.
type Manifest struct {
	SchemaVersion int        `json:"schemaVersion"`
	ABIKey        string     `json:"abiKey"` // "sha256:<64 hex>", see ABIKey
	Toolchain     Toolchain  `json:"toolchain"`
	Build         Build      `json:"build"`
	Modules       []Module   `json:"modules"`
	Artifacts     []Artifact `json:"artifacts"`
	// Against is the sha256 of the released host's manifest a plugin build
	// was constrained by (pbuild build --against); its ABIKey is then that
	// host's.
	Against string `json:"against,omitempty"`
}

// Toolchain describes the pinned toolchain the artifacts were built with.
type Toolchain struct {
	Go          string `json:"go"`          // "go1.24.4"
	Module      string `json:"module"`      // "golang.org/toolchain@v0.0.1-go1.24.4.linux-amd64"
	ModuleSum   string `json:"moduleSum"`   // "h1:..." of the toolchain module zip
	BaseImage   string `json:"baseImage"`   // reference as configured, e.g. "pbuild/base:bookworm"
	BaseImageID string `json:"baseImageID"` // "sha256:..."
	Image       string `json:"image"`       // toolchain image tag pbuild made
	ImageID     string `json:"imageID"`     // "sha256:..."
	GOOS        string `json:"goos"`
	GOARCH      string `json:"goarch"`
	GOAMD64     string `json:"goamd64,omitempty"`
	CC          string `json:"cc"` // C compiler version line, e.g. "gcc (Debian 12.2.0-14+deb12u1) 12.2.0"
	// Packages are the Debian packages installed into the toolchain
	// image, NAME=VERSION (or NAME, NAME:ARCH=VERSION), sorted; written
	// only when there are some.
	Packages []string `json:"packages,omitempty" since:"2"`
}

// Build holds the build settings shared by every artifact.
type Build struct {
	Flags   []string          `json:"flags"` // go build flags shared by every artifact, in order
	Tags    []string          `json:"tags"`  // written as [] when empty
	Ldflags string            `json:"ldflags"`
	Env     map[string]string `json:"env"` // written as {} when empty
}

// Module is one module that went into the build.
type Module struct {
	Path    string `json:"path"`
	Version string `json:"version,omitempty"` // empty for workspace (local) modules
	Sum     string `json:"sum"`               // h1: of the module zip, or a dirhash h1 of a local module's files
	Local   bool   `json:"local,omitempty"`   // a workspace/local module (Sum is a directory hash)
	Dir     string `json:"dir,omitempty"`     // local modules: slash path relative to the project source root
	Replace string `json:"replace,omitempty"` // "path@version" when replaced by another module version
}

// Artifact is one built file: the host, a plugin or a C-ABI library.
type Artifact struct {
	Name       string            `json:"name"`
	Kind       string            `json:"kind"` // one of Kinds()
	File       string            `json:"file"` // slash path relative to the dist dir, e.g. "plugins/hello.so"
	Size       int64             `json:"size"`
	SHA256     string            `json:"sha256"` // 64 lowercase hex digits
	PluginPath string            `json:"pluginpath,omitempty"`
	BuildInfo  BuildInfo         `json:"buildInfo"`
	Packages   map[string]string `json:"packages"` // import path -> 16 hex digits of go:link.pkghashbytes; {} when none
	// LoadedBy says what uses the artifact, in words ("a Go host, with
	// plugin.Open", "a C host, with dlopen (not Go)", "a C program's link
	// (not Go)", "the system: it is the executable"), as the plan's kind
	// says it. Always written; absent from a version 1 manifest.
	LoadedBy string `json:"loadedBy" since:"2"`
	// Header is the C header of a C-ABI library (and only of one).
	Header *Header `json:"header,omitempty" since:"2"`
	// CSymbols are the C symbols a C-ABI library exports for C code
	// (abi.File.CExports: defined global functions and variables, not Go's
	// or cgo's glue), sorted; only C-ABI libraries have them.
	CSymbols []string `json:"cSymbols,omitempty" since:"2"`
	// GLIBC lists the GLIBC_x.y versions the file needs, sorted by
	// abi.CompareGLIBC.
	GLIBC []string `json:"glibc,omitempty" since:"2"`
}

// Files are the files of the artifact in its dist: its own, then its C
// header when it has one.
func (a Artifact) Files() []FileEntry {
	out := []FileEntry{{File: a.File, Size: a.Size, SHA256: a.SHA256}}
	if h := a.Header; h != nil {
		out = append(out, FileEntry(*h))
	}
	return out
}

// FileEntry is one file of a dist as its manifest records it.
type FileEntry struct {
	File   string // slash path relative to the dist dir
	Size   int64
	SHA256 string // 64 lowercase hex digits
}

// Header is the C header of a C-ABI library, written by the go command
// beside it.
type Header struct {
	File   string `json:"file"` // slash path relative to the dist dir, e.g. "lib/nbd.h"
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // 64 lowercase hex digits
}

// BuildInfo is the Go build information embedded in an artifact.
type BuildInfo struct {
	GoVersion string            `json:"goVersion"`
	Path      string            `json:"path"`
	Main      string            `json:"main"`     // main module path, "@version" appended unless the version is "(devel)"
	Deps      map[string]string `json:"deps"`     // module path -> version ({} when none); replaced deps: the replacement version
	Settings  map[string]string `json:"settings"` // every build setting from the build info
}

//go:embed schema/manifest.v2.schema.json
var schemaJSON []byte

// Schema returns the JSON Schema (draft 2020-12) of the manifest format
// this package writes, version SchemaVersion. The returned slice is a
// fresh copy.
func Schema() []byte {
	return bytes.Clone(schemaJSON)
}

// Write writes m to w in canonical form: Modules sorted by path, Artifacts
// with hosts first and then by name, toolchain packages and every
// artifact's CSymbols sorted, its GLIBC versions sorted by
// abi.CompareGLIBC, nil slices and maps written as [] and {} (those that
// are omitted when empty left out), two-space indentation, a trailing
// newline. Equal manifests encode to identical bytes. It always writes
// SchemaVersion: a zero SchemaVersion, or MinSchemaVersion (a manifest
// Read from an older pbuild, which the newer format describes as it is),
// is written as SchemaVersion; any other version is an error. m itself is
// not modified.
func Write(w io.Writer, m *Manifest) error {
	if m == nil {
		return errors.New("write manifest: nil manifest")
	}
	c, err := canonical(m)
	if err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write manifest: %w", err)
	}
	return nil
}

// canonical returns a normalized, sorted copy of m sharing no slices or maps
// that it modifies with m.
func canonical(m *Manifest) (*Manifest, error) {
	c := *m
	switch c.SchemaVersion {
	case 0, MinSchemaVersion, SchemaVersion:
		c.SchemaVersion = SchemaVersion
	default:
		return nil, fmt.Errorf("unsupported schemaVersion %d (this pbuild writes %d)", c.SchemaVersion, SchemaVersion)
	}
	c.Toolchain.Packages = sortedSet(m.Toolchain.Packages, strings.Compare)
	c.Build.Flags = nonNilSlice(c.Build.Flags)
	c.Build.Tags = nonNilSlice(c.Build.Tags)
	c.Build.Env = nonNilMap(c.Build.Env)

	mods := slices.Clone(nonNilSlice(m.Modules))
	if err := sortCanonical(mods, func(a, b Module) int {
		return cmp.Or(
			strings.Compare(a.Path, b.Path),
			strings.Compare(a.Version, b.Version),
		)
	}); err != nil {
		return nil, err
	}
	c.Modules = mods

	arts := slices.Clone(nonNilSlice(m.Artifacts))
	for i := range arts {
		a := &arts[i]
		a.Packages = nonNilMap(a.Packages)
		a.BuildInfo.Deps = nonNilMap(a.BuildInfo.Deps)
		a.BuildInfo.Settings = nonNilMap(a.BuildInfo.Settings)
		a.CSymbols = sortedSet(a.CSymbols, strings.Compare)
		a.GLIBC = sortedSet(a.GLIBC, compareGLIBC)
		if a.Header != nil {
			h := *a.Header
			a.Header = &h
		}
	}
	if err := sortCanonical(arts, func(a, b Artifact) int {
		return cmp.Or(
			cmp.Compare(kindRank(a.Kind), kindRank(b.Kind)),
			strings.Compare(a.Name, b.Name),
			strings.Compare(a.Kind, b.Kind),
			strings.Compare(a.File, b.File),
		)
	}); err != nil {
		return nil, err
	}
	c.Artifacts = arts
	return &c, nil
}

func kindRank(kind string) int {
	if kind == KindHost {
		return 0
	}
	return 1
}

// sortCanonical sorts s by compare and breaks remaining ties by the elements'
// JSON encodings, so the result does not depend on the input order.
func sortCanonical[T any](s []T, compare func(a, b T) int) error {
	type keyed struct {
		v   T
		enc []byte
	}
	ks := make([]keyed, len(s))
	for i, v := range s {
		enc, err := json.Marshal(v)
		if err != nil {
			return err
		}
		ks[i] = keyed{v, enc}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		return cmp.Or(compare(a.v, b.v), bytes.Compare(a.enc, b.enc))
	})
	for i := range ks {
		s[i] = ks[i].v
	}
	return nil
}

// sortedSet is a sorted copy of s without duplicates; nil when s is
// empty, as the fields it serves are omitted when empty.
func sortedSet(s []string, compare func(a, b string) int) []string {
	if len(s) == 0 {
		return nil
	}
	out := slices.Clone(s)
	slices.SortFunc(out, compare)
	return slices.Compact(out)
}

// compareGLIBC orders GLIBC versions numerically (abi.CompareGLIBC), and
// ties by name.
func compareGLIBC(a, b string) int {
	return cmp.Or(abi.CompareGLIBC(a, b), strings.Compare(a, b))
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func nonNilMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	return m
}

// Read decodes a manifest. It is strict: the document must be a single JSON
// object of at most MaxSize bytes whose schemaVersion is SchemaVersion or
// MinSchemaVersion, with every field of that version that is not optional
// present, no unknown fields (names match case-sensitively; the fields
// version 2 added are unknown to a version 1 document) and no nulls, and
// its values must pass Validate. The result keeps the document's
// SchemaVersion (a version 1 manifest's LoadedBy are ""); Write writes it
// as SchemaVersion. Slices and maps of the result that are always written
// are never nil.
func Read(r io.Reader) (*Manifest, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("read manifest: over the limit of %d bytes", MaxSize)
	}
	m, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	return m, nil
}

// ReadFile reads and decodes the manifest at path; see Read. The path is
// one the user named, so symbolic links are followed; it must be a
// regular file of at most MaxSize bytes (a named pipe or a device is an
// error, not a wait), and the read stops when ctx is cancelled.
func ReadFile(ctx context.Context, path string) (*Manifest, error) {
	data, err := safefile.ReadPath(ctx, path, MaxSize)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	m, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", path, err)
	}
	return m, nil
}

func decode(data []byte) (*Manifest, error) {
	// Check the version first, so a manifest from a newer pbuild is reported
	// as such rather than as having unknown fields.
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, err
	}
	raw, ok := probe["schemaVersion"]
	if !ok {
		return nil, errors.New(`missing "schemaVersion"`)
	}
	var version int
	if err := json.Unmarshal(raw, &version); err != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, fmt.Errorf("invalid schemaVersion %s (want %d)", raw, SchemaVersion)
	}
	if version < MinSchemaVersion || version > SchemaVersion {
		return nil, fmt.Errorf("unsupported schemaVersion %d (this pbuild reads %d to %d)", version, MinSchemaVersion, SchemaVersion)
	}

	// encoding/json matches field names case-insensitively and accepts null
	// and absent fields; check the document's shape exactly first.
	var doc any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if err := checkShape(doc, reflect.TypeFor[Manifest](), "", version); err != nil {
		return nil, err
	}

	var m Manifest
	dec = json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the manifest object")
	}
	normalize(&m)
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// normalize replaces nil slices and maps with empty ones.
func normalize(m *Manifest) {
	m.Build.Flags = nonNilSlice(m.Build.Flags)
	m.Build.Tags = nonNilSlice(m.Build.Tags)
	m.Build.Env = nonNilMap(m.Build.Env)
	m.Modules = nonNilSlice(m.Modules)
	m.Artifacts = nonNilSlice(m.Artifacts)
	for i := range m.Artifacts {
		a := &m.Artifacts[i]
		a.Packages = nonNilMap(a.Packages)
		a.BuildInfo.Deps = nonNilMap(a.BuildInfo.Deps)
		a.BuildInfo.Settings = nonNilMap(a.BuildInfo.Settings)
	}
}

// checkShape checks the generic JSON value v against Go type t as the
// given schema version has it: object keys must match json field names
// exactly (a field tagged since:"N" exists from version N on), fields
// without omitempty must be present, and null is not allowed anywhere.
// Scalar types are left to encoding/json.
func checkShape(v any, t reflect.Type, at string, version int) error {
	if v == nil {
		return fmt.Errorf("%s: null is not allowed", where(at))
	}
	switch t.Kind() {
	case reflect.Pointer:
		return checkShape(v, t.Elem(), at, version)
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object", where(at))
		}
		fields := make(map[string]bool, t.NumField())
		for i := range t.NumField() {
			if name, _ := jsonField(t.Field(i)); name != "" && inVersion(t.Field(i), version) {
				fields[name] = true
			}
		}
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			if !fields[k] {
				return fmt.Errorf("%s: unknown field %q", where(at), k)
			}
		}
		for i := range t.NumField() {
			name, omitempty := jsonField(t.Field(i))
			if name == "" || !inVersion(t.Field(i), version) {
				continue
			}
			fv, present := obj[name]
			if !present {
				if !omitempty {
					return fmt.Errorf("%s: missing field %q", where(at), name)
				}
				continue
			}
			if err := checkShape(fv, t.Field(i).Type, at+"."+name, version); err != nil {
				return err
			}
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object", where(at))
		}
		for k, ev := range obj {
			if err := checkShape(ev, t.Elem(), at+"["+fmt.Sprintf("%q", k)+"]", version); err != nil {
				return err
			}
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want an array", where(at))
		}
		for i, ev := range arr {
			if err := checkShape(ev, t.Elem(), fmt.Sprintf("%s[%d]", at, i), version); err != nil {
				return err
			}
		}
	}
	return nil
}

// inVersion reports whether a struct field is part of the given schema
// version: its tag since:"N" says from which version on (default 1).
func inVersion(f reflect.StructField, version int) bool {
	since := f.Tag.Get("since")
	if since == "" {
		return true
	}
	n, err := strconv.Atoi(since)
	if err != nil {
		panic("manifests: bad since tag on field " + f.Name + ": " + since)
	}
	return version >= n
}

func where(at string) string {
	if at == "" {
		return "top level"
	}
	return strings.TrimPrefix(at, ".")
}

// jsonField returns the JSON name of a struct field ("" when not encoded) and
// whether it is omitempty.
func jsonField(f reflect.StructField) (name string, omitempty bool) {
	if !f.IsExported() {
		return "", false
	}
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false
	}
	name, opts, _ := strings.Cut(tag, ",")
	if name == "" {
		name = f.Name
	}
	for _, o := range strings.Split(opts, ",") {
		if o == "omitempty" || o == "omitzero" {
			omitempty = true
		}
	}
	return name, omitempty
}
