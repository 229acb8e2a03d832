package builder

import (
	"context"
	"fmt"
	"strings"

	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/plan"
	"github.com/pbuild/pbuild/toolchain"
)

// Backend runs the two steps of a build that need the toolchain: the
// resolve (with the network) and the compile (without). The Docker engine
// (internal/dockerbackend) and BuildKit (internal/buildkitengine) implement
// it; everything else a build does is the same on both.
type Backend interface {
	// Name says where builds run, for progress ("docker", "buildkit").
	Name() string
	Resolve(ctx context.Context, r ResolveRequest) (*ResolveOutput, error)
	Compile(ctx context.Context, r CompileRequest) (*CompileOutput, error)
}

// ResolveRequest is one resolve of the staged workspace: `go work use` of
// UseDirs, `go list -m -json all`, `go mod graph` (with Graph), `go work
// vendor`, in the toolchain with the network and the module cache
// plan.ModCache. vendor/, go.work.sum and, with UseDirs, go.work come back
// into Stage.
type ResolveRequest struct {
	Toolchain *toolchain.Toolchain
	Stage     string
	Env       []string // plan.ResolveEnv
	CABundle  []byte   // placed at plan.CABundlePath when set
	UseDirs   []string // slash paths relative to the workspace
	Graph     bool
	Project   string // the config file, for labels
}

// ResolveOutput is what the resolve listed.
type ResolveOutput struct {
	List  []byte // `go list -m -json all`
	Graph []byte // `go mod graph`, with ResolveRequest.Graph
}

// Unit is one artifact to compile.
type Unit struct {
	Target plan.Target
	Args   []string // the go build command line; its -o is Out
	Dir    string   // the working directory, below plan.SourceDir
	Out    string   // plan.OutDir + "/" + Target.File()
	// Inputs are the staged paths (slash, relative) the unit reads; a
	// backend that can, shows the unit only these. Nil: everything.
	Inputs []string
}

// CompileRequest compiles every unit, phase after phase, the units of a
// phase in parallel, without network, with the persistent Go build cache
// plan.GoCache, into Out.
type CompileRequest struct {
	Toolchain *toolchain.Toolchain
	Stage     string
	Phases    [][]Unit
	Env       []string // plan.Settings.CompileEnv
	// Out is the new output directory: every unit's file goes there, at
	// its Target.File(), except the ones kept (CompileOutput.Kept).
	Out string
	// Previous are the last build's artifacts that are intact in
	// PreviousDir, by file: a backend may let the go command keep those
	// that are up to date instead of linking them again. Nil with Force.
	Previous    map[string]manifests.Artifact
	PreviousDir string
	// Force links every unit again, whatever any cache holds.
	Force   bool
	Project string // the config file, for labels
}

// CompileOutput is what the compile did.
type CompileOutput struct {
	// Kept are the files of Previous that were up to date: not linked
	// again. Those missing from Out are taken from PreviousDir.
	Kept []string
}

// CompileError is an artifact that did not build.
type CompileError struct {
	Name, Kind string
	Code       int
	Output     string
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("build %s %s: exit %d\n%s", e.Kind, e.Name, e.Code, strings.TrimSpace(e.Output))
}

// Hint tells the user what to do.
func (e *CompileError) Hint() string {
	if strings.Contains(e.Output, "no space left on device") {
		return "the Docker engine's disk is full (not your code): free space there (docker system df, docker builder prune) and build again"
	}
	return "fix the error the go command reports above; the output directory was left as it was"
}
