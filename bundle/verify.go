package bundle

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/pbuild/pbuild/internal/archive"
	"github.com/pbuild/pbuild/internal/safefile"
	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/sign"
)

// The steps of Verify, in order.
const (
	StepChecksums   = "checksums"
	StepSignature   = "signature"
	StepAttestation = "attestation"
	StepArchive     = "archive"
	StepManifest    = "manifest"
	StepSBOM        = "sbom"
	StepCheck       = "check"
)

// Step statuses.
const (
	StatusOK      = "ok"
	StatusFailed  = "FAIL"
	StatusSkipped = "skip"
)

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// PublicKey must have signed the attestation; nil: the signature is not
	// checked (and the report says so).
	PublicKey ed25519.PublicKey
	// Check, when set, is the last step: it gets Verify's context, the
	// directory the bundle was extracted to (the one holding the manifest)
	// and the manifest, and returns a one-line verdict, or an error with a
	// report in detail.
	Check func(ctx context.Context, dir string, m *manifests.Manifest) (detail string, err error)
	// Extract holds the archive's limits (zero: the defaults); Verify sets
	// the rest. A file checksums.txt lists (the archive among them) may be
	// at most twice MaxTotalSize.
	Extract archive.ExtractOptions
	// TempDir is where the archive is extracted, into a new directory that
	// is removed afterwards; empty: os.TempDir().
	TempDir string
}

// Step is the outcome of one step of Verify.
type Step struct {
	Name   string `json:"step"`
	Status string `json:"status"` // StatusOK, StatusFailed or StatusSkipped
	File   string `json:"file,omitempty"`
	Detail string `json:"detail"`
}

// Report is what Verify found, step by step, up to the first failure.
type Report struct {
	Bundle string `json:"bundle"`
	SHA256 string `json:"sha256,omitempty"`
	OK     bool   `json:"ok"`
	// Signed: a signature by the given key was verified.
	Signed   bool                `json:"signed"`
	KeyID    string              `json:"keyid,omitempty"`
	Steps    []Step              `json:"steps"`
	Name     string              `json:"name,omitempty"`
	Version  string              `json:"version,omitempty"`
	Manifest *manifests.Manifest `json:"-"`
}

// VerifyError is a failed step: which one, which file, why.
type VerifyError struct {
	Step string
	File string
	Err  error
	// Detail is a longer report, such as the compatibility check's.
	Detail string
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("verify: %s failed: %s: %v", e.Step, e.File, e.Err)
}

func (e *VerifyError) Unwrap() error { return e.Err }

// Hint tells the user what to do.
func (e *VerifyError) Hint() string {
	if errors.Is(e.Err, safefile.ErrNotRegular) || errors.Is(e.Err, safefile.ErrOutside) || errors.Is(e.Err, safefile.ErrTooLarge) {
		return "pbuild reads only regular files inside the bundle's directory, within limits: remove the file named, or verify in a directory holding only the release's files"
	}
	switch e.Step {
	case StepChecksums:
		return "a file differs from checksums.txt or is missing: download the release again and do not use these files"
	case StepSignature:
		return "the attestation was changed, or not signed with this key: check that --key is the publisher's PREFIX.pub; do not trust the bundle otherwise"
	case StepAttestation:
		return "the attestation does not describe these files: do not trust the bundle"
	case StepArchive:
		return "the archive is damaged or unsafe to extract: do not use it, with pbuild or with other tools"
	case StepManifest:
		return "the archive's files are not the ones its manifest lists: do not use the bundle"
	case StepSBOM:
		return "the SBOM does not describe this bundle: do not trust it"
	case StepCheck:
		return "the bundle's plugins cannot load into its host, or its C-ABI libraries are not fit for C hosts: see the check's report above"
	}
	return ""
}

// Limits of a bundle's archive: the defaults of VerifyOptions.Extract, and
// the length of an entry's whole name.
const (
	DefaultMaxFileSize  = 1 << 30 // 1 GiB
	DefaultMaxTotalSize = 4 << 30 // 4 GiB
	DefaultMaxEntries   = 10000
	maxNameLen          = 1024
)

// extractLimits are the limits of opts with the defaults for those unset.
func extractLimits(opts archive.ExtractOptions) archive.ExtractOptions {
	opts.MaxFileSize = cmp.Or(max(opts.MaxFileSize, 0), DefaultMaxFileSize)
	opts.MaxTotalSize = cmp.Or(max(opts.MaxTotalSize, 0), DefaultMaxTotalSize)
	opts.MaxEntries = cmp.Or(max(opts.MaxEntries, 0), DefaultMaxEntries)
	return opts
}

// extract extracts a bundle's archive into dst: gzip-compressed, new files
// only, within opts' limits or the defaults, names of maxNameLen at most.
func extract(ctx context.Context, r io.Reader, dst string, opts archive.ExtractOptions) (*archive.Contents, error) {
	opts = extractLimits(opts)
	opts.Gzip, opts.Strip, opts.Overwrite, opts.MaxNameLen = true, "", false, maxNameLen
	return archive.Extract(ctx, r, dst, opts)
}

// Limits of the bundle's own JSON files.
const (
	maxSBOMSize        = 64 << 20
	maxAttestationSize = 64 << 20
)

// Verify checks the bundle archive at path with the files beside it; see
// the package documentation for the steps. It returns the report and, when
// a step failed, a *VerifyError; input it cannot read at all (no such
// archive, a name that is not NAME_VERSION_OS_ARCH.tar.gz, not a regular
// file in its directory) is an *InputError with no steps.
//
// Every file is read from the archive's directory, only as a regular file
// inside it and within a limit: a named pipe, a device or a symbolic link
// leading out of the directory fails the step that reads it, naming the
// file. When ctx is cancelled Verify stops, with the steps so far in the
// report and the context's error.
func Verify(ctx context.Context, archive string, opts VerifyOptions) (*Report, error) {
	file := filepath.Base(archive)
	base, ok := strings.CutSuffix(file, ArchiveSuffix)
	if !ok || base == "" {
		return nil, inputErrorf("verify: %s is not a bundle: its name must end in %s", archive, ArchiveSuffix)
	}
	dir := filepath.Dir(archive)
	f, err := safefile.Open(ctx, dir, file, safefile.NoLimit)
	if err != nil {
		if isCanceled(err) {
			return nil, err
		}
		return nil, &InputError{Err: fmt.Errorf("verify: %w", err)}
	}
	f.Close()
	opts.Extract = extractLimits(opts.Extract)
	v := &verifier{
		opts:    opts,
		dir:     dir,
		archive: archive,
		base:    base,
		rep:     &Report{Bundle: archive},
		limit:   2 * opts.Extract.MaxTotalSize,
	}
	err = v.run(ctx)
	v.rep.OK = err == nil
	return v.rep, err
}

// isCanceled reports whether err is a context's: the user stopped the
// command, no step failed.
func isCanceled(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

type verifier struct {
	opts    VerifyOptions
	dir     string
	archive string
	base    string
	rep     *Report
	limit   int64 // of a file checksums.txt lists

	archiveSum string
	sbomData   []byte
	sbomSum    string
	envData    []byte
	payload    []byte // the envelope's
	stmt       *Statement
	extracted  string // the temporary directory
	contents   *archive.Contents
	manifest   *manifests.Manifest
}

func (v *verifier) file() string              { return v.base + ArchiveSuffix }
func (v *verifier) sbomFile() string          { return v.base + SBOMSuffix }
func (v *verifier) attestFile() string        { return v.base + AttestationSuffix }
func (v *verifier) inArchive(f string) string { return v.base + "/" + f }

func (v *verifier) ok(step, detail string) {
	v.rep.Steps = append(v.rep.Steps, Step{Name: step, Status: StatusOK, Detail: detail})
}

func (v *verifier) skip(step, detail string) {
	v.rep.Steps = append(v.rep.Steps, Step{Name: step, Status: StatusSkipped, Detail: detail})
}

// fail records a failed step; a cancelled context is not a failure and
// is returned as it is.
func (v *verifier) fail(step, file string, err error) error {
	if isCanceled(err) {
		return err
	}
	v.rep.Steps = append(v.rep.Steps, Step{Name: step, Status: StatusFailed, File: file, Detail: err.Error()})
	return &VerifyError{Step: step, File: file, Err: err}
}

func (v *verifier) run(ctx context.Context) error {
	defer func() {
		if v.extracted != "" {
			os.RemoveAll(v.extracted)
		}
	}()
	for _, step := range []func(context.Context) error{v.checksums, v.signature, v.attestation, v.extract, v.checkManifest, v.checkSBOM, v.check} {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// checksums: the bundle's three files must be listed and match; other
// listed files that are here must match too. Each is read as a regular
// file inside the bundle's directory, within a limit.
func (v *verifier) checksums(ctx context.Context) error {
	data, err := safefile.ReadFile(ctx, v.dir, ChecksumsFile, maxChecksumsSize)
	if err != nil {
		return v.fail(StepChecksums, ChecksumsFile, err)
	}
	sums, err := ParseChecksums(data)
	if err != nil {
		return v.fail(StepChecksums, ChecksumsFile, err)
	}
	own := []string{v.file(), v.sbomFile(), v.attestFile()}
	for _, name := range own {
		if _, ok := sums[name]; !ok {
			return v.fail(StepChecksums, name, fmt.Errorf("not listed in %s", ChecksumsFile))
		}
	}
	checked, absent := 0, 0
	for _, name := range slices.Sorted(maps.Keys(sums)) {
		var have string
		switch name {
		case v.sbomFile():
			v.sbomData, err = safefile.ReadFile(ctx, v.dir, name, maxSBOMSize)
			have = sha256Hex(v.sbomData)
		case v.attestFile():
			v.envData, err = safefile.ReadFile(ctx, v.dir, name, maxAttestationSize)
			have = sha256Hex(v.envData)
		default:
			have, err = safefile.Digest(ctx, v.dir, name, v.limit)
		}
		if errors.Is(err, os.ErrNotExist) && !slices.Contains(own, name) {
			absent++ // another bundle's file, not downloaded
			continue
		}
		if err != nil {
			return v.fail(StepChecksums, name, err)
		}
		if have != sums[name] {
			return v.fail(StepChecksums, name, fmt.Errorf("sha256 is %s, %s says %s", have, ChecksumsFile, sums[name]))
		}
		checked++
	}
	v.archiveSum, v.sbomSum = sums[v.file()], sums[v.sbomFile()]
	v.rep.SHA256 = v.archiveSum
	detail := fmt.Sprintf("%d files match %s", checked, ChecksumsFile)
	if absent > 0 {
		detail += fmt.Sprintf(" (%d other listed files are not here)", absent)
	}
	v.ok(StepChecksums, detail)
	return nil
}

// signature: the envelope holds an in-toto statement and, with a key, a
// signature by it.
func (v *verifier) signature(context.Context) error {
	env, err := sign.ParseEnvelope(v.envData)
	if err != nil {
		return v.fail(StepAttestation, v.attestFile(), err)
	}
	if env.PayloadType != PayloadType {
		return v.fail(StepAttestation, v.attestFile(), fmt.Errorf("payload type is %q, want %q", env.PayloadType, PayloadType))
	}
	if v.opts.PublicKey == nil {
		detail := "not checked: pass --key PREFIX.pub to check it"
		if len(env.Signatures) == 0 {
			detail += " (the attestation is not signed)"
		}
		v.skip(StepSignature, detail)
	} else {
		if err := env.Verify(v.opts.PublicKey); err != nil {
			return v.fail(StepSignature, v.attestFile(), err)
		}
		id, _ := sign.KeyID(v.opts.PublicKey)
		v.rep.Signed, v.rep.KeyID = true, id
		v.ok(StepSignature, "signed by key "+id)
	}
	v.payload = env.Payload
	return nil
}

// attestation: the statement is pbuild's provenance and its subjects are
// the archive and the SBOM with their sha256.
func (v *verifier) attestation(context.Context) error {
	var st Statement
	dec := json.NewDecoder(bytes.NewReader(v.payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return v.fail(StepAttestation, v.attestFile(), fmt.Errorf("statement: %w", err))
	}
	if dec.More() {
		return v.fail(StepAttestation, v.attestFile(), errors.New("statement: data after the JSON object"))
	}
	v.stmt = &st
	bd := st.Predicate.BuildDefinition
	ext := bd.ExternalParameters
	switch {
	case st.Type != StatementType:
		return v.fail(StepAttestation, v.attestFile(), fmt.Errorf("_type is %q, want %q", st.Type, StatementType))
	case st.PredicateType != ProvenanceType:
		return v.fail(StepAttestation, v.attestFile(), fmt.Errorf("predicateType is %q, want %q", st.PredicateType, ProvenanceType))
	case bd.BuildType != BuildType:
		return v.fail(StepAttestation, v.attestFile(), fmt.Errorf("buildType is %q, want %q", bd.BuildType, BuildType))
	}
	if want := Base(ext.Name, ext.Version, bd.InternalParameters.GOOS, bd.InternalParameters.GOARCH); want != v.base {
		return v.fail(StepAttestation, v.file(), fmt.Errorf("the attestation is for %s%s", want, ArchiveSuffix))
	}
	subj, err := subjects(&st)
	if err != nil {
		return v.fail(StepAttestation, v.attestFile(), err)
	}
	for _, f := range [][2]string{{v.file(), v.archiveSum}, {v.sbomFile(), v.sbomSum}} {
		if name, sum := f[0], f[1]; subj[name] != sum {
			return v.fail(StepAttestation, name, fmt.Errorf("sha256 is %s, the attestation's subject says %q", sum, subj[name]))
		}
	}
	v.rep.Name, v.rep.Version = ext.Name, ext.Version
	v.ok(StepAttestation, fmt.Sprintf("%s %s: provenance of %s sha256:%s and %d more subjects", ext.Name, ext.Version, v.file(), v.archiveSum[:16], len(subj)-1))
	return nil
}

// subjects maps the statement's subject names to their sha256.
func subjects(st *Statement) (map[string]string, error) {
	m := map[string]string{}
	for _, s := range st.Subject {
		sum := s.Digest["sha256"]
		if s.Name == "" || !isHexSHA256(sum) {
			return nil, fmt.Errorf("subject %q has no sha256 digest", s.Name)
		}
		if _, dup := m[s.Name]; dup {
			return nil, fmt.Errorf("subject %q is listed twice", s.Name)
		}
		m[s.Name] = sum
	}
	return m, nil
}

// extract extracts the archive safely into a new temporary directory,
// hashing it again on the way.
func (v *verifier) extract(ctx context.Context) error {
	tmp, err := os.MkdirTemp(v.opts.TempDir, "pbuild-verify-")
	if err != nil {
		return v.fail(StepArchive, v.file(), err)
	}
	v.extracted = tmp
	f, err := safefile.Open(ctx, v.dir, v.file(), v.limit)
	if err != nil {
		return v.fail(StepArchive, v.file(), err)
	}
	defer f.Close()
	h := sha256.New()
	xo := v.opts.Extract
	xo.Top = v.base
	contents, err := extract(ctx, io.TeeReader(f, h), tmp, xo)
	if err != nil {
		return v.fail(StepArchive, v.file(), err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != v.archiveSum {
		return v.fail(StepArchive, v.file(), fmt.Errorf("changed while it was verified: sha256 is now %s", sum))
	}
	v.contents = contents
	v.ok(StepArchive, fmt.Sprintf("%d files and %d directories extracted safely", len(contents.Files), len(contents.Dirs)))
	return nil
}

// checkManifest: the archive holds exactly the manifest and the artifacts
// it lists, with their sha256 and sizes, and the attestation names the same.
func (v *verifier) checkManifest(ctx context.Context) error {
	mfile := v.inArchive(manifests.FileName)
	files := map[string]archive.File{}
	for _, f := range v.contents.Files {
		files[f.Name] = f
	}
	if _, ok := files[mfile]; !ok {
		return v.fail(StepManifest, mfile, errors.New("not in the archive"))
	}
	data, err := safefile.ReadFile(ctx, v.extracted, mfile, manifests.MaxSize)
	if err != nil {
		return v.fail(StepManifest, mfile, err)
	}
	m, err := manifests.Read(bytes.NewReader(data))
	if err != nil {
		return v.fail(StepManifest, mfile, err)
	}
	if err := checkManifest(m); err != nil {
		return v.fail(StepManifest, mfile, err)
	}
	if want := Base(v.rep.Name, v.rep.Version, m.Toolchain.GOOS, m.Toolchain.GOARCH); want != v.base {
		return v.fail(StepManifest, mfile, fmt.Errorf("the manifest is for %s/%s, the bundle's name says otherwise", m.Toolchain.GOOS, m.Toolchain.GOARCH))
	}
	subj, _ := subjects(v.stmt)
	want := map[string]string{mfile: files[mfile].SHA256}
	dirs := map[string]bool{v.base: true}
	for _, a := range distFiles(m) {
		name := v.inArchive(a.File)
		f, ok := files[name]
		switch {
		case !ok:
			return v.fail(StepManifest, name, errors.New("listed in the manifest but not in the archive"))
		case f.SHA256 != a.SHA256:
			return v.fail(StepManifest, name, fmt.Errorf("sha256 is %s, the manifest says %s", f.SHA256, a.SHA256))
		case f.Size != a.Size:
			return v.fail(StepManifest, name, fmt.Errorf("%d bytes, the manifest says %d", f.Size, a.Size))
		}
		want[name] = a.SHA256
		for d := path.Dir(name); d != v.base && d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for _, f := range v.contents.Files {
		if _, ok := want[f.Name]; !ok {
			return v.fail(StepManifest, f.Name, errors.New("in the archive but not in the manifest"))
		}
	}
	for _, d := range v.contents.Dirs {
		if !dirs[d] {
			return v.fail(StepManifest, d+"/", errors.New("a directory holding no artifact"))
		}
	}
	// The attestation names the same files: its subjects are the archive,
	// the SBOM, and these.
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if sum := want[name]; subj[name] != sum {
			return v.fail(StepManifest, name, fmt.Errorf("sha256 is %s, the attestation's subject says %q", sum, subj[name]))
		}
	}
	if len(subj) != len(want)+2 {
		return v.fail(StepManifest, v.attestFile(), fmt.Errorf("the attestation has %d subjects, want %d: the archive, the SBOM and %d files", len(subj), len(want)+2, len(want)))
	}
	v.manifest = m
	v.rep.Manifest = m
	headers := ""
	if n := len(want) - 1 - len(m.Artifacts); n > 0 {
		headers = fmt.Sprintf(" and %d C headers", n)
	}
	v.ok(StepManifest, fmt.Sprintf("%d artifacts%s match %s, nothing else in the archive", len(m.Artifacts), headers, manifests.FileName))
	return nil
}

// checkSBOM: the SBOM describes this bundle and its artifacts.
func (v *verifier) checkSBOM(context.Context) error {
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(v.sbomData), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return v.fail(StepSBOM, v.sbomFile(), err)
	}
	fail := func(format string, args ...any) error {
		return v.fail(StepSBOM, v.sbomFile(), fmt.Errorf(format, args...))
	}
	if bom.BOMFormat != cdx.BOMFormat || bom.SpecVersion != cdx.SpecVersion1_5 {
		return fail("not a CycloneDX 1.5 SBOM (%s %s)", bom.BOMFormat, bom.SpecVersion)
	}
	if want := SerialNumber(v.archiveSum); bom.SerialNumber != want {
		return fail("serialNumber is %s, want %s for this archive", bom.SerialNumber, want)
	}
	if bom.Metadata == nil || bom.Metadata.Component == nil {
		return fail("no metadata component")
	}
	mc := bom.Metadata.Component
	if mc.Name != v.rep.Name || mc.Version != v.rep.Version {
		return fail("describes %s %s, not %s %s", mc.Name, mc.Version, v.rep.Name, v.rep.Version)
	}
	if h := sbomSHA256(mc); h != v.archiveSum {
		return fail("the bundle's sha256 is %q, want %s", h, v.archiveSum)
	}
	arts := map[string]string{}
	n := 0
	if bom.Components != nil {
		n = len(*bom.Components)
		for _, c := range *bom.Components {
			if c.Type == cdx.ComponentTypeFile {
				arts[c.Name] = sbomSHA256(&c)
			}
		}
	}
	want := distFiles(v.manifest)
	for _, a := range want {
		if arts[a.File] != a.SHA256 {
			return fail("%s %s has sha256 %q, the manifest says %s", map[bool]string{true: "C header", false: "artifact"}[a.Kind == KindHeader], a.File, arts[a.File], a.SHA256)
		}
	}
	if len(arts) != len(want) {
		return fail("%d file components, the manifest lists %d artifacts and C headers", len(arts), len(want))
	}
	v.ok(StepSBOM, fmt.Sprintf("CycloneDX 1.5, %d components, describes this bundle", n))
	return nil
}

func sbomSHA256(c *cdx.Component) string {
	if c.Hashes == nil {
		return ""
	}
	for _, h := range *c.Hashes {
		if h.Algorithm == cdx.HashAlgoSHA256 {
			return h.Value
		}
	}
	return ""
}

func (v *verifier) check(ctx context.Context) error {
	if v.opts.Check == nil {
		v.skip(StepCheck, "no compatibility check")
		return nil
	}
	detail, err := v.opts.Check(ctx, filepath.Join(v.extracted, v.base), v.manifest)
	if isCanceled(err) {
		return err
	}
	if err != nil {
		v.rep.Steps = append(v.rep.Steps, Step{Name: StepCheck, Status: StatusFailed, File: v.file(), Detail: err.Error()})
		return &VerifyError{Step: StepCheck, File: v.file(), Err: err, Detail: detail}
	}
	v.ok(StepCheck, detail)
	return nil
}
