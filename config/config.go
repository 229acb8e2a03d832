package config

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strconv"

	"github.com/pbuild/pbuild/internal/safefile"
)

// Version is the only config file format version this package understands.
const Version = 1

// DefaultBase is the base image used when toolchain.base is not set.
const DefaultBase = "pbuild/base:bookworm"

// DefaultOutput is the output directory used when output is not set.
const DefaultOutput = "dist"

// FileName is the conventional name of the config file.
const FileName = "pbuild.yaml"

const (
	// minGoMinor is the oldest Go 1.x minor release pbuild can build with:
	// it relies on "go work vendor", which appeared in Go 1.22.
	minGoMinor = 22

	// maxNameLen is the maximum length of an artifact name.
	maxNameLen = 64

	// replaced explains why the output directory must be kept apart.
	replaced = "pbuild replaces the output directory on every build"

	// maxKeys and maxAliases bound the work of decoding: yaml.v3 compares
	// every two keys of a mapping, at every alias of it too. A config has
	// a handful of keys in a mapping and no aliases of mappings or lists.
	maxKeys    = 1000
	maxAliases = 100
)

// Config is the content of a pbuild.yaml file.
type Config struct {
	Version   int        `yaml:"version"`
	Toolchain Toolchain  `yaml:"toolchain"`
	Host      Artifact   `yaml:"host"`
	Plugins   []Artifact `yaml:"plugins"`
	// Libraries are C-ABI libraries (-buildmode=c-shared or c-archive),
	// loaded by C hosts, not by the Go host.
	Libraries []Artifact `yaml:"libraries"`
	Build     Build      `yaml:"build"`
	Output    string     `yaml:"output"`
	// Platforms are the os/arch pairs every target is built for; empty:
	// the engine's own, in the output directory's top level.
	Platforms []string `yaml:"platforms"`

	// File is the absolute, cleaned path of the config file and Dir its
	// directory; they are set by Load and Parse, not read from YAML.
	// Relative paths in the file are relative to Dir.
	File string `yaml:"-"`
	Dir  string `yaml:"-"`
}

// Toolchain pins the Go toolchain and the image it runs in.
type Toolchain struct {
	// Go is an exact Go release such as "1.24.4" or "1.25rc1".
	Go string `yaml:"go"`
	// Base is the base image reference; it defaults to DefaultBase.
	Base string `yaml:"base"`
	// Sum is the optional h1 hash of the toolchain module zip, in go.sum
	// form: "h1:" followed by 44 base64 characters.
	Sum string `yaml:"sum"`
	// Packages are Debian packages (NAME=VERSION) the build needs, such as
	// the development files of a C library cgo code links: installed into
	// an image derived from the toolchain image, never into the base.
	Packages []string `yaml:"packages"`
}

// Artifact is the host or a plugin: a named package directory.
type Artifact struct {
	// Name identifies the artifact and names its output file.
	Name string `yaml:"name"`
	// Path is the package directory, as written in the file; use
	// Config.AbsPath to resolve it.
	Path string `yaml:"path"`
	// Version, plugins only, makes the plugin's pluginpath unique to this
	// version ("<package path>/v<version>"), so that a new version of a
	// plugin loads beside an old one in one host.
	Version string `yaml:"version"`
	// File, when set, is a template of the artifact's file in the output
	// directory ({{.Name}}, {{.Version}}, {{.OS}}, {{.Arch}}), such as
	// "plugins/greet.so.{{.Version}}".
	File string `yaml:"file"`
	// BuildMode, libraries only: c-shared (the default) or c-archive.
	BuildMode string `yaml:"buildmode"`
}

// Build holds the settings shared by the builds of the host and all plugins.
type Build struct {
	Tags    []string          `yaml:"tags"`
	Ldflags string            `yaml:"ldflags"`
	Env     map[string]string `yaml:"env"`
}

// Error is a problem with the content of a config file, pointing at a line
// when it can.
type Error struct {
	File  string // path of the config file, as given to Load or Parse
	Line  int    // 1-based line number; 0 when unknown or not applicable
	Field string // dotted field path such as "plugins[1].name"; empty for whole-file problems
	Msg   string

	hint string // the Hint when the settings come from elsewhere
}

// Hint tells the user what to do.
func (e *Error) Hint() string {
	if e.hint != "" {
		return e.hint
	}
	return "fix the config file; see the config reference in pbuild's README"
}

// Error formats e as "FILE:LINE: FIELD: MSG", leaving out ":LINE" when the
// line is unknown and "FIELD: " when the problem concerns the whole file.
func (e *Error) Error() string {
	s := e.File
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
	}
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + ": " + e.Msg
}

// Load reads, strictly decodes and validates the config file at path.
// Errors reading the file wrap the underlying os error; problems with its
// content are reported as *Error.
func Load(ctx context.Context, path string) (*Config, error) {
	data, err := safefile.ReadPath(ctx, path, MaxSize)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// MaxSize bounds a config file: a config is a few lines.
const MaxSize = 1 << 20

// Parse decodes and validates data as if it had been read from file. The
// file name is used as given in error messages; made absolute, it sets
// File and Dir, against which the paths in data are resolved and checked.
// Every problem is reported as *Error.
func Parse(file string, data []byte) (*Config, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, &Error{File: file, Msg: fmt.Sprintf("cannot resolve path: %v", err)}
	}
	p := &parser{file: file, cfg: &Config{File: abs, Dir: filepath.Dir(abs)}, paths: map[string]*entry{}}
	root, err := p.document(data)
	if err != nil {
		return nil, err
	}
	if err := p.bounds(root, new(int)); err != nil {
		return nil, err
	}
	p.walk(nil, nil, root, "", reflect.TypeFor[Config]())
	if err := p.version(); err != nil {
		return nil, err
	}
	p.decode(data)
	p.check()
	if p.first != nil {
		return nil, p.first
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	return p.cfg, nil
}

// AbsPath resolves p, a path from the config file, against Dir and cleans
// it. Absolute paths are only cleaned.
func (c *Config) AbsPath(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(c.Dir, p)
}

// OutputDir returns the absolute output directory.
func (c *Config) OutputDir() string {
	return c.AbsPath(c.Output)
}

// Artifacts returns the host followed by the plugins and the libraries
// in file order. The
// returned slice is a fresh copy.
//
// A plugin project, built against a released host's manifest, has no host:
// then only the plugins are returned.
func (c *Config) Artifacts() []Artifact {
	all := make([]Artifact, 0, 1+len(c.Plugins)+len(c.Libraries))
	if c.Host.Name != "" {
		all = append(all, c.Host)
	}
	return append(append(all, c.Plugins...), c.Libraries...)
}
