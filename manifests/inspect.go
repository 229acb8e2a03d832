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

// MaxHeaderSize bounds the C header InspectLibrary reads.
const MaxHeaderSize = 64 << 20

// NotLibraryError is a Go binary given as a C-ABI library that was built
// otherwise: a Go plugin (which hangs or crashes a C host that dlopens
// it), or an executable.
type NotLibraryError struct {
	Path      string
	BuildMode string // the file's -buildmode: "plugin", "exe", ...
}

func (e *NotLibraryError) Error() string {
	if e.BuildMode == "plugin" {
		return fmt.Sprintf("inspect %s: a Go plugin (-buildmode=plugin), not a C-ABI library: a C host that dlopens it hangs or crashes", e.Path)
	}
	return fmt.Sprintf("inspect %s: not a C-ABI library (built with -buildmode=%s)", e.Path, e.BuildMode)
}

// Hint tells the user what to do.
func (e *NotLibraryError) Hint() string {
	return "build it as a library: libraries: [{name, path, buildmode: c-shared}] in pbuild.yaml"
}

// InspectLibrary reads a C-ABI library and its C header without loading
// anything, and returns what the manifest records of them: Size, SHA256,
// BuildInfo, Packages ({}), CSymbols, GLIBC and the header's Size and
// SHA256. Name, Kind, File, LoadedBy and Header.File are left for the
// caller (the builder, from the plan's target); PluginPath stays empty.
//
// The file is told by its content:
//   - an ELF shared object built with -buildmode=c-shared: its build info,
//     CSymbols from its .dynsym (abi.File.CExports: the defined global
//     functions and variables a C host can dlsym, without Go's and cgo's
//     glue), GLIBC every GLIBC_x.y version it needs (abi.File.GLIBCNeeds);
//   - an ar archive ("!<arch>\n") built with -buildmode=c-archive: its
//     build info from the Go object's .go.buildinfo section, CSymbols from
//     the symbol tables of its ELF members by the same rule (the members,
//     not the header's extern declarations: they are what a C program's
//     link resolves, and they include the global C functions of the cgo
//     code, which the header does not declare), and no GLIBC versions
//     (its objects need none until a C program is linked).
//
// A Go binary of another build mode (a plugin, an executable) is a
// *NotLibraryError; a file that is neither a Go ELF binary nor such an
// archive a *NotGoBinaryError. Both files must be regular files (the
// paths are followed like a user's: the caller's own output), the header
// at most MaxHeaderSize bytes; every read stops when ctx is cancelled.
func InspectLibrary(ctx context.Context, file, header string) (Artifact, error) {
	if header == "" {
		return Artifact{}, fmt.Errorf("inspect %s: no C header named", file)
	}
	f, err := safefile.OpenPath(ctx, file, safefile.NoLimit)
	if err != nil {
		return Artifact{}, fmt.Errorf("inspect %s: %w", file, err)
	}
	defer f.Close()
	sum, err := f.Digest(ctx)
	if err != nil {
		return Artifact{}, fmt.Errorf("inspect %s: %w", file, err)
	}
	af, err := abi.ReadArtifact(safefile.ContextReader{Ctx: ctx, File: f}, file)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return Artifact{}, cerr
		}
		if errors.Is(err, abi.ErrNotELF) || errors.Is(err, abi.ErrNoBuildInfo) || errors.Is(err, abi.ErrThinArchive) {
			return Artifact{}, &NotGoBinaryError{Path: file, Err: err}
		}
		var re *abi.ReadError
		if errors.As(err, &re) && re.Path == file {
			err = re.Err
		}
		return Artifact{}, fmt.Errorf("inspect %s: %w", file, err)
	}
	if af.Corrupt != nil {
		return Artifact{}, fmt.Errorf("inspect %s: %w", file, af.Corrupt)
	}
	if mode := af.BuildMode(); !abi.IsCABI(mode) {
		return Artifact{}, &NotLibraryError{Path: file, BuildMode: mode}
	}
	h, err := safefile.OpenPath(ctx, header, MaxHeaderSize)
	if err != nil {
		return Artifact{}, fmt.Errorf("inspect the C header %s: %w", header, err)
	}
	defer h.Close()
	hsum, err := h.Digest(ctx)
	if err != nil {
		return Artifact{}, fmt.Errorf("inspect the C header %s: %w", header, err)
	}
	return Artifact{
		Size:      f.Size(),
		SHA256:    sum,
		BuildInfo: convertBuildInfo(af),
		Packages:  map[string]string{},
		CSymbols:  af.CExports,
		GLIBC:     af.GLIBCNeeds,
		Header:    &Header{Size: h.Size(), SHA256: hsum},
	}, nil
}
