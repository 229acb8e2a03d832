package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
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
)

// Config is the content of a pbuild.yaml file.
type Config struct {
	Version   int        `yaml:"version"`
	Toolchain Toolchain  `yaml:"toolchain"`
	Host      Artifact   `yaml:"host"`
	Plugins   []Artifact `yaml:"plugins"`
	Build     Build      `yaml:"build"`
	Output    string     `yaml:"output"`

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
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads, strictly decodes and validates the config file at path.
// Errors reading the file wrap the underlying os error; problems with its
// content are reported as *Error.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates data as if it had been read from file. The
// file name is used as given in error messages; made absolute, it sets
// File and Dir, against which the paths in data are resolved and checked.
// Every problem is reported as *Error.
func Parse(file string, data []byte) (*Config, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, &Error{File: file, Msg: fmt.Sprintf("cannot resolve path: %v", err)}
	}
	p := &parser{
		file: file,
		cfg:  &Config{File: abs, Dir: filepath.Dir(abs)},
	}
	root, err := p.document(data)
	if err != nil {
		return nil, err
	}
	if err := p.version(root); err != nil {
		return nil, err
	}
	if err := p.root(root); err != nil {
		return nil, err
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

// Artifacts returns the host followed by the plugins in file order. The
// returned slice is a fresh copy.
//
// A plugin project, built against a released host's manifest, has no host:
// then only the plugins are returned.
func (c *Config) Artifacts() []Artifact {
	all := make([]Artifact, 0, 1+len(c.Plugins))
	if c.Host.Name != "" {
		all = append(all, c.Host)
	}
	return append(all, c.Plugins...)
}

// parser decodes one config file from its YAML node tree, validating each
// value as it goes so that the first problem in file order is reported.
type parser struct {
	file string  // file name as given, for messages
	cfg  *Config // the config being filled in

	arts       []placed // artifacts decoded so far, in file order
	hostSeen   bool     // whether the host field was present
	outputLine int      // line of the output value; 0 when defaulted
}

// placed records where an artifact was declared, for the checks that
// compare artifacts with each other and with the output directory.
type placed struct {
	field    string      // "host" or "plugins[i]"
	name     string      // artifact name
	nameLine int         // line of the name value
	path     string      // absolute, cleaned package directory
	pathLine int         // line of the path value
	info     fs.FileInfo // result of stat on path
}

// field is a known key of a YAML mapping and the function that decodes its
// value; decode may be nil for a key handled elsewhere.
type field struct {
	name   string
	decode func(key, value *yaml.Node) error
}

// errorf returns an *Error for the config file at the given line and field.
func (p *parser) errorf(line int, field, format string, args ...any) error {
	return &Error{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// document parses data as a single YAML document and returns its top-level
// mapping.
func (p *parser) document(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, p.emptyError()
		}
		return nil, p.syntaxError(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, p.errorf(next.Line, "", "more than one YAML document; the config must be a single document")
	case !errors.Is(err, io.EOF):
		return nil, p.syntaxError(err)
	}
	if len(doc.Content) == 0 {
		return nil, p.emptyError()
	}
	root := deref(doc.Content[0])
	if isNull(root) {
		return nil, p.emptyError()
	}
	if root.Kind != yaml.MappingNode {
		return nil, p.errorf(root.Line, "", "expected a mapping of settings at the top level, got %s", describe(root))
	}
	return root, nil
}

// emptyError reports a file without any settings.
func (p *parser) emptyError() error {
	return p.errorf(0, "", "empty config; start with \"version: %d\"", Version)
}

// syntaxError turns an error from the YAML parser into an *Error, moving
// the line number it mentions, if any, into the Line field.
func (p *parser) syntaxError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, text
			}
		}
	}
	return p.errorf(line, "", "invalid YAML: %s", msg)
}

// version checks the version field before anything else, since the rest of
// the file can only be understood once its version is known.
func (p *parser) version(root *yaml.Node) error {
	var v *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := deref(root.Content[i]); k.Kind == yaml.ScalarNode && k.Value == "version" {
			v = deref(root.Content[i+1])
			break
		}
	}
	if v == nil || isNull(v) {
		return p.errorf(0, "version", "missing; add \"version: %d\" at the top of the file", Version)
	}
	var n int
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" || v.Decode(&n) != nil {
		return p.errorf(v.Line, "version", "expected an integer, got %s", describe(v))
	}
	if n != Version {
		return p.errorf(v.Line, "version", "unsupported version %d; this pbuild supports only version %d", n, Version)
	}
	p.cfg.Version = n
	return nil
}

// root decodes the top-level mapping.
func (p *parser) root(root *yaml.Node) error {
	return p.fields(root, "", []field{
		{"version", nil}, // checked by p.version
		{"toolchain", p.toolchain},
		{"host", p.host},
		{"plugins", p.plugins},
		{"build", p.build},
		{"output", p.output},
	})
}

// finish makes the checks that need the whole file and fills in defaults.
func (p *parser) finish() error {
	c := p.cfg
	if c.Toolchain.Go == "" {
		return p.errorf(0, "toolchain.go", "missing; set it to an exact Go release such as 1.24.4")
	}
	if !p.hostSeen && len(c.Plugins) == 0 {
		return p.errorf(0, "host", "missing; declare the plugin host as \"host: {name: NAME, path: DIR}\" (a project of plugins only builds them against a released host's manifest)")
	}
	if c.Toolchain.Base == "" {
		c.Toolchain.Base = DefaultBase
	}
	if c.Output == "" {
		c.Output = DefaultOutput
	}
	return p.checkOutput()
}

// checkOutput makes sure that replacing the output directory cannot destroy
// the config directory or any artifact's sources. An output directory inside
// an artifact's directory is fine: builds never read it.
func (p *parser) checkOutput() error {
	out := p.cfg.OutputDir()
	shown := p.cfg.Output
	if p.outputLine == 0 {
		shown += " (the default)"
	}
	if within(out, p.cfg.Dir) {
		rel := "contains"
		if out == p.cfg.Dir {
			rel = "is"
		}
		return p.errorf(p.outputLine, "output", "%s %s the config directory; %s", shown, rel, replaced)
	}
	for _, a := range p.arts {
		var rel string
		switch {
		case out == a.path:
			rel = "is the same directory as"
		case within(out, a.path):
			rel = "contains"
		default:
			continue
		}
		return p.errorf(p.outputLine, "output", "%s %s %s.path (line %d); %s", shown, rel, a.field, a.pathLine, replaced)
	}
	return nil
}

// toolchain decodes the toolchain section.
func (p *parser) toolchain(key, v *yaml.Node) error {
	tc := &p.cfg.Toolchain
	if !isNull(v) {
		if err := p.mapping(v, "toolchain"); err != nil {
			return err
		}
		err := p.fields(v, "toolchain", []field{
			{"go", func(_, v *yaml.Node) error {
				s, err := p.str(v, "toolchain.go")
				if err != nil || s == "" {
					return err
				}
				if msg := checkGoVersion(s); msg != "" {
					return p.errorf(v.Line, "toolchain.go", "%s", msg)
				}
				tc.Go = s
				return nil
			}},
			{"base", func(_, v *yaml.Node) error {
				s, err := p.str(v, "toolchain.base")
				if err != nil {
					return err
				}
				if msg := checkBase(s); msg != "" {
					return p.errorf(v.Line, "toolchain.base", "%s", msg)
				}
				tc.Base = s
				return nil
			}},
			{"sum", func(_, v *yaml.Node) error {
				s, err := p.str(v, "toolchain.sum")
				if err != nil || s == "" {
					return err
				}
				if msg := checkSum(s); msg != "" {
					return p.errorf(v.Line, "toolchain.sum", "%s", msg)
				}
				tc.Sum = s
				return nil
			}},
		})
		if err != nil {
			return err
		}
	}
	if tc.Go == "" {
		return p.errorf(key.Line, "toolchain.go", "missing; set it to an exact Go release such as 1.24.4")
	}
	return nil
}

// host decodes the host artifact.
func (p *parser) host(key, v *yaml.Node) error {
	a, err := p.artifact(v, "host", key.Line)
	if err != nil {
		return err
	}
	p.cfg.Host = a
	p.hostSeen = true
	return nil
}

// plugins decodes the list of plugin artifacts.
func (p *parser) plugins(_, v *yaml.Node) error {
	if isNull(v) {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		return p.errorf(v.Line, "plugins", "expected a list, got %s", describe(v))
	}
	plugins := make([]Artifact, 0, len(v.Content))
	for i, item := range v.Content {
		item = deref(item)
		a, err := p.artifact(item, fmt.Sprintf("plugins[%d]", i), item.Line)
		if err != nil {
			return err
		}
		plugins = append(plugins, a)
	}
	p.cfg.Plugins = plugins
	return nil
}

// checkVersion validates a plugin version: it becomes a path element, so
// letters, digits, '.', '-' and '_', starting with a digit (a leading "v" is
// allowed and dropped).
func checkVersion(s string) string {
	v := strings.TrimPrefix(s, "v")
	ok := v != "" && len(v) <= 32 && v[0] >= '0' && v[0] <= '9'
	for _, r := range v {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '.' || r == '-' || r == '_') {
			ok = false
		}
	}
	if !ok {
		return fmt.Sprintf("invalid version %q; use digits, letters, '.', '-' and '_', starting with a digit, like 0.2 or 1.4.0", s)
	}
	return ""
}

// artifact decodes the host or a plugin. The field path names it in
// messages and line is where it starts, for reporting missing fields. A
// null value is treated like an empty mapping.
func (p *parser) artifact(v *yaml.Node, path string, line int) (Artifact, error) {
	var a Artifact
	this := placed{field: path}
	if !isNull(v) {
		if v.Kind != yaml.MappingNode {
			return a, p.errorf(v.Line, path, "expected a mapping with name and path, got %s", describe(v))
		}
		err := p.fields(v, path, []field{
			{"version", func(_, v *yaml.Node) error {
				s, err := p.str(v, path+".version")
				if err != nil || s == "" {
					return err
				}
				if path == "host" {
					return p.errorf(v.Line, path+".version", "only plugins have a version (it goes into their pluginpath)")
				}
				if msg := checkVersion(s); msg != "" {
					return p.errorf(v.Line, path+".version", "%s", msg)
				}
				a.Version = strings.TrimPrefix(s, "v")
				return nil
			}},
			{"name", func(_, v *yaml.Node) error {
				s, err := p.str(v, path+".name")
				if err != nil || s == "" {
					return err
				}
				if msg := CheckName(s); msg != "" {
					return p.errorf(v.Line, path+".name", "%s", msg)
				}
				for _, prev := range p.arts {
					if prev.name == s {
						return p.errorf(v.Line, path+".name", "name %q is already used by %s (line %d)", s, prev.field, prev.nameLine)
					}
					if strings.EqualFold(prev.name, s) {
						return p.errorf(v.Line, path+".name", "name %q differs only in case from %q of %s (line %d)", s, prev.name, prev.field, prev.nameLine)
					}
				}
				a.Name, this.name, this.nameLine = s, s, v.Line
				return nil
			}},
			{"path", func(_, v *yaml.Node) error {
				s, err := p.str(v, path+".path")
				if err != nil || s == "" {
					return err
				}
				abs := p.cfg.AbsPath(s)
				info, err := os.Stat(abs)
				switch {
				case errors.Is(err, fs.ErrNotExist):
					return p.errorf(v.Line, path+".path", "%s does not exist", s)
				case err != nil:
					var pe *fs.PathError
					if errors.As(err, &pe) {
						err = pe.Err
					}
					return p.errorf(v.Line, path+".path", "cannot access %s: %v", s, err)
				case !info.IsDir() && strings.HasSuffix(s, ".go"):
					dir := strings.TrimSuffix(s, ".go")
					return p.errorf(v.Line, path+".path", "%s is a Go file; pbuild builds a package directory: move it into a directory of its own (%s/%s, with a go.mod above it) and set path to %s", s, dir, filepath.Base(s), dir)
				case !info.IsDir():
					return p.errorf(v.Line, path+".path", "%s is not a directory", s)
				}
				for _, prev := range p.arts {
					if prev.path == abs || os.SameFile(prev.info, info) {
						return p.errorf(v.Line, path+".path", "%s is the same directory as %s.path (line %d)", s, prev.field, prev.pathLine)
					}
				}
				a.Path, this.path, this.pathLine, this.info = s, abs, v.Line, info
				return nil
			}},
		})
		if err != nil {
			return a, err
		}
	}
	if a.Name == "" {
		return a, p.errorf(line, path+".name", "missing")
	}
	if a.Path == "" {
		return a, p.errorf(line, path+".path", "missing")
	}
	p.arts = append(p.arts, this)
	return a, nil
}

// build decodes the build section.
func (p *parser) build(_, v *yaml.Node) error {
	if isNull(v) {
		return nil
	}
	if err := p.mapping(v, "build"); err != nil {
		return err
	}
	b := &p.cfg.Build
	return p.fields(v, "build", []field{
		{"tags", func(_, v *yaml.Node) error {
			tags, err := p.tags(v)
			b.Tags = tags
			return err
		}},
		{"ldflags", func(_, v *yaml.Node) error {
			s, err := p.str(v, "build.ldflags")
			b.Ldflags = s
			return err
		}},
		{"env", func(_, v *yaml.Node) error {
			env, err := p.env(v)
			b.Env = env
			return err
		}},
	})
}

// tags decodes build.tags.
func (p *parser) tags(v *yaml.Node) ([]string, error) {
	if isNull(v) {
		return nil, nil
	}
	if v.Kind != yaml.SequenceNode {
		return nil, p.errorf(v.Line, "build.tags", "expected a list, got %s", describe(v))
	}
	tags := make([]string, 0, len(v.Content))
	for i, item := range v.Content {
		item = deref(item)
		path := fmt.Sprintf("build.tags[%d]", i)
		s, err := p.str(item, path)
		if err != nil {
			return nil, err
		}
		if msg := checkTag(s); msg != "" {
			return nil, p.errorf(item.Line, path, "%s", msg)
		}
		if j := slices.Index(tags, s); j >= 0 {
			return nil, p.errorf(item.Line, path, "duplicate tag %q (also build.tags[%d])", s, j)
		}
		tags = append(tags, s)
	}
	return tags, nil
}

// env decodes build.env.
func (p *parser) env(v *yaml.Node) (map[string]string, error) {
	if isNull(v) {
		return nil, nil
	}
	if err := p.mapping(v, "build.env"); err != nil {
		return nil, err
	}
	env := make(map[string]string, len(v.Content)/2)
	err := p.pairs(v, "build.env", func(k, v *yaml.Node) error {
		name := k.Value
		if msg := checkEnvName(name); msg != "" {
			return p.errorf(k.Line, "build.env", "%s", msg)
		}
		s, err := p.str(v, "build.env."+name)
		if err != nil {
			return err
		}
		env[name] = s
		return nil
	})
	if err != nil {
		return nil, err
	}
	return env, nil
}

// output decodes the output field; its placement is checked by finish.
func (p *parser) output(_, v *yaml.Node) error {
	s, err := p.str(v, "output")
	if err != nil {
		return err
	}
	if s != "" {
		p.cfg.Output, p.outputLine = s, v.Line
	}
	return nil
}

// mapping checks that v, the value of the named field, is a mapping.
func (p *parser) mapping(v *yaml.Node, path string) error {
	if v.Kind != yaml.MappingNode {
		return p.errorf(v.Line, path, "expected a mapping, got %s", describe(v))
	}
	return nil
}

// str returns the text of v, the value of the named field, which must be a
// scalar. The text is taken as written, so that "go: 1.20" reads as "1.20";
// null reads as "".
func (p *parser) str(v *yaml.Node, path string) (string, error) {
	switch {
	case isNull(v):
		return "", nil
	case v.Kind == yaml.ScalarNode:
		return v.Value, nil
	default:
		return "", p.errorf(v.Line, path, "expected a string, got %s", describe(v))
	}
}

// fields calls the decode function of each key of mapping n in file order,
// rejecting keys that are not listed in known. The field path names n in
// messages.
func (p *parser) fields(n *yaml.Node, path string, known []field) error {
	return p.pairs(n, path, func(k, v *yaml.Node) error {
		i := slices.IndexFunc(known, func(f field) bool { return f.name == k.Value })
		if i < 0 {
			return p.errorf(k.Line, path, "unknown field %q", k.Value)
		}
		if known[i].decode == nil {
			return nil
		}
		return known[i].decode(k, v)
	})
}

// pairs calls visit for each key and value of mapping n in file order,
// rejecting keys that are not scalars, merge keys and duplicate keys.
func (p *parser) pairs(n *yaml.Node, path string, visit func(k, v *yaml.Node) error) error {
	first := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		switch {
		case k.Kind != yaml.ScalarNode || isNull(k):
			return p.errorf(k.Line, path, "expected a plain key, got %s", describe(k))
		case k.ShortTag() == "!!merge":
			return p.errorf(k.Line, path, "merge keys (<<) are not supported")
		}
		if line, dup := first[k.Value]; dup {
			return p.errorf(k.Line, path, "duplicate key %q (first on line %d)", k.Value, line)
		}
		first[k.Value] = k.Line
		if err := visit(k, v); err != nil {
			return err
		}
	}
	return nil
}

// deref follows aliases to the node they refer to.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// isNull reports whether n is a null scalar, as in "key:" or "key: ~".
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names the kind of n, or shows its value if it is a scalar, for
// messages of the form "expected X, got Y".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch {
		case isNull(n):
			return "null"
		case n.ShortTag() == "!!str":
			return strconv.Quote(n.Value)
		default:
			return n.Value
		}
	default:
		return "an unsupported YAML node"
	}
}

// checkGoVersion returns a message explaining why v is not an acceptable
// Go release for the toolchain, or "" if it is acceptable.
func checkGoVersion(v string) string {
	if rest, ok := strings.CutPrefix(v, "go"); ok {
		if _, _, ok := parseRelease(rest); ok {
			return fmt.Sprintf("%q has a \"go\" prefix; write it as %s", v, rest)
		}
	}
	major, minor, ok := parseRelease(v)
	if !ok {
		return fmt.Sprintf("%q is not an exact Go release; write it like 1.24.4", v)
	}
	if major < 1 || major == 1 && minor < minGoMinor {
		return fmt.Sprintf("Go %s is too old; pbuild needs Go 1.%d or later (for \"go work vendor\")", v, minGoMinor)
	}
	return ""
}

// parseRelease parses an exact Go release such as "1.24.4", "1.25rc1" or
// "1.18beta2" and returns its major and minor numbers.
func parseRelease(v string) (major, minor int, ok bool) {
	major, rest, ok := leadingNumber(v)
	if !ok {
		return 0, 0, false
	}
	if rest, ok = strings.CutPrefix(rest, "."); !ok {
		return 0, 0, false
	}
	if minor, rest, ok = leadingNumber(rest); !ok {
		return 0, 0, false
	}
	var pre bool
	switch {
	case strings.HasPrefix(rest, "."):
		rest = rest[len("."):]
	case strings.HasPrefix(rest, "rc"):
		rest, pre = rest[len("rc"):], true
	case strings.HasPrefix(rest, "beta"):
		rest, pre = rest[len("beta"):], true
	default:
		return 0, 0, false
	}
	n, rest, ok := leadingNumber(rest)
	if !ok || rest != "" || pre && n == 0 {
		return 0, 0, false
	}
	return major, minor, true
}

// leadingNumber parses the decimal number without leading zeros at the
// start of s and returns it with the rest of s.
func leadingNumber(s string) (n int, rest string, ok bool) {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	if i == 0 || i > 9 || i > 1 && s[0] == '0' {
		return 0, s, false
	}
	n, err := strconv.Atoi(s[:i])
	if err != nil {
		return 0, s, false
	}
	return n, s[i:], true
}

// checkBase explains why s is not an image reference, or returns "".
func checkBase(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Sprintf("%q is not a valid image reference", s)
	}
	return ""
}

// checkSum explains why s is not a module hash, or returns "".
func checkSum(s string) string {
	if !isH1Hash(s) {
		return fmt.Sprintf("%q is not a module hash; expected \"h1:\" followed by 44 base64 characters, as in go.sum", s)
	}
	return ""
}

// checkTag explains why s is not a build tag, or returns "".
func checkTag(s string) string {
	if !isTag(s) {
		return fmt.Sprintf("invalid tag %q; tags may contain only letters, digits, '_' and '.'", s)
	}
	return ""
}

// checkEnvName explains why name may not be set in build.env, or returns
// "".
func checkEnvName(name string) string {
	switch {
	case !isEnvName(name):
		return fmt.Sprintf("invalid variable name %q", name)
	case isReservedEnv(name):
		return fmt.Sprintf("%s is set by pbuild and cannot be overridden", name)
	}
	return ""
}

// CheckSettings applies the config file's rules to toolchain and build
// settings that come from elsewhere (a manifest pbuild rebuilds from or
// builds against), so that input read from there gets the same checks as
// the config. source names it in errors, which are *Error.
func CheckSettings(source string, t Toolchain, b Build) error {
	fail := func(field, msg string) error {
		return &Error{File: source, Field: field, Msg: msg, hint: "pbuild does not use settings it would refuse in a config: use a manifest pbuild wrote, unchanged"}
	}
	if msg := checkGoVersion(t.Go); msg != "" {
		return fail("toolchain.go", msg)
	}
	if msg := checkBase(t.Base); msg != "" {
		return fail("toolchain.base", msg)
	}
	if t.Sum != "" {
		if msg := checkSum(t.Sum); msg != "" {
			return fail("toolchain.sum", msg)
		}
	}
	for i, tag := range b.Tags {
		if msg := checkTag(tag); msg != "" {
			return fail(fmt.Sprintf("build.tags[%d]", i), msg)
		}
		if slices.Index(b.Tags, tag) != i {
			return fail(fmt.Sprintf("build.tags[%d]", i), fmt.Sprintf("duplicate tag %q", tag))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(b.Env)) {
		if msg := checkEnvName(name); msg != "" {
			return fail("build.env", msg)
		}
	}
	return nil
}

// isH1Hash reports whether s is a go.sum-style h1 hash: "h1:" followed by
// the standard base64 encoding of a SHA-256 sum.
func isH1Hash(s string) bool {
	b64, ok := strings.CutPrefix(s, "h1:")
	if !ok || len(b64) != 44 {
		return false
	}
	sum, err := base64.StdEncoding.Strict().DecodeString(b64)
	return err == nil && len(sum) == 32
}

// CheckName returns a message explaining why s is not a valid artifact
// name, or "" if it is valid. Manifests hold the same names.
func CheckName(s string) string {
	if len(s) > maxNameLen {
		return fmt.Sprintf("name is %d characters long; the limit is %d", len(s), maxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) || i > 0 && (c == '.' || c == '_' || c == '-') {
			continue
		}
		return fmt.Sprintf("invalid name %q; use letters, digits, '.', '_' and '-', starting with a letter or digit", s)
	}
	if s == "" {
		return fmt.Sprintf("invalid name %q; use letters, digits, '.', '_' and '-', starting with a letter or digit", s)
	}
	return ""
}

// isTag reports whether s is a valid build tag.
func isTag(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// isEnvName reports whether s is a valid environment variable name.
func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || isAlnum(c) && (i > 0 || !isDigit(c)) {
			continue
		}
		return false
	}
	return true
}

// isReservedEnv reports whether the environment variable name is set by
// pbuild itself and so may not appear in build.env.
func isReservedEnv(name string) bool {
	switch name {
	case "GOOS", "GOARCH", "CGO_ENABLED", "GOFLAGS", "GOTOOLCHAIN", "GOROOT",
		"GOPATH", "GOCACHE", "GOMODCACHE", "GOPROXY", "GOWORK", "GO111MODULE", "GOENV",
		// The toolchain image's and pbuild's own: overriding them breaks
		// the commands pbuild runs in the container, not the build.
		"PATH", "HOME", "GOTELEMETRY":
		return true
	}
	return false
}

// within reports whether path is dir or lies inside it; both must be
// absolute and clean.
func within(dir, path string) bool {
	if path == dir {
		return true
	}
	if !strings.HasSuffix(dir, string(filepath.Separator)) {
		dir += string(filepath.Separator)
	}
	return strings.HasPrefix(path, dir)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isAlnum(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
