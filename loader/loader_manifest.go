package loader

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/pbuild/pbuild/loader/abi"
	"github.com/pbuild/pbuild/loader/internal/regfile"
)

// manifestName is the file name of the manifest pbuild writes beside the
// plugins' directory (dist/pbuild.manifest.json for dist/plugins/*.so).
const manifestName = "pbuild.manifest.json"

// The manifest formats this package reads: 1, and 2, which adds C-ABI
// libraries (kinds "c-shared" and "c-archive") and facts the loader does
// not need.
const (
	minManifestSchemaVersion = 1
	maxManifestSchemaVersion = 2
)

// maxManifestSize bounds the manifest the loader reads.
const maxManifestSize = 64 << 20

// manifest is the part of pbuild.manifest.json the loader checks. The full
// format is github.com/pbuild/pbuild/manifests; the loader module depends
// on the standard library only, so it decodes what it needs itself.
type manifest struct {
	SchemaVersion int        `json:"schemaVersion"`
	ABIKey        string     `json:"abiKey"`
	Artifacts     []artifact `json:"artifacts"`
}

type artifact struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	File   string `json:"file"`   // slash path relative to the manifest's directory
	SHA256 string `json:"sha256"` // hex
}

// findManifest looks for the manifest in dir, then in its parent; it
// returns "" when there is none. Whatever is found there is the manifest:
// readManifest refuses it when it is not a regular file.
func findManifest(dir string) (string, error) {
	for _, d := range []string{dir, filepath.Dir(dir)} {
		p := filepath.Join(d, manifestName)
		fi, err := os.Stat(p) // never blocks, even on a named pipe
		switch {
		case err == nil && !fi.IsDir():
			return p, nil
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return "", err
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return "", nil
}

// readManifest reads the manifest at p: a regular file of at most
// maxManifestSize bytes.
func readManifest(p string) (*manifest, error) {
	data, err := regfile.ReadFile(p, maxManifestSize)
	if err != nil {
		return nil, err
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if m.SchemaVersion < minManifestSchemaVersion || m.SchemaVersion > maxManifestSchemaVersion {
		return nil, fmt.Errorf("schemaVersion %d, this loader reads %d to %d", m.SchemaVersion, minManifestSchemaVersion, maxManifestSchemaVersion)
	}
	return &m, nil
}

// cABIRefusal is the refusal of a file the manifest lists as a C-ABI
// library (kind c-shared or c-archive), nil for other kinds.
func cABIRefusal(file, mp string, a *artifact) *RefusedError {
	if !abi.IsCABI(a.Kind) {
		return nil
	}
	return &RefusedError{Path: file, Reason: fmt.Sprintf("manifest %s lists it as a C-ABI library (artifact %s, %s): it is for C hosts, not a Go plugin; "+
		"load it with dlopen from C, or build it as a plugin (plugins: in pbuild.yaml) to load it from Go", mp, a.Name, a.Kind)}
}

// listed finds the manifest beside file and the artifact it lists file
// as: mp is "" when there is no manifest, a nil when it does not list the
// file. file is absolute.
func listed(file string) (mp string, m *manifest, a *artifact, err error) {
	mp, err = findManifest(filepath.Dir(file))
	if err != nil || mp == "" {
		return mp, nil, nil, err
	}
	if m, err = readManifest(mp); err != nil {
		return mp, nil, nil, err
	}
	rel, err := filepath.Rel(filepath.Dir(mp), file)
	if err != nil {
		return mp, m, nil, err
	}
	rel = filepath.ToSlash(rel)
	for i := range m.Artifacts {
		if path.Clean(m.Artifacts[i].File) == rel {
			return mp, m, &m.Artifacts[i], nil
		}
	}
	return mp, m, nil, nil
}

// cABIListed is the refusal of a file that the manifest beside it lists
// as a C-ABI library, nil when there is no such manifest or it lists the
// file otherwise; for a file the loader cannot read as a plugin at all (a
// c-archive is no ELF file), so that the refusal says what it is.
func (l *Loader) cABIListed(file string) *RefusedError {
	if !l.manifest {
		return nil
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil
	}
	mp, _, a, err := listed(abs)
	if err != nil || a == nil {
		return nil
	}
	return cABIRefusal(file, mp, a)
}

// verifyManifest checks the plugin at file against the manifest beside it,
// if there is one: it must be listed, with its sha256, and the manifest's
// ABI key must be the host's (when the host knows its key).
func (l *Loader) verifyManifest(file string) error {
	abs, err := filepath.Abs(file)
	if err != nil {
		return refuseRead(file, err)
	}
	mp, m, a, err := listed(abs)
	switch {
	case err != nil && mp == "":
		return &RefusedError{Path: file, Reason: "cannot look for its manifest: " + err.Error(), Err: err}
	case err != nil && m == nil:
		return &RefusedError{Path: file, Reason: fmt.Sprintf("cannot read manifest %s: %v", mp, err), Err: err}
	case err != nil:
		return refuseRead(file, err)
	case mp == "":
		if l.requireManifest {
			return &RefusedError{Path: file, Reason: fmt.Sprintf("no %s in %s or %s, and the loader requires one (WithRequireManifest): only a manifest's sha256 proves a plugin intact",
				manifestName, filepath.Dir(abs), filepath.Dir(filepath.Dir(abs)))}
		}
		return nil
	case a == nil:
		rel, _ := filepath.Rel(filepath.Dir(mp), abs)
		return &RefusedError{Path: file, Reason: fmt.Sprintf("not listed in manifest %s: no artifact has file %q", mp, filepath.ToSlash(rel))}
	}
	if re := cABIRefusal(file, mp, a); re != nil {
		return re
	}
	sum, err := fileSHA256(abs)
	if err != nil {
		return refuseRead(file, err)
	}
	if want := strings.ToLower(a.SHA256); sum != want {
		return &RefusedError{Path: file, Reason: fmt.Sprintf("sha256 does not match manifest %s (artifact %s): have %s, want %s", mp, a.Name, sum, want)}
	}
	if l.abiKey != "" && m.ABIKey != l.abiKey {
		return &RefusedError{Path: file, Reason: fmt.Sprintf("abiKey of manifest %s is not the host's: have %s, want %s", mp, orUnset(m.ABIKey), l.abiKey)}
	}
	return nil
}

func orUnset(s string) string {
	if s == "" {
		return "(unset)"
	}
	return s
}

// fileSHA256 is the sha256 of the regular file at p, in hex.
func fileSHA256(p string) (string, error) {
	f, _, err := regfile.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
