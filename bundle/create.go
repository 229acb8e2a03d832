package bundle

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pbuild/pbuild/internal/archive"
	"github.com/pbuild/pbuild/internal/safefile"
	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/sign"
)

// Options say what Create makes.
type Options struct {
	// Name is the bundle's name; empty: the host artifact's name.
	Name string
	// Version is the release's version (required), e.g. "1.2.0".
	Version string
	// OutDir receives the files; it is made when missing.
	OutDir string
	// Time is every archive entry's mtime and the SBOM's timestamp, whole
	// seconds; the zero Time means the Unix epoch.
	Time time.Time
	// Key signs the attestation; nil leaves it unsigned.
	Key ed25519.PrivateKey
	// Config is the config file's name, recorded as an external parameter;
	// empty when a dist is bundled without one.
	Config string
	// Tool is pbuild's version, for the builder ID and the SBOM's tools.
	Tool string
}

// Result names what Create wrote.
type Result struct {
	Base        string `json:"base"` // NAME_VERSION_OS_ARCH
	Archive     string `json:"archive"`
	SBOM        string `json:"sbom"`
	Attestation string `json:"attestation"`
	Checksums   string `json:"checksums"`
	SHA256      string `json:"sha256"`          // of the archive
	KeyID       string `json:"keyid,omitempty"` // of the signing key; empty when unsigned
}

// InputError is input Create or Verify cannot read: a missing dist or
// manifest, a bad manifest, a missing bundle.
type InputError struct {
	Err error
}

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Hint tells the user what to do.
func (e *InputError) Hint() string {
	return "bundle a dist made by `pbuild build` (-f CONFIG or --dist DIR); verify a NAME_VERSION_OS_ARCH.tar.gz made by `pbuild bundle`"
}

func inputErrorf(format string, args ...any) error {
	return &InputError{Err: fmt.Errorf(format, args...)}
}

// Create bundles the dist directory: it checks every artifact against the
// manifest while archiving it and writes the archive, the SBOM, the
// attestation and checksums.txt into opts.OutDir. Entries of other files
// already in the directory's checksums.txt are kept. On any error nothing
// in OutDir is changed (save a directory made for it). The manifest and
// the artifacts are read only as regular files inside dist, with ctx
// honoured.
func Create(ctx context.Context, dist string, opts Options) (*Result, error) {
	manifestData, err := safefile.ReadFile(ctx, dist, manifests.FileName, manifests.MaxSize)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, inputErrorf("bundle: %s has no %s: build it first with `pbuild build`", dist, manifests.FileName)
		}
		return nil, &InputError{Err: fmt.Errorf("bundle: %w", err)}
	}
	m, err := manifests.Read(bytes.NewReader(manifestData))
	if err != nil {
		return nil, inputErrorf("bundle: %s: %w", filepath.Join(dist, manifests.FileName), err)
	}
	if err := checkManifest(m); err != nil {
		return nil, &InputError{Err: fmt.Errorf("bundle: %s: %w", filepath.Join(dist, manifests.FileName), err)}
	}
	if opts.Name == "" {
		opts.Name = hostOf(m).Name
		if opts.Name == "" {
			return nil, inputErrorf("bundle: %s lists no host to name the bundle after: name it with --name", filepath.Join(dist, manifests.FileName))
		}
	}
	if err := CheckName("name", opts.Name); err != nil {
		return nil, &InputError{Err: fmt.Errorf("bundle: %w", err)}
	}
	if err := CheckName("version", opts.Version); err != nil {
		return nil, &InputError{Err: fmt.Errorf("bundle: %w", err)}
	}
	if opts.Time.IsZero() {
		opts.Time = time.Unix(0, 0)
	}
	opts.Time = time.Unix(opts.Time.Unix(), 0).UTC()
	base := Base(opts.Name, opts.Version, m.Toolchain.GOOS, m.Toolchain.GOARCH)

	files := []archive.Entry{archive.Bytes(manifests.FileName, manifestData, false, time.Time{})}
	for _, f := range distFiles(m) {
		files = append(files, distFile(ctx, dist, f))
	}

	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	out := &outputs{dir: opts.OutDir}
	defer out.cleanup()

	res := &Result{Base: base}
	var archiveSum string
	if err := out.add(base+ArchiveSuffix, func(w io.Writer) error {
		h := sha256.New()
		if err := writeArchive(ctx, io.MultiWriter(w, h), base, files, opts.Time); err != nil {
			return err
		}
		archiveSum = hex.EncodeToString(h.Sum(nil))
		return nil
	}); err != nil {
		return nil, err
	}
	sums := Checksums{base + ArchiveSuffix: archiveSum}

	sbomData, err := sbom(base, opts, m, archiveSum, opts.Time)
	if err != nil {
		return nil, err
	}
	if err := out.addBytes(base+SBOMSuffix, sbomData); err != nil {
		return nil, err
	}
	sums[base+SBOMSuffix] = sha256Hex(sbomData)

	stmt := statement(base, opts, m, sha256Hex(manifestData), sums)
	payload, err := json.Marshal(stmt)
	if err != nil {
		return nil, fmt.Errorf("bundle: attestation: %w", err)
	}
	env, err := sign.NewEnvelope(PayloadType, payload, opts.Key)
	if err != nil {
		return nil, fmt.Errorf("bundle: sign: %w", err)
	}
	if len(env.Signatures) > 0 {
		res.KeyID = env.Signatures[0].KeyID
	}
	envData, err := env.Marshal()
	if err != nil {
		return nil, fmt.Errorf("bundle: attestation: %w", err)
	}
	if err := out.addBytes(base+AttestationSuffix, envData); err != nil {
		return nil, err
	}
	sums[base+AttestationSuffix] = sha256Hex(envData)

	all, err := mergeChecksums(ctx, opts.OutDir, sums)
	if err != nil {
		return nil, err
	}
	if err := out.addBytes(ChecksumsFile, all.Marshal()); err != nil {
		return nil, err
	}
	if err := out.commit(); err != nil {
		return nil, err
	}
	res.Archive = filepath.Join(opts.OutDir, base+ArchiveSuffix)
	res.SBOM = filepath.Join(opts.OutDir, base+SBOMSuffix)
	res.Attestation = filepath.Join(opts.OutDir, base+AttestationSuffix)
	res.Checksums = filepath.Join(opts.OutDir, ChecksumsFile)
	res.SHA256 = archiveSum
	return res, nil
}

// checkManifest checks what a bundle needs beyond a valid manifest (Read
// validated the platform words, the artifacts' and headers' files and
// sums, and that there is at most one host): a host, or, without one,
// C-ABI libraries only (nothing Go loads them).
func checkManifest(m *manifests.Manifest) error {
	host, plugins := false, 0
	for _, a := range m.Artifacts {
		switch {
		case a.Kind == manifests.KindHost:
			host = true
		case !manifests.IsCABI(a.Kind):
			plugins++
		}
	}
	switch {
	case !host && plugins > 0:
		return fmt.Errorf("the manifest lists %d plugins and no host; bundle the host's build", plugins)
	case len(m.Artifacts) == 0:
		return errors.New("the manifest lists no artifacts")
	}
	return nil
}

// bundleFile is a file of a bundle besides the manifest: an artifact or a
// C-ABI library's C header, as the manifest records it.
type bundleFile struct {
	File   string
	Size   int64
	SHA256 string
	// Exec: the file is executable (mode 0755): the host, a plugin, a
	// c-shared library; not a c-archive or a header (0644).
	Exec bool
	// Kind is the artifact's kind, or "c-header" for a header; Name the
	// artifact's name (a header's library's).
	Kind, Name string
	// Of is, for a header, the file of its library.
	Of string
	// Artifact is the manifest's entry (a header's library's).
	Artifact manifests.Artifact
}

// KindHeader is the kind a bundle's SBOM and attestation give a C-ABI
// library's C header.
const KindHeader = "c-header"

// distFiles are the files of m's artifacts, each followed by its header,
// sorted by file.
func distFiles(m *manifests.Manifest) []bundleFile {
	var out []bundleFile
	for _, a := range m.Artifacts {
		out = append(out, bundleFile{File: a.File, Size: a.Size, SHA256: a.SHA256, Exec: a.Kind != manifests.KindCArchive, Kind: a.Kind, Name: a.Name, Artifact: a})
		if h := a.Header; h != nil {
			out = append(out, bundleFile{File: h.File, Size: h.Size, SHA256: h.SHA256, Kind: KindHeader, Name: a.Name, Of: a.File, Artifact: a})
		}
	}
	slices.SortFunc(out, func(a, b bundleFile) int { return strings.Compare(a.File, b.File) })
	return out
}

func hostOf(m *manifests.Manifest) manifests.Artifact {
	for _, a := range m.Artifacts {
		if a.Kind == manifests.KindHost {
			return a
		}
	}
	return manifests.Artifact{}
}

// mergeChecksums adds sums to the entries of the checksums file in dir,
// when there is one, replacing entries of the same names.
func mergeChecksums(ctx context.Context, dir string, sums Checksums) (Checksums, error) {
	path := filepath.Join(dir, ChecksumsFile)
	data, err := safefile.ReadFile(ctx, dir, ChecksumsFile, maxChecksumsSize)
	if errors.Is(err, fs.ErrNotExist) {
		return sums, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	old, err := ParseChecksums(data)
	if err != nil {
		return nil, &InputError{Err: fmt.Errorf("bundle: the existing %s: %w; remove it or choose another --out", path, err)}
	}
	for name, sum := range sums {
		old[name] = sum
	}
	return old, nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// outputs writes files to temporary names in dir and renames them into
// place only when all were written.
type outputs struct {
	dir   string
	temps []string // temporary files, in the order of names
	names []string
}

func (o *outputs) add(name string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(o.dir, ".pbuild-bundle-*")
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	o.temps = append(o.temps, f.Name())
	o.names = append(o.names, name)
	err = write(f)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		var mm *MismatchError
		if errors.As(err, &mm) {
			return err
		}
		return fmt.Errorf("bundle: write %s: %w", name, err)
	}
	return nil
}

func (o *outputs) addBytes(name string, data []byte) error {
	return o.add(name, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// commit renames every file into place, checksums.txt last.
func (o *outputs) commit() error {
	for i, tmp := range o.temps {
		if err := os.Rename(tmp, filepath.Join(o.dir, o.names[i])); err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
		o.temps[i] = ""
	}
	return nil
}

// cleanup removes the temporary files that were not renamed.
func (o *outputs) cleanup() {
	for _, tmp := range o.temps {
		if tmp != "" {
			os.Remove(tmp)
		}
	}
}

// MismatchError is a dist file that is not what its manifest says.
type MismatchError struct {
	File       string
	Have, Want string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("bundle: %s differs from the manifest: %s, manifest says %s", e.File, e.Have, e.Want)
}

// Hint tells the user what to do.
func (e *MismatchError) Hint() string {
	return "the dist was changed after it was built: run `pbuild build` again, then bundle"
}

// writeArchive writes files as a bundle's archive (package archive):
// gzip-compressed, below the directory top, every entry at mtime.
func writeArchive(ctx context.Context, w io.Writer, top string, files []archive.Entry, mtime time.Time) error {
	mtime = time.Unix(mtime.Unix(), 0)
	entries := []archive.Entry{{Name: ".", Dir: true}}
	for _, e := range files {
		e.ModTime = mtime
		entries = append(entries, e)
	}
	return archive.Write(ctx, w, entries, archive.WriteOptions{Prefix: top, DirTime: mtime, Gzip: true})
}

// distFile is the entry of an artifact or a header. The file is read
// only as a regular file inside the dist, of the manifest's size, and
// closing it after it was read checks its sha256.
func distFile(ctx context.Context, dist string, a bundleFile) archive.Entry {
	return archive.Entry{Name: a.File, Exec: a.Exec, Size: a.Size, Open: func() (io.ReadCloser, error) {
		f, err := safefile.Open(ctx, dist, a.File, safefile.NoLimit)
		var fe *safefile.Error
		if errors.As(err, &fe) {
			return nil, &MismatchError{File: a.File, Have: strings.TrimPrefix(fe.Detail, "is "), Want: "a regular file in the dist"}
		}
		if err != nil {
			return nil, err
		}
		if f.Size() != a.Size {
			f.Close()
			return nil, &MismatchError{File: a.File, Have: fmt.Sprintf("%d bytes", f.Size()), Want: fmt.Sprintf("%d bytes", a.Size)}
		}
		h := sha256.New()
		return &checkedFile{Reader: io.TeeReader(f, h), f: f, a: a, h: h}, nil
	}}
}

// checkedFile is a dist file read through a hash.
type checkedFile struct {
	io.Reader
	f *safefile.File
	a bundleFile
	h hash.Hash
}

// Close checks the sha256 of what was read; a short read has failed
// already.
func (c *checkedFile) Close() error {
	c.f.Close()
	if sum := hex.EncodeToString(c.h.Sum(nil)); sum != c.a.SHA256 {
		return &MismatchError{File: c.a.File, Have: "sha256 " + sum, Want: "sha256 " + c.a.SHA256}
	}
	return nil
}
