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
}

// Result is a verdict.
type Result struct {
	Host    *abi.File
	Plugins []*abi.File
	Report  *abi.Report
	// Tampered lists artifacts whose bytes are not the manifest's.
	Tampered []Tampered
}

// Tampered is an artifact that differs from its manifest entry.
type Tampered struct {
	File string `json:"file"`
	Have string `json:"have"`
	Want string `json:"want"`
}

// OK reports whether every plugin loads into the host.
func (r *Result) OK() bool { return r.Report.OK() && len(r.Tampered) == 0 }

// InputError is input that cannot be checked: a missing or unreadable
// file, a file that is not a Go binary, a bad manifest.
type InputError struct {
	Err error
}

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Hint tells the user what to do.
func (e *InputError) Hint() string {
	return "pass a Go host executable and Go plugins (.so), or --manifest with a pbuild manifest"
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
}

func (e *IncompatibleError) Error() string {
	never := ""
	if e.NeverReached > 0 {
		never = fmt.Sprintf(", %d never reached (the host dies at %s)", e.NeverReached, e.DiedAt)
	}
	if e.Tampered > 0 {
		return fmt.Sprintf("check: %d artifacts differ from the manifest; %d of %d plugins cannot load%s", e.Tampered, e.Failed, e.Total, never)
	}
	return fmt.Sprintf("check: %d of %d plugins cannot load into the host%s", e.Failed, e.Total, never)
}

// Hint tells the user what to do.
func (e *IncompatibleError) Hint() string {
	return "follow the fix under each failing plugin above; building host and plugins in one `pbuild build` makes them match"
}

// Err is nil for a compatible result, else an *IncompatibleError.
func (r *Result) Err() error {
	if r.OK() {
		return nil
	}
	e := &IncompatibleError{Total: len(r.Report.Loads), Tampered: len(r.Tampered), DiedAt: r.Report.DiedAt()}
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
// the plugin already loaded.
func Files(ctx context.Context, host string, plugins []string, opts Options) (*Result, error) {
	paths := append([]string{host}, plugins...)
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
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		a, err := abi.Read(f, paths[i])
		if err != nil {
			return nil, &InputError{Err: err}
		}
		if err := abi.Identify(a, paths[i]); err != nil {
			return nil, &InputError{Err: err}
		}
		parsed = append(parsed, a)
	}
	h, ps := parsed[0], parsed[1:]
	return &Result{Host: h, Plugins: ps, Report: abi.Check(h, ps, abi.Options{MaxGLIBC: opts.MaxGLIBC})}, nil
}

// inputError is err as an *InputError, unless it is ctx's own error.
func inputError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
		return err
	}
	return &InputError{Err: err}
}

// Manifest checks the artifacts a pbuild manifest lists, from the files
// beside it: the host, then the plugins in file order. Files whose sha256
// differs from the manifest's are reported as tampered. The manifest is
// validated as it is read, and every artifact is read only as a regular
// file inside the manifest's directory.
func Manifest(ctx context.Context, path string, opts Options) (*Result, error) {
	m, err := manifests.ReadFile(ctx, path)
	if err != nil {
		return nil, inputError(ctx, err)
	}
	return Dir(ctx, filepath.Dir(path), m, opts)
}

// Dir checks the artifacts of m found in dir. An artifact whose file
// leaves dir, or is not a regular file, is an *InputError naming it.
func Dir(ctx context.Context, dir string, m *manifests.Manifest, opts Options) (*Result, error) {
	var host *abi.File
	var hostFile string
	var plugins []*abi.File
	tampered, err := artifacts(ctx, dir, m, func(a manifests.Artifact, f *abi.File) error {
		switch {
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
	if host == nil {
		return nil, &InputError{Err: fmt.Errorf("manifest lists no host")}
	}
	return &Result{Host: host, Plugins: plugins, Report: abi.Check(host, plugins, abi.Options{MaxGLIBC: opts.MaxGLIBC}), Tampered: tampered}, nil
}

// DirAgainst checks the plugins of m found in dir against a released
// host known only from its manifest entry: its recorded package hashes and
// build info stand in for the binary.
func DirAgainst(ctx context.Context, dir string, m *manifests.Manifest, host manifests.Artifact, opts Options) (*Result, error) {
	var plugins []*abi.File
	tampered, err := artifacts(ctx, dir, m, func(_ manifests.Artifact, f *abi.File) error {
		plugins = append(plugins, f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	h := HostFromManifest(host)
	return &Result{Host: h, Plugins: plugins, Report: abi.Check(h, plugins, abi.Options{MaxGLIBC: opts.MaxGLIBC}), Tampered: tampered}, nil
}

// artifacts reads every artifact of m in dir, in file order: first it
// opens each (only a regular file inside dir) and hashes it, then it reads
// the ABI facts from the same open file and calls fn with them. It lists
// the artifacts whose sha256 is not the manifest's.
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
	}
	for i, a := range arts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		parsed, err := abi.Read(files[i], filepath.Join(dir, filepath.FromSlash(a.File)))
		if err != nil {
			return nil, &InputError{Err: err}
		}
		if err := fn(a, parsed); err != nil {
			return nil, err
		}
	}
	return tampered, nil
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
