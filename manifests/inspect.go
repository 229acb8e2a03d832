package manifests

import (
	"context"
	"errors"
	"fmt"

	"github.com/pbuild/pbuild/internal/safefile"
	"github.com/pbuild/pbuild/loader/abi"
)

// NotGoBinaryError reports a file that is not an ELF file or carries no Go
// build information. Err is the *abi.ReadError saying which.
type NotGoBinaryError struct {
	Path string
	Err  error
}

func (e *NotGoBinaryError) Error() string {
	cause := e.Err
	// The path is already said once.
	if re, ok := cause.(*abi.ReadError); ok && re.Path == e.Path {
		cause = re.Err
	}
	return fmt.Sprintf("inspect %s: not a Go ELF binary: %v", e.Path, cause)
}

func (e *NotGoBinaryError) Unwrap() error { return e.Err }

// InspectFile reads the artifact at path without loading it and returns its
// Size, SHA256, PluginPath, BuildInfo and Packages. Name, Kind and File are
// left empty for the caller. The ELF facts come from [abi.Read].
//
// PluginPath is set for plugins only: the value of the go:link.thispluginpath
// symbol, or, when the symbol table has been stripped, the build info's path
// if the file was built with -buildmode=plugin. For a plugin built from a
// package directory the two agree; for one built from a list of .go files
// the linker's path is "plugin/unnamed-..." and only the symbol has it.
//
// A file that is not ELF or has no Go build info gives a *NotGoBinaryError.
func InspectFile(ctx context.Context, path string) (Artifact, error) {
	f, err := safefile.OpenPath(ctx, path, safefile.NoLimit)
	if err != nil {
		return Artifact{}, fmt.Errorf("inspect %s: %w", path, err)
	}
	defer f.Close()
	sum, err := f.Digest(ctx)
	if err != nil {
		return Artifact{}, fmt.Errorf("inspect %s: %w", path, err)
	}
	size := f.Size()
	af, err := abi.Read(f, path)
	if err != nil {
		if errors.Is(err, abi.ErrNotELF) || errors.Is(err, abi.ErrNoBuildInfo) {
			return Artifact{}, &NotGoBinaryError{Path: path, Err: err}
		}
		var re *abi.ReadError
		if errors.As(err, &re) && re.Path == path {
			err = re.Err
		}
		return Artifact{}, fmt.Errorf("inspect %s: %w", path, err)
	}
	if af.Corrupt != nil {
		// A damaged artifact never goes into a manifest.
		return Artifact{}, fmt.Errorf("inspect %s: %w", path, af.Corrupt)
	}
	return Artifact{
		Size:       size,
		SHA256:     sum,
		PluginPath: af.PluginPath,
		BuildInfo:  convertBuildInfo(af),
		Packages:   af.Packages,
	}, nil
}

func convertBuildInfo(f *abi.File) BuildInfo {
	out := BuildInfo{
		GoVersion: f.GoVersion,
		Path:      f.MainPath,
		Main:      f.MainModule,
		Deps:      f.DepVersions,
		Settings:  f.Settings,
	}
	if v := f.MainVersion; v != "" && v != "(devel)" && f.MainModule != "" {
		out.Main += "@" + v
	}
	return out
}
