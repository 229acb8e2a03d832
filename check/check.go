package check

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pbuild/pbuild/internal/safefile"
	"github.com/pbuild/pbuild/loader/abi"
	"github.com/pbuild/pbuild/manifests"
)

// Options tune a check.
type Options struct {
	// MaxGLIBC is the target system's glibc version ("2.36"); files needing
	// a newer one fail. Empty: not checked.
	MaxGLIBC string
	// Symbols are the C symbols every C-ABI library must export: what its
	// C host looks up with dlsym (nbdkit: plugin_init). They do not apply
	// to a host or Go plugins.
	Symbols []string
}

// Result is a verdict.
type Result struct {
	// Host is nil when there is none: C-ABI libraries alone (Libraries, or
	// a manifest of libraries only).
	Host    *abi.File
	Plugins []*abi.File
	// Report is the replay of loading Plugins into Host; it has no loads
	// when there are no plugins.
	Report *abi.Report
	// Libraries are the verdicts on the C-ABI libraries checked for C
	// hosts, in file order.
	Libraries []Library
	// Tampered lists artifacts and C headers whose bytes are not the
	// manifest's.
	Tampered []Tampered
}

// Library is the verdict on a file a C host is to use: a C-ABI library
// (c-shared, loaded with dlopen; c-archive, linked into a C program), or a
// file given as one that is not (a Go plugin, an executable).
type Library struct {
	File *abi.File
	// Kind is what the manifest lists the file as (c-shared, c-archive);
	// "" when it was named on the command line.
	Kind string
	// Header is the C header's file the manifest lists, "" when none.
	Header   string
	Problems []abi.Problem
}

// OK reports whether the library is fit for its C host.
func (l Library) OK() bool { return len(l.Problems) == 0 }

// Tampered is an artifact that differs from its manifest entry.
type Tampered struct {
	File string `json:"file"`
	Have string `json:"have"`
	Want string `json:"want"`
}

// OK reports whether every plugin loads into the host, every C-ABI
// library is fit for a C host, and no file differs from the manifest.
func (r *Result) OK() bool {
	return r.Report.OK() && len(r.Tampered) == 0 && r.failedLibraries() == 0
}

func (r *Result) failedLibraries() int {
	n := 0
	for _, l := range r.Libraries {
		if !l.OK() {
			n++
		}
	}
	return n
}

// InputError is input that cannot be checked: a missing or unreadable
// file, a file that is not a Go binary, a bad manifest.
type InputError struct {
	Err error
}

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Hint tells the user what to do.
func (e *InputError) Hint() string {
	return "pass a Go host executable and Go plugins (.so), --c-abi with C-ABI libraries (.so, .a), or --manifest with a pbuild manifest"
}

// IncompatibleError is a verdict that the files cannot all load together.
type IncompatibleError struct {
	// Failed counts the plugins that are opened and fail, Total all of
	// them; NeverReached those after DiedAt, the plugin that kills the
	// host.
	Failed, Total int
	NeverReached  int
	DiedAt        string
	Tampered      int
	// LibrariesFailed counts the C-ABI libraries not fit for a C host, of
	// Libraries.
	LibrariesFailed, Libraries int
}

func (e *IncompatibleError) Error() string {
	never := ""
	if e.NeverReached > 0 {
		never = fmt.Sprintf(", %d never reached (the host dies at %s)", e.NeverReached, e.DiedAt)
	}
	libs := ""
	if e.LibrariesFailed > 0 {
		libs = fmt.Sprintf("; %d of %d C-ABI libraries are not fit for C hosts", e.LibrariesFailed, e.Libraries)
	}
	switch {
	case e.Tampered > 0 && e.Total == 0:
		return fmt.Sprintf("check: %d artifacts differ from the manifest%s", e.Tampered, libs)
	case e.Tampered > 0:
		return fmt.Sprintf("check: %d artifacts differ from the manifest; %d of %d plugins cannot load%s%s", e.Tampered, e.Failed, e.Total, never, libs)
	}
	return fmt.Sprintf("check: %d of %d plugins cannot load into the host%s%s", e.Failed, e.Total, never, libs)
}

// Hint tells the user what to do.
func (e *IncompatibleError) Hint() string {
	return "follow the fix under each failing plugin above; building host and plugins in one `pbuild build` makes them match"
}

// LibraryError is a verdict that C-ABI libraries are not fit for their C
// hosts (and nothing else failed): a Go plugin given where a C host
// expects a C-ABI library, a symbol the host looks up that is not
// exported, a newer glibc than the target's, a damaged file.
type LibraryError struct {
	Failed, Total int
	// File and First are the first failing library and its first problem
	// (a Go plugin given for a C host before any other), whose fix the
	// hint gives.
	File  string
	First abi.Problem
}

func (e *LibraryError) Error() string {
	what, _, _ := strings.Cut(e.First.Detail, ": ")
	return fmt.Sprintf("check: %d of %d C-ABI libraries are not fit for C hosts: %s: %s", e.Failed, e.Total, e.File, what)
}

// Hint tells the user what to do: the fix of the first problem.
func (e *LibraryError) Hint() string {
	if fix := Fix(e.First); fix != "" {
		return fix
	}
	return "follow the fix under each failing library above"
}

// Err is nil for a compatible result; a *LibraryError when only C-ABI
// libraries failed; else an *IncompatibleError.
func (r *Result) Err() error {
	if r.OK() {
		return nil
	}
	libsFailed := r.failedLibraries()
	if r.Report.OK() && len(r.Tampered) == 0 {
		// The first failure, or the first Go plugin given for a C host:
		// the mistake whose fix matters most.
		e := &LibraryError{Failed: libsFailed, Total: len(r.Libraries)}
		for _, l := range r.Libraries {
			if !l.OK() && (e.File == "" || l.Problems[0].Kind == abi.GoPluginForC && e.First.Kind != abi.GoPluginForC) {
				e.File, e.First = l.File.Path, l.Problems[0]
			}
		}
		return e
	}
	e := &IncompatibleError{Total: len(r.Report.Loads), Tampered: len(r.Tampered), DiedAt: r.Report.DiedAt(),
		LibrariesFailed: libsFailed, Libraries: len(r.Libraries)}
	for _, l := range r.Report.Loads {
		switch {
		case l.NeverReached != "":
			e.NeverReached++
		case !l.OK:
			e.Failed++
		}
	}
	return e
}

// MaxFileSize bounds every file check reads, a host or a plugin.
const MaxFileSize = 4 << 30

// Files checks plugins, loaded in the given order, against host. The paths
// are the user's: links are followed, but every file must be a regular
// file (a named pipe or a device is an *InputError at once, before any
// file is parsed). A plugin is identified by its real path, as
// plugin.Open identifies it: the same file given again, by any path, is
// the plugin already loaded. A C-ABI library given as a plugin fails the
// load (abi.CLibrary). Options.Symbols does not apply.
func Files(ctx context.Context, host string, plugins []string, opts Options) (*Result, error) {
	parsed, err := readPaths(ctx, append([]string{host}, plugins...))
	if err != nil {
		return nil, err
	}
	h, ps := parsed[0], parsed[1:]
	return &Result{Host: h, Plugins: ps, Report: abi.Check(h, ps, abi.Options{MaxGLIBC: opts.MaxGLIBC})}, nil
}

// Libraries checks files a C host is to use, in C-ABI mode: each must be
// a C-ABI library (c-shared or c-archive; a Go plugin is refused with the
// fix, as a C host that dlopens one hangs or crashes), need no newer glibc
// than opts.MaxGLIBC and export every symbol of opts.Symbols. The paths
// are read as Files reads them. There is no host: nothing Go loads them.
func Libraries(ctx context.Context, paths []string, opts Options) (*Result, error) {
	parsed, err := readPaths(ctx, paths)
	if err != nil {
		return nil, err
	}
	r := &Result{Report: abi.Check(nil, nil, abi.Options{})}
	for _, f := range parsed {
		r.Libraries = append(r.Libraries, checkLibrary(f, "", "", opts))
	}
	return r, nil
}

// readPaths opens every path (a regular file, links followed) before it
// parses any, then reads each: an ELF file, or an ar archive (a
// c-archive), with ctx honoured.
func readPaths(ctx context.Context, paths []string) ([]*abi.File, error) {
	var files []*safefile.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, p := range paths {
		f, err := safefile.OpenPath(ctx, p, MaxFileSize)
		if err != nil {
			return nil, inputError(ctx, err)
		}
		files = append(files, f)
	}
	var parsed []*abi.File
	for i, f := range files {
		a, err := readArtifact(ctx, f, paths[i])
		if err != nil {
			return nil, err
		}
		if err := abi.Identify(a, paths[i]); err != nil {
			return nil, &InputError{Err: err}
		}
		parsed = append(parsed, a)
	}
	return parsed, nil
}

// readArtifact reads the ABI facts of f (named name in messages): an
// *InputError when it is no Go binary, the context's error when ctx is
// cancelled.
func readArtifact(ctx context.Context, f *safefile.File, name string) (*abi.File, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a, err := abi.ReadArtifact(safefile.ContextReader{Ctx: ctx, File: f}, name)
	if err != nil {
		return nil, inputError(ctx, err)
	}
	return a, nil
}

// checkLibrary is the verdict on f as a C-ABI library: of kind (what the
// manifest lists it as; "" for either), with its header.
func checkLibrary(f *abi.File, kind, header string, opts Options) Library {
	return Library{File: f, Kind: kind, Header: header,
		Problems: abi.CheckLibrary(f, abi.LibraryOptions{MaxGLIBC: opts.MaxGLIBC, Symbols: opts.Symbols, Want: kind})}
}

// inputError is err as an *InputError, unless it is ctx's own error.
func inputError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
		return err
	}
	return &InputError{Err: err}
}

// Manifest checks the artifacts a pbuild manifest lists, from the files
// beside it: the host, then the plugins in file order, and every C-ABI
// library (kinds c-shared and c-archive) in C-ABI mode, as Libraries does,
// as the kind the manifest lists. Files and C headers whose sha256
// differs from the manifest's are reported as tampered. The manifest is
// validated as it is read, and every artifact and header is read only as a
// regular file inside the manifest's directory.
func Manifest(ctx context.Context, path string, opts Options) (*Result, error) {
	m, err := manifests.ReadFile(ctx, path)
	if err != nil {
		return nil, inputError(ctx, err)
	}
	return Dir(ctx, filepath.Dir(path), m, opts)
}

// Dir checks the artifacts of m found in dir. An artifact (or C header)
// whose file leaves dir, or is not a regular file, is an *InputError
// naming it. A manifest with plugins must list a host; one of C-ABI
// libraries only needs none (nothing Go loads them).
func Dir(ctx context.Context, dir string, m *manifests.Manifest, opts Options) (*Result, error) {
	var host *abi.File
	var hostFile string
	var plugins []*abi.File
	var libs []Library
	tampered, err := artifacts(ctx, dir, m, func(a manifests.Artifact, f *abi.File) error {
		switch {
		case manifests.IsCABI(a.Kind):
			libs = append(libs, checkLibrary(f, a.Kind, headerFile(a), opts))
		case a.Kind != manifests.KindHost:
			plugins = append(plugins, f)
		case host != nil:
			return &InputError{Err: fmt.Errorf("manifest lists two hosts: %s and %s", hostFile, a.File)}
		default:
			host, hostFile = f, a.File
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if host == nil && (len(plugins) > 0 || len(libs) == 0) {
		return nil, &InputError{Err: fmt.Errorf("manifest lists no host")}
	}
	return &Result{Host: host, Plugins: plugins, Report: abi.Check(host, plugins, abi.Options{MaxGLIBC: opts.MaxGLIBC}), Libraries: libs, Tampered: tampered}, nil
}

// DirAgainst checks the plugins of m found in dir against a released
// host known only from its manifest entry: its recorded package hashes and
// build info stand in for the binary. C-ABI libraries of m are checked as
// Dir checks them.
func DirAgainst(ctx context.Context, dir string, m *manifests.Manifest, host manifests.Artifact, opts Options) (*Result, error) {
	var plugins []*abi.File
	var libs []Library
	tampered, err := artifacts(ctx, dir, m, func(a manifests.Artifact, f *abi.File) error {
		if manifests.IsCABI(a.Kind) {
			libs = append(libs, checkLibrary(f, a.Kind, headerFile(a), opts))
		} else {
			plugins = append(plugins, f)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	h := HostFromManifest(host)
	return &Result{Host: h, Plugins: plugins, Report: abi.Check(h, plugins, abi.Options{MaxGLIBC: opts.MaxGLIBC}), Libraries: libs, Tampered: tampered}, nil
}

func headerFile(a manifests.Artifact) string {
	if a.Header == nil {
		return ""
	}
	return a.Header.File
}

// MaxHeaderSize bounds a C header check reads.
const MaxHeaderSize = manifests.MaxHeaderSize

// artifacts reads every artifact of m in dir, in file order: first it
// opens each (only a regular file inside dir) and hashes it, and hashes
// its C header, then it reads the ABI facts from the same open file and
// calls fn with them. It lists the artifacts and headers whose sha256 is
// not the manifest's.
func artifacts(ctx context.Context, dir string, m *manifests.Manifest, fn func(a manifests.Artifact, f *abi.File) error) ([]Tampered, error) {
	arts := append([]manifests.Artifact(nil), m.Artifacts...)
	sort.Slice(arts, func(i, j int) bool { return arts[i].File < arts[j].File })
	var files []*safefile.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var tampered []Tampered
	for _, a := range arts {
		f, sum, err := openArtifact(ctx, dir, a)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
		if sum != a.SHA256 {
			tampered = append(tampered, Tampered{File: a.File, Have: sum, Want: a.SHA256})
		}
		if h := a.Header; h != nil {
			sum, err := headerSum(ctx, dir, a)
			if err != nil {
				return nil, err
			}
			if sum != h.SHA256 {
				tampered = append(tampered, Tampered{File: h.File, Have: sum, Want: h.SHA256})
			}
		}
	}
	for i, a := range arts {
		parsed, err := readArtifact(ctx, files[i], filepath.Join(dir, filepath.FromSlash(a.File)))
		if err != nil {
			return nil, err
		}
		if err := fn(a, parsed); err != nil {
			return nil, err
		}
	}
	return tampered, nil
}

// headerSum is the sha256 of a's C header in dir: only a regular file
// inside dir, of at most MaxHeaderSize bytes.
func headerSum(ctx context.Context, dir string, a manifests.Artifact) (string, error) {
	fail := func(err error) (string, error) {
		return "", inputError(ctx, fmt.Errorf("artifact %s: C header: %w", a.Name, err))
	}
	if err := manifests.CheckFile(a.Header.File); err != nil {
		return fail(err)
	}
	sum, err := safefile.Digest(ctx, dir, a.Header.File, MaxHeaderSize)
	if err != nil {
		return fail(err)
	}
	return sum, nil
}

// openArtifact opens an artifact's file and hashes it.
func openArtifact(ctx context.Context, dir string, a manifests.Artifact) (*safefile.File, string, error) {
	fail := func(err error) (*safefile.File, string, error) {
		return nil, "", inputError(ctx, fmt.Errorf("artifact %s: %w", a.Name, err))
	}
	if err := manifests.CheckFile(a.File); err != nil {
		return fail(err)
	}
	f, err := safefile.Open(ctx, dir, a.File, MaxFileSize)
	if err != nil {
		return fail(err)
	}
	sum, err := f.Digest(ctx)
	if err != nil {
		f.Close()
		return fail(err)
	}
	return f, sum, nil
}

// HostFromManifest is the ABI of a host as its manifest entry records it.
func HostFromManifest(a manifests.Artifact) *abi.File {
	f := &abi.File{
		Path: a.File + " (from its manifest)", Packages: a.Packages,
		GoVersion: a.BuildInfo.GoVersion, MainPath: a.BuildInfo.Path, Deps: a.BuildInfo.Deps, Settings: a.BuildInfo.Settings,
	}
	f.MainModule, _, _ = strings.Cut(a.BuildInfo.Main, "@")
	f.Class, f.Machine = elfOf(a.BuildInfo.Settings["GOARCH"])
	return f
}

// elfOf is the ELF class and machine of a GOARCH.
func elfOf(goarch string) (elf.Class, elf.Machine) {
	switch goarch {
	case "amd64":
		return elf.ELFCLASS64, elf.EM_X86_64
	case "arm64":
		return elf.ELFCLASS64, elf.EM_AARCH64
	case "386":
		return elf.ELFCLASS32, elf.EM_386
	case "arm":
		return elf.ELFCLASS32, elf.EM_ARM
	case "riscv64":
		return elf.ELFCLASS64, elf.EM_RISCV
	case "ppc64le", "ppc64":
		return elf.ELFCLASS64, elf.EM_PPC64
	case "s390x":
		return elf.ELFCLASS64, elf.EM_S390
	case "loong64":
		return elf.ELFCLASS64, elf.EM_LOONGARCH
	}
	return elf.ELFCLASSNONE, elf.EM_NONE
}
