package builder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
const inputsFormat = "pbuild inputs v2"

// recordedInputs is the content of InputsFile.
type recordedInputs struct {
	Inputs   string `json:"inputs"`   // sha256 of everything the build depends on
	Manifest string `json:"manifest"` // sha256 of the manifest it wrote
	// Raised are the requirements the resolve step raised, reported again
	// by a build that finds the directory up to date.
	Raised []resolve.Raised `json:"raised,omitempty"`
	Notes  []string         `json:"notes,omitempty"`
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
		Settings plan.Settings
		Platform plan.Platform
		Targets  []target
	}{Settings: p.Settings, Platform: p.Platform}
	for _, t := range p.Targets {
		planned.Targets = append(planned.Targets, target{t.Name, string(t.Kind), t.Version, t.File()})
	}
	j, err := json.Marshal(planned)
	if err != nil {
		return "", fmt.Errorf("inputs digest: %w", err)
	}
	fmt.Fprintf(h, "plan %d\n%s\n", len(j), j)
	fmt.Fprintf(h, "toolchain %s %s %s/%s %s %q\n", tc.Image, tc.ImageID, tc.GOOS, tc.GOARCH, tc.GOAMD64, tc.CC)
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

// upToDate returns the output directory's manifest, and what its build
// recorded, when the build that made it had these inputs and every artifact
// is still as recorded; nil when the build must run.
func upToDate(ctx context.Context, outDir, inputs string) (*manifests.Manifest, *recordedInputs) {
	data, err := safefile.ReadFile(ctx, outDir, InputsFile, 1<<20)
	if err != nil {
		return nil, nil
	}
	var rec recordedInputs
	if json.Unmarshal(data, &rec) != nil || rec.Inputs != inputs {
		return nil, nil
	}
	mdata, err := safefile.ReadFile(ctx, outDir, manifests.FileName, manifests.MaxSize)
	if err != nil {
		return nil, nil
	}
	sum := sha256.Sum256(mdata)
	if hex.EncodeToString(sum[:]) != rec.Manifest {
		return nil, nil
	}
	m, err := manifests.Read(bytes.NewReader(mdata))
	if err != nil || len(m.Artifacts) == 0 {
		return nil, nil
	}
	for _, a := range m.Artifacts {
		if !intact(ctx, outDir, a) {
			return nil, nil
		}
	}
	return m, &rec
}

// intact reports whether an artifact's file in dir is the one its manifest
// entry records.
func intact(ctx context.Context, dir string, a manifests.Artifact) bool {
	fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(a.File)))
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != a.Size {
		return false
	}
	got, err := safefile.Digest(ctx, dir, a.File, a.Size)
	return err == nil && got == a.SHA256
}

// writeInputs records the inputs of the build whose manifest is in dir.
func writeInputs(ctx context.Context, dir, inputs string, raised []resolve.Raised, notes []string) error {
	sum, err := digest.FileContext(ctx, filepath.Join(dir, manifests.FileName))
	if err != nil {
		return fmt.Errorf("record inputs: %w", err)
	}
	data, err := json.Marshal(recordedInputs{Inputs: inputs, Manifest: sum, Raised: raised, Notes: notes})
	if err != nil {
		return fmt.Errorf("record inputs: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, InputsFile), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("record inputs: %w", err)
	}
	return nil
}

// previousArtifacts are the files of the output directory that the last
// build recorded and that are still intact: given to the compile step, they
// let the go command skip linking what is up to date, as it does for a
// native build's -o files. The go command compares only their build IDs, so
// a file that no longer matches its manifest entry is never given.
// Only the files this build makes are given, so a plugin dropped from the
// config does not come back. They are returned with their manifest entries,
// by file.
func previousArtifacts(ctx context.Context, outDir string, ws *resolve.Workspace) map[string]manifests.Artifact {
	m, err := manifests.ReadFile(ctx, filepath.Join(outDir, manifests.FileName))
	if err != nil {
		return nil
	}
	wanted := map[string]bool{}
	for _, p := range ws.Packages {
		wanted[p.File()] = true
	}
	files := map[string]manifests.Artifact{}
	for _, a := range m.Artifacts {
		if wanted[a.File] && intact(ctx, outDir, a) {
			files[a.File] = a
		}
	}
	return files
}
