package plan

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/pbuild/pbuild/config"
)

// Kind is what an artifact is.
type Kind string

// The kinds of artifact.
const (
	// Host is a Go executable that loads plugins.
	Host Kind = "host"
	// Plugin is a Go plugin (-buildmode=plugin), loaded by a Go host.
	Plugin Kind = "plugin"
	// CShared is a C-ABI shared library and its C header
	// (-buildmode=c-shared), loaded by a C host with dlopen.
	CShared Kind = "c-shared"
	// CArchive is a C-ABI static library and its C header
	// (-buildmode=c-archive), linked into a C program.
	CArchive Kind = "c-archive"
)

// Kinds lists every kind.
func Kinds() []Kind { return []Kind{Host, Plugin, CShared, CArchive} }

// BuildMode is the kind's -buildmode; "" for the go command's default.
func (k Kind) BuildMode() string {
	if k == Host {
		return ""
	}
	return string(k)
}

// Loaded reports whether a Go host loads artifacts of the kind with
// plugin.Open, so that their pluginpaths must be unique.
func (k Kind) Loaded() bool { return k == Plugin }

// CABI reports whether the kind is a C-ABI library with a C header.
func (k Kind) CABI() bool { return k == CShared || k == CArchive }

// LoadedBy says what uses an artifact of the kind.
func (k Kind) LoadedBy() string {
	switch k {
	case Plugin:
		return "a Go host, with plugin.Open"
	case CShared:
		return "a C host, with dlopen (not Go)"
	case CArchive:
		return "a C program's link (not Go)"
	}
	return "the system: it is the executable"
}

// defaultFile is a kind's file for name when the config names none.
func (k Kind) defaultFile(name string) string {
	switch k {
	case Plugin:
		return path.Join("plugins", name+".so")
	case CShared:
		return path.Join("lib", name+".so")
	case CArchive:
		return path.Join("lib", name+".a")
	}
	return name
}

// Platform is the operating system and architecture artifacts are built
// for.
type Platform struct{ OS, Arch string }

func (p Platform) String() string { return p.OS + "/" + p.Arch }

// Dir is the platform's directory in a multi-platform output: linux_arm64.
func (p Platform) Dir() string { return p.OS + "_" + p.Arch }

// ParsePlatform reads "os/arch".
func ParsePlatform(s string) (Platform, error) {
	os, arch, ok := strings.Cut(s, "/")
	if !ok || os == "" || arch == "" {
		return Platform{}, fmt.Errorf("platform %q: want os/arch", s)
	}
	return Platform{os, arch}, nil
}

// Target is one artifact to build: a main package.
type Target struct {
	Name string
	Kind Kind
	// Dir is the absolute directory of the main package.
	Dir string
	// Version, for a plugin, makes its pluginpath unique to that version;
	// a file template may use it.
	Version string
	// FileTemplate, when set, names the target's file (config's file).
	FileTemplate string
	// Platform is what the target is built for, once the plan is made
	// for one (Plan.For); its file template may use it.
	Platform Platform
}

// File is the target's file in the output directory of its platform,
// slash-separated.
func (t Target) File() string {
	if t.FileTemplate == "" {
		return t.Kind.defaultFile(t.Name)
	}
	f, err := config.RenderFile(t.FileTemplate, config.FileData{Name: t.Name, Version: t.Version, OS: t.Platform.OS, Arch: t.Platform.Arch})
	if err != nil {
		panic("plan: a template the config checked: " + err.Error())
	}
	return f
}

// Header is the C header of a C-ABI library, beside it: where the go
// command writes it, the file's name with its last extension replaced by
// ".h" ("lib/nbd.so" has "lib/nbd.h", "lib/nbd.so.1" has "lib/nbd.so.h");
// "" for other kinds.
func (t Target) Header() string {
	if !t.Kind.CABI() {
		return ""
	}
	f := t.File()
	return strings.TrimSuffix(f, path.Ext(f)) + ".h"
}

// Files are every file the target writes: the artifact, and a C-ABI
// library's header.
func (t Target) Files() []string {
	if h := t.Header(); h != "" {
		return []string{t.File(), h}
	}
	return []string{t.File()}
}

// String names the target as messages do: "plugin hello".
func (t Target) String() string { return string(t.Kind) + " " + t.Name }

// Settings are what every target of a build shares.
type Settings struct {
	Go   string // the exact toolchain release, "1.24.4"
	Base string // the base image reference
	Sum  string // the toolchain zip's pinned h1 hash, or ""
	// Packages are the Debian packages (NAME=VERSION) the toolchain image
	// gets (config's toolchain.packages).
	Packages []string
	Tags     []string
	Ldflags  string
	Env      map[string]string // build.env
}

// Plan is one build.
type Plan struct {
	Project string // the config file
	Dir     string // its directory
	Output  string // the output directory, absolute
	// Platforms are what every target is built for: the config's, or the
	// engine's. With Split, each platform's files and manifest go into a
	// directory of their own in the output (Platform.Dir); else the one
	// platform's are the output's top level.
	Platforms []Platform
	Split     bool
	// Engine is the platform of the engine, whose toolchain runs.
	Engine Platform
	// Targets are the host first, then the plugins, then the libraries, in
	// config order, for no platform yet (For).
	Targets  []Target
	Settings Settings
}

// New plans the build of cfg on an engine of platform engine.
func New(cfg *config.Config, engine Platform) (*Plan, error) {
	p := &Plan{
		Project: cfg.File,
		Dir:     cfg.Dir,
		Output:  cfg.OutputDir(),
		Engine:  engine,
		Settings: Settings{
			Go: cfg.Toolchain.Go, Base: cfg.Toolchain.Base, Sum: cfg.Toolchain.Sum, Packages: slices.Clone(cfg.Toolchain.Packages),
			Tags: slices.Clone(cfg.Build.Tags), Ldflags: cfg.Build.Ldflags, Env: maps.Clone(cfg.Build.Env),
		},
	}
	for _, s := range cfg.Platforms {
		pl, err := ParsePlatform(s)
		if err != nil {
			return nil, err
		}
		p.Platforms = append(p.Platforms, pl)
	}
	p.Split = len(p.Platforms) > 0
	if !p.Split {
		p.Platforms = []Platform{engine}
	}
	add := func(kind Kind, a config.Artifact) {
		p.Targets = append(p.Targets, Target{Name: a.Name, Kind: kind, Dir: cfg.AbsPath(a.Path), Version: a.Version, FileTemplate: a.File})
	}
	if cfg.Host.Name != "" {
		add(Host, cfg.Host)
	}
	for _, a := range cfg.Plugins {
		add(Plugin, a)
	}
	for _, a := range cfg.Libraries {
		add(Kind(a.BuildMode), a)
	}
	for _, pl := range p.Platforms {
		if err := checkFiles(p.For(pl)); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// For is the plan's targets for one platform.
func (p *Plan) For(pl Platform) []Target {
	out := slices.Clone(p.Targets)
	for i := range out {
		out[i].Platform = pl
	}
	return out
}

// PlatformDir is where a platform's files go in the output directory,
// slash-separated: its own directory when the plan is Split, else the top
// level ("").
func (p *Plan) PlatformDir(pl Platform) string {
	if !p.Split {
		return ""
	}
	return pl.Dir()
}

// PinPlatform makes the plan build for pl alone, into the output's top
// level, as a manifest of one platform records it.
func (p *Plan) PinPlatform(pl Platform) error {
	if err := checkFiles(p.For(pl)); err != nil {
		return err
	}
	p.Platforms, p.Split = []Platform{pl}, false
	return nil
}

// FileError is a target's file that cannot be written: two targets that
// would write one file, or a file name that is no file of the output
// directory.
type FileError struct {
	File          string
	First, Second Target // Second is zero for one target's bad name
	Msg           string
}

func (e *FileError) Error() string {
	switch {
	case e.Second.Name == "":
		return fmt.Sprintf("%s: file %q for %s: %s", e.First, e.File, e.First.Platform, e.Msg)
	case e.Msg != "":
		return fmt.Sprintf("%s writes %s for %s %s", e.First, e.File, e.First.Platform, e.Msg)
	}
	return fmt.Sprintf("%s and %s would both write %s for %s", e.First, e.Second, e.File, e.Second.Platform)
}

// Hint tells the user what to do.
func (e *FileError) Hint() string {
	return "give them different file templates in the config (file: ...), using {{.Name}} or {{.Version}}"
}

// checkFiles makes sure every target's files are files of the output
// directory, and that no two targets write one file or a file where
// another puts a directory.
func checkFiles(targets []Target) error {
	seen := map[string]Target{}
	for _, t := range targets {
		for _, f := range t.Files() {
			if msg := config.CheckFile(f); msg != "" {
				return &FileError{File: f, First: t, Msg: msg}
			}
			if prev, ok := seen[f]; ok {
				return &FileError{File: f, First: prev, Second: t}
			}
			seen[f] = t
		}
	}
	for _, f := range slices.Sorted(maps.Keys(seen)) {
		t := seen[f]
		for d := path.Dir(f); d != "."; d = path.Dir(d) {
			if prev, ok := seen[d]; ok {
				return &FileError{File: d, First: prev, Second: t, Msg: "and " + t.String() + " puts " + f + " inside it"}
			}
		}
	}
	return nil
}

// Pin replaces the settings with a pin's (a manifest's), once they pass
// the config's own checks: a manifest is input. source names it in errors.
func (p *Plan) Pin(source string, s Settings) error {
	if err := config.CheckSettings(source,
		config.Toolchain{Go: s.Go, Base: s.Base, Sum: s.Sum, Packages: s.Packages},
		config.Build{Tags: s.Tags, Ldflags: s.Ldflags, Env: s.Env}); err != nil {
		return err
	}
	p.Settings = s
	return nil
}

// Host is the plan's host target, if it has one.
func (p *Plan) Host() (Target, bool) {
	for _, t := range p.Targets {
		if t.Kind == Host {
			return t, true
		}
	}
	return Target{}, false
}

// Loaded reports whether the plan builds anything a Go host loads.
func (p *Plan) Loaded() bool {
	return slices.ContainsFunc(p.Targets, func(t Target) bool { return t.Kind.Loaded() })
}

// Phases splits targets into the groups compiled one after the other: the
// first two (the host and the first plugin) fill the Go build cache with the
// standard library and the dependencies for both build modes, then the
// others compile in parallel and find them there.
// T is a target or what carries one, in the plan's order.
func Phases[T any](targets []T) [][]T {
	if len(targets) > 2 {
		return [][]T{targets[:2], targets[2:]}
	}
	return [][]T{targets}
}

// Flags are the go build flags every target shares.
func Flags() []string {
	return []string{"-mod=vendor", "-trimpath", "-buildvcs=false"}
}

// ABIKeyVar is the variable in the host's main package that the build
// stamps with the ABI key (-ldflags -X).
const ABIKeyVar = "main.pbuildABIKey"

// LoaderABIKeyVar is the loader package's copy of the key, stamped too so
// that a host using github.com/pbuild/pbuild/loader knows its own key.
const LoaderABIKeyVar = "github.com/pbuild/pbuild/loader.hostABIKey"

// GoBuildArgs is the go build command line of t, stamped with abiKey,
// writing out.
func (s Settings) GoBuildArgs(t Target, abiKey, out string) []string {
	args := append([]string{"go", "build"}, Flags()...)
	if len(s.Tags) > 0 {
		args = append(args, "-tags="+strings.Join(s.Tags, ","))
	}
	ldflags := strings.TrimSpace(s.Ldflags + " -X " + LoaderABIKeyVar + "=" + abiKey + " -X " + ABIKeyVar + "=" + abiKey)
	args = append(args, "-ldflags="+ldflags)
	if m := t.Kind.BuildMode(); m != "" {
		args = append(args, "-buildmode="+m)
	}
	return append(args, "-o", out, ".")
}

// Paths inside the containers and Runs that build, the same on every
// backend, so that every backend compiles the same command lines in the
// same places.
const (
	SourceDir  = "/src"                  // the staged workspace
	OutDir     = "/out"                  // the artifacts, at their File
	GoCacheDir = "/root/.cache/go-build" // the toolchain image's GOCACHE
	ModDir     = "/go/pkg/mod"           // and GOMODCACHE
	TmpDir     = "/tmp"                  // the go command's work directories, in memory
)

// The persistent caches every backend keeps between builds (engine
// volumes, BuildKit cache mounts).
const (
	GoCache  = "pbuild-gocache"
	ModCache = "pbuild-gomodcache"
)

// CompileEnv is the environment of every compile for platform pl, on
// every backend; cc is the C compiler cgo runs, "" for the image's cc.
func (s Settings) CompileEnv(pl Platform, cc string) []string {
	env := []string{"GOWORK=" + SourceDir + "/go.work", "GOTOOLCHAIN=local", "GOFLAGS=", "GOPROXY=off", "GOTELEMETRY=off", "HOME=/root", "GOCACHE=" + GoCacheDir,
		"GOOS=" + pl.OS, "GOARCH=" + pl.Arch, "CGO_ENABLED=1"}
	if cc != "" {
		env = append(env, "CC="+cc)
	}
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		env = append(env, k+"="+s.Env[k])
	}
	return env
}

// CABundlePath is where a forwarded CA bundle is placed for the resolve
// step.
const CABundlePath = CABundleDir + "/" + CABundleFile

// CABundleDir and CABundleFile are CABundlePath's directory and name.
const (
	CABundleDir  = "/etc/pbuild"
	CABundleFile = "ca-certificates.crt"
)

// ResolveEnv is the environment of the resolve step: the workspace and
// toolchain settings, then forwarded (GOPROXY, GOFLAGS, proxies, ...), and
// SSL_CERT_FILE when a CA bundle goes along.
func ResolveEnv(forwarded []string, caBundle bool) []string {
	env := append([]string{"GOWORK=" + SourceDir + "/go.work", "GOTOOLCHAIN=local", "GOTELEMETRY=off"}, forwarded...)
	if caBundle {
		env = append(env, "SSL_CERT_FILE="+CABundlePath)
	}
	return env
}
