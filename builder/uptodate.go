package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"

	"golang.org/x/mod/sumdb/dirhash"

	"github.com/pbuild/pbuild/internal/digest"
	"github.com/pbuild/pbuild/internal/safefile"
	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/plan"
	"github.com/pbuild/pbuild/resolve"
	"github.com/pbuild/pbuild/toolchain"
)

// InputsFile, in the output directory, records what the build that made
// it was made from, so that a build with the same inputs is a no-op.
const InputsFile = ".pbuild-inputs"

// inputsFormat names the recipe of the inputs digest; a change to what a
// build does with the same inputs must change it.
const inputsFormat = "pbuild inputs v3"

// recordedInputs is the content of InputsFile.
type recordedInputs struct {
	Inputs string `json:"inputs"` // sha256 of everything the build depends on
	// Manifests are the sha256 of the manifests it wrote, by file
	// (PlatformManifest.File), in the plan's platform order.
	Manifests []recordedManifest `json:"manifests"`
	// Raised are the requirements the resolve step raised, reported again
	// by a build that finds the directory up to date.
	Raised []resolve.Raised `json:"raised,omitempty"`
	Notes  []string         `json:"notes,omitempty"`
}

// recordedManifest is one manifest a build wrote.
type recordedManifest struct {
	Platform string `json:"platform"`
	File     string `json:"file"`
	SHA256   string `json:"sha256"`
}

// inputsDigest covers everything a build's output depends on before the
// resolve step: pbuild itself, the config as pinned, the toolchain image,
// the staged sources and go.mod files, the environment of the resolve step
// and the pin. The resolve step and the compiles are functions of these (the
// module versions are fixed by the go.mod and go.sum files, whose content
// the checksum database makes immutable).
func inputsDigest(p *plan.Plan, tc *toolchain.Toolchain, stage string, opts *Options) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\ntool %s\n", inputsFormat, opts.ToolID)
	// The plan as pinned, but where the checkout lies.
	type target struct{ Name, Kind, Version, File string }
	planned := struct {
		Settings  plan.Settings
		Platforms []plan.Platform
		Split     bool
		Targets   []target
	}{Settings: p.Settings, Platforms: p.Platforms, Split: p.Split}
	for _, pl := range p.Platforms {
		for _, t := range p.For(pl) {
			planned.Targets = append(planned.Targets, target{t.Name, string(t.Kind), t.Version, path.Join(p.PlatformDir(pl), t.File())})
		}
	}
	j, err := json.Marshal(planned)
	if err != nil {
		return "", fmt.Errorf("inputs digest: %w", err)
	}
	fmt.Fprintf(h, "plan %d\n%s\n", len(j), j)
	fmt.Fprintf(h, "toolchain %s %s %s/%s %s %q %q\n", tc.Image, tc.ImageID, tc.GOOS, tc.GOARCH, tc.GOAMD64, tc.CC, tc.Packages)
	for _, pl := range slices.Sorted(maps.Keys(tc.Cross)) {
		fmt.Fprintf(h, "cross %s %s %q\n", pl, tc.Cross[pl].Command, tc.Cross[pl].Version)
	}
	src, err := dirhash.HashDir(stage, "src", dirhash.Hash1)
	if err != nil {
		return "", fmt.Errorf("inputs digest: %w", err)
	}
	fmt.Fprintf(h, "source %s\n", src)
	env := append([]string(nil), opts.ResolveEnv...)
	sort.Strings(env)
	for _, e := range env {
		fmt.Fprintf(h, "env %q\n", e)
	}
	if p := opts.Pin; p != nil {
		fmt.Fprintf(h, "pin host=%t %s\n", p.Host, p.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// upToDate returns the output directory's manifests, and what its build
// recorded, when the build that made it had these inputs and every artifact
// is still as recorded; nil when the build must run.
func upToDate(ctx context.Context, p *plan.Plan, inputs string) ([]PlatformManifest, *recordedInputs) {
	data, err := safefile.ReadFile(ctx, p.Output, InputsFile, 1<<20)
	if err != nil {
		return nil, nil
	}
	var rec recordedInputs
	if json.Unmarshal(data, &rec) != nil || rec.Inputs != inputs || len(rec.Manifests) != len(p.Platforms) {
		return nil, nil
	}
	var ms []PlatformManifest
	for i, pl := range p.Platforms {
		pm := PlatformManifest{Platform: pl, Dir: p.PlatformDir(pl)}
		if r := rec.Manifests[i]; r.Platform != pl.String() || r.File != pm.File() {
			return nil, nil
		}
		mdata, err := safefile.ReadFile(ctx, p.Output, pm.File(), manifests.MaxSize)
		if err != nil {
			return nil, nil
		}
		sum := sha256.Sum256(mdata)
		if hex.EncodeToString(sum[:]) != rec.Manifests[i].SHA256 {
			return nil, nil
		}
		m, err := manifests.Read(bytes.NewReader(mdata))
		if err != nil || len(m.Artifacts) == 0 {
			return nil, nil
		}
		dir := filepath.Join(p.Output, filepath.FromSlash(pm.Dir))
		for _, a := range m.Artifacts {
			if !intact(ctx, dir, a) {
				return nil, nil
			}
		}
		pm.Manifest = m
		ms = append(ms, pm)
	}
	return ms, &rec
}

// intact reports whether an artifact's files in dir (the artifact, and a
// C-ABI library's header) are the ones its manifest entry records.
func intact(ctx context.Context, dir string, a manifests.Artifact) bool {
	for _, f := range a.Files() {
		if !intactFile(ctx, dir, f.File, f.Size, f.SHA256) {
			return false
		}
	}
	return true
}

// intactFile reports whether dir's file (slash-separated) is a regular file
// of size bytes hashing to sha.
func intactFile(ctx context.Context, dir, file string, size int64, sha string) bool {
	fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(file)))
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != size {
		return false
	}
	got, err := safefile.Digest(ctx, dir, file, size)
	return err == nil && got == sha
}

// writeInputs records the inputs of the build whose manifests ms are in
// dir.
func writeInputs(ctx context.Context, dir, inputs string, ms []PlatformManifest, raised []resolve.Raised, notes []string) error {
	rec := recordedInputs{Inputs: inputs, Raised: raised, Notes: notes}
	for _, pm := range ms {
		sum, err := digest.FileContext(ctx, filepath.Join(dir, filepath.FromSlash(pm.File())))
		if err != nil {
			return fmt.Errorf("record inputs: %w", err)
		}
		rec.Manifests = append(rec.Manifests, recordedManifest{Platform: pm.Platform.String(), File: pm.File(), SHA256: sum})
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("record inputs: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, InputsFile), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("record inputs: %w", err)
	}
	return nil
}

// previousArtifacts are the files of prev, a platform's directory of the
// output, that the last build recorded and that are still intact: given to
// the compile step, they let the go command skip linking what is up to
// date, as it does for a native build's -o files. The go command compares
// only their build IDs, so a file that no longer matches its manifest entry
// is never given. Only the files this build makes are given, so a plugin
// dropped from the config does not come back. They are returned with their
// manifest entries, by file.
func previousArtifacts(ctx context.Context, prev string, pkgs []resolve.Package) map[string]manifests.Artifact {
	m, err := manifests.ReadFile(ctx, filepath.Join(prev, manifests.FileName))
	if err != nil {
		return nil
	}
	wanted := map[string]resolve.Package{}
	for _, p := range pkgs {
		wanted[p.File()] = p
	}
	files := map[string]manifests.Artifact{}
	for _, a := range m.Artifacts {
		p, ok := wanted[a.File]
		if ok && a.Kind == string(p.Kind) && intact(ctx, prev, a) {
			files[a.File] = a
		}
	}
	return files
}
