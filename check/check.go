package check

import (
	"debug/elf"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pbuild/pbuild/internal/digest"
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
	Failed, Total int
	Tampered      int
}

func (e *IncompatibleError) Error() string {
	if e.Tampered > 0 {
		return fmt.Sprintf("check: %d artifacts differ from the manifest; %d of %d plugins cannot load", e.Tampered, e.Failed, e.Total)
	}
	return fmt.Sprintf("check: %d of %d plugins cannot load into the host", e.Failed, e.Total)
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
	failed := 0
	for _, l := range r.Report.Loads {
		if !l.OK {
			failed++
		}
	}
	return &IncompatibleError{Failed: failed, Total: len(r.Report.Loads), Tampered: len(r.Tampered)}
}

// Files checks plugins, loaded in the given order, against host.
func Files(host string, plugins []string, opts Options) (*Result, error) {
	h, err := read(host)
	if err != nil {
		return nil, err
	}
	var ps []*abi.File
	for _, p := range plugins {
		f, err := read(p)
		if err != nil {
			return nil, err
		}
		ps = append(ps, f)
	}
	return &Result{Host: h, Plugins: ps, Report: abi.Check(h, ps, abi.Options{MaxGLIBC: opts.MaxGLIBC})}, nil
}

func read(path string) (*abi.File, error) {
	f, err := abi.ReadFile(path)
	if err != nil {
		return nil, &InputError{Err: err}
	}
	return f, nil
}

// Manifest checks the artifacts a pbuild manifest lists, from the files
// beside it: the host, then the plugins in file order. Files whose sha256
// differs from the manifest's are reported as tampered.
func Manifest(path string, opts Options) (*Result, error) {
	m, err := manifests.ReadFile(path)
	if err != nil {
		return nil, &InputError{Err: err}
	}
	return Dir(filepath.Dir(path), m, opts)
}

// Dir checks the artifacts of m found in dir.
func Dir(dir string, m *manifests.Manifest, opts Options) (*Result, error) {
	var host string
	var plugins []string
	tampered, err := artifacts(dir, m, func(a manifests.Artifact, p string) error {
		switch {
		case a.Kind != manifests.KindHost:
			plugins = append(plugins, p)
		case host != "":
			return &InputError{Err: fmt.Errorf("manifest lists two hosts: %s and %s", host, p)}
		default:
			host = p
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if host == "" {
		return nil, &InputError{Err: fmt.Errorf("manifest lists no host")}
	}
	r, err := Files(host, plugins, opts)
	if err != nil {
		return nil, err
	}
	r.Tampered = tampered
	return r, nil
}

// DirAgainst checks the plugins of m found in dir against a released
// host known only from its manifest entry: its recorded package hashes and
// build info stand in for the binary.
func DirAgainst(dir string, m *manifests.Manifest, host manifests.Artifact, opts Options) (*Result, error) {
	var plugins []*abi.File
	tampered, err := artifacts(dir, m, func(_ manifests.Artifact, p string) error {
		f, err := read(p)
		if err == nil {
			plugins = append(plugins, f)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	h := HostFromManifest(host)
	return &Result{Host: h, Plugins: plugins, Report: abi.Check(h, plugins, abi.Options{MaxGLIBC: opts.MaxGLIBC}), Tampered: tampered}, nil
}

// artifacts calls fn for every artifact of m in dir, in file order, and
// lists those whose sha256 is not the manifest's.
func artifacts(dir string, m *manifests.Manifest, fn func(a manifests.Artifact, path string) error) ([]Tampered, error) {
	var tampered []Tampered
	arts := append([]manifests.Artifact(nil), m.Artifacts...)
	sort.Slice(arts, func(i, j int) bool { return arts[i].File < arts[j].File })
	for _, a := range arts {
		p := filepath.Join(dir, filepath.FromSlash(a.File))
		sum, err := digest.File(p)
		if err != nil {
			return nil, &InputError{Err: err}
		}
		if sum != a.SHA256 {
			tampered = append(tampered, Tampered{File: a.File, Have: sum, Want: a.SHA256})
		}
		if err := fn(a, p); err != nil {
			return nil, err
		}
	}
	return tampered, nil
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
