package plan

import (
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
)

// Kinds lists every kind.
func Kinds() []Kind { return []Kind{Host, Plugin} }

// BuildMode is the kind's -buildmode; "" for the go command's default.
func (k Kind) BuildMode() string {
	if k == Plugin {
		return "plugin"
	}
	return ""
}

// Loaded reports whether a Go host loads artifacts of the kind with
// plugin.Open, so that their pluginpaths must be unique.
func (k Kind) Loaded() bool { return k == Plugin }

// Platform is the operating system and architecture artifacts are built
// for.
type Platform struct{ OS, Arch string }

func (p Platform) String() string { return p.OS + "/" + p.Arch }

// Target is one artifact to build: a main package.
type Target struct {
	Name string
	Kind Kind
	// Dir is the absolute directory of the main package.
	Dir string
	// Version, for a plugin, makes its pluginpath unique to that version.
	Version string
}

// File is the target's file in the output directory, slash-separated.
func (t Target) File() string {
	if t.Kind == Plugin {
		return path.Join("plugins", t.Name+".so")
	}
	return t.Name
}

// String names the target as messages do: "plugin hello".
func (t Target) String() string { return string(t.Kind) + " " + t.Name }

// Settings are what every target of a build shares.
type Settings struct {
	Go      string // the exact toolchain release, "1.24.4"
	Base    string // the base image reference
	Sum     string // the toolchain zip's pinned h1 hash, or ""
	Tags    []string
	Ldflags string
	Env     map[string]string // build.env
}

// Plan is one build.
type Plan struct {
	Project  string // the config file
	Dir      string // its directory
	Output   string // the output directory, absolute
	Platform Platform
	Targets  []Target // the host first, then the plugins in config order
	Settings Settings
}

// New plans the build of cfg for platform.
func New(cfg *config.Config, platform Platform) *Plan {
	p := &Plan{
		Project:  cfg.File,
		Dir:      cfg.Dir,
		Output:   cfg.OutputDir(),
		Platform: platform,
		Settings: Settings{
			Go: cfg.Toolchain.Go, Base: cfg.Toolchain.Base, Sum: cfg.Toolchain.Sum,
			Tags: slices.Clone(cfg.Build.Tags), Ldflags: cfg.Build.Ldflags, Env: maps.Clone(cfg.Build.Env),
		},
	}
	for _, a := range cfg.Artifacts() {
		kind := Plugin
		if a.Name == cfg.Host.Name {
			kind = Host
		}
		p.Targets = append(p.Targets, Target{Name: a.Name, Kind: kind, Dir: cfg.AbsPath(a.Path), Version: a.Version})
	}
	return p
}

// Pin replaces the settings with a pin's (a manifest's), once they pass
// the config's own checks: a manifest is input. source names it in errors.
func (p *Plan) Pin(source string, s Settings) error {
	if err := config.CheckSettings(source,
		config.Toolchain{Go: s.Go, Base: s.Base, Sum: s.Sum},
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

// Phases splits the targets into the groups compiled one after the other:
// the first two (the host and the first plugin) fill the Go build cache with
// the standard library and the dependencies for both build modes, then the
// others compile in parallel and find them there.
func (p *Plan) Phases() [][]Target {
	if len(p.Targets) > 2 {
		return [][]Target{p.Targets[:2], p.Targets[2:]}
	}
	return [][]Target{p.Targets}
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

// CompileEnv is the environment of every compile, on every backend.
func (s Settings) CompileEnv() []string {
	env := []string{"GOWORK=" + SourceDir + "/go.work", "GOTOOLCHAIN=local", "GOFLAGS=", "GOPROXY=off", "GOTELEMETRY=off", "HOME=/root", "GOCACHE=" + GoCacheDir}
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		env = append(env, k+"="+s.Env[k])
	}
	return env
}

// CABundlePath is where a forwarded CA bundle is placed for the resolve
// step.
const CABundlePath = "/etc/pbuild/ca-certificates.crt"

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
