package config

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// missingGo reports a toolchain without a Go release.
const missingGo = "missing; set it to an exact Go release such as 1.24.4"

// placed records where an artifact was declared, for the checks that
// compare artifacts with each other and with the output directory.
type placed struct {
	field              string      // "host" or "plugins[i]"
	name, path         string      // its name and absolute, clean directory, once checked
	nameLine, pathLine int         // the lines of their values
	info               fs.FileInfo // result of stat on path
}

// check makes the checks of the values in the file, in file order, until
// it is past the first problem found. Values of the wrong kind are left to
// yaml.v3 (see decode).
func (p *parser) check() {
	for _, e := range p.entries {
		switch {
		case p.first != nil && e.rank > p.rank:
			return
		case e.typ == reflect.TypeFor[Artifact]():
			p.artifact(e)
		case e.path == "toolchain":
			p.toolchain(e)
		case e.parent != nil && e.parent.path == "build.tags":
			p.uniqueItem(e, &p.tags, "tag", checkTag)
		case e.parent != nil && e.parent.path == "platforms":
			p.uniqueItem(e, &p.platforms, "platform", checkPlatform)
		case e.parent != nil && e.parent.path == "toolchain.packages":
			if t, s := p.scalar(e.path); t != nil {
				p.bad(t, checkPackage(s))
			}
		case e.parent != nil && e.parent.path == "build.env" && e.typ != nil:
			if msg := checkEnvName(e.key.Value); msg != "" {
				p.report(e.rank, p.errorf(e.key.Line, e.parent.path, "%s", msg))
			}
		}
	}
}

// uniqueItem checks e, an item of the list e.parent, with check, and
// refuses a value already in seen, the items checked so far; it then adds
// the value to seen. what names an item in the message.
func (p *parser) uniqueItem(e *entry, seen *[]string, what string, check func(string) string) {
	t, s := p.scalar(e.path)
	if t == nil {
		return
	}
	msg := check(s)
	if j := slices.Index(*seen, s); msg == "" && j >= 0 {
		msg = fmt.Sprintf("duplicate %s %q (also %s[%d])", what, s, e.parent.path, j)
	}
	p.bad(t, msg)
	*seen = append(*seen, s)
}

// scalar returns the entry at path and the string yaml.v3 decodes its value
// into, which is what the Config holds ("" for null); or nil and "" if there
// is no scalar at path, or one yaml.v3 cannot decode (which it reports).
func (p *parser) scalar(path string) (*entry, string) {
	var s string
	e := p.paths[path]
	if e == nil || e.node.Kind != yaml.ScalarNode {
		return nil, ""
	}
	if err := e.node.Decode(&s); err != nil {
		p.bad(e, strings.TrimPrefix(err.Error(), "yaml: "))
		return nil, ""
	}
	return e, s
}

// bad reports msg, unless it is empty, as a problem with the value of e.
func (p *parser) bad(e *entry, msg string) {
	if msg != "" {
		p.report(e.rank+1, p.errorf(e.node.Line, e.path, "%s", msg))
	}
}

// toolchain checks the toolchain section.
func (p *parser) toolchain(e *entry) {
	g, v := p.scalar("toolchain.go")
	if v != "" {
		p.bad(g, checkGoVersion(v))
	} else {
		p.report(e.end, p.errorf(e.key.Line, "toolchain.go", missingGo))
	}
	if b, s := p.scalar("toolchain.base"); b != nil {
		p.bad(b, checkBase(s))
	}
	if s, sum := p.scalar("toolchain.sum"); sum != "" {
		p.bad(s, checkSum(sum))
	}
}

// artifact checks the host or a plugin. A null value is treated like an
// empty mapping; missing fields are reported at its start.
func (p *parser) artifact(e *entry) {
	if e.node.Kind != yaml.MappingNode && !isNull(e.node) {
		return
	}
	this := placed{field: e.path}
	library := strings.HasPrefix(e.path, "libraries[")
	switch v, s := p.scalar(e.path + ".version"); {
	case s == "":
	case e.path == "host":
		p.bad(v, "only plugins have a version (it goes into their pluginpath)")
	default:
		p.bad(v, checkVersion(s))
	}
	switch b, s := p.scalar(e.path + ".buildmode"); {
	case s == "":
	case !library:
		p.bad(b, "only libraries have a buildmode: plugins are built with -buildmode=plugin, the host as an executable")
	case s != "c-shared" && s != "c-archive":
		p.bad(b, fmt.Sprintf("buildmode %q: a library is c-shared (a .so and its .h, for C hosts that dlopen it) or c-archive (a .a and its .h)", s))
	}
	if f, s := p.scalar(e.path + ".file"); s != "" {
		p.bad(f, checkFileTemplate(s))
	}
	n, name := p.scalar(e.path + ".name")
	if name != "" {
		msg := CheckName(name)
		for _, prev := range p.arts {
			switch {
			case msg != "":
			case prev.name == name:
				msg = fmt.Sprintf("name %q is already used by %s (line %d)", name, prev.field, prev.nameLine)
			case strings.EqualFold(prev.name, name):
				msg = fmt.Sprintf("name %q differs only in case from %q of %s (line %d)", name, prev.name, prev.field, prev.nameLine)
			}
		}
		p.bad(n, msg)
		if msg == "" {
			this.name, this.nameLine = name, n.node.Line
		}
	}
	d, dir := p.scalar(e.path + ".path")
	if dir != "" {
		abs := p.cfg.AbsPath(dir)
		info, msg := p.checkDir(dir, abs)
		p.bad(d, msg)
		if msg == "" {
			this.path, this.pathLine, this.info = abs, d.node.Line, info
		}
	}
	line := e.node.Line
	if e.key != nil {
		line = e.key.Line
	}
	switch {
	case name == "":
		p.report(e.end, p.errorf(line, e.path+".name", "missing"))
	case dir == "":
		p.report(e.end, p.errorf(line, e.path+".path", "missing"))
	}
	p.arts = append(p.arts, this)
}

// checkDir explains why dir, the path of an artifact, and abs, the same made
// absolute, is not a package directory of its own, or returns "".
func (p *parser) checkDir(dir, abs string) (fs.FileInfo, string) {
	info, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Sprintf("%s does not exist", dir)
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Sprintf("cannot access %s: %v", dir, err)
	case !info.IsDir() && strings.HasSuffix(dir, ".go"):
		base := strings.TrimSuffix(dir, ".go")
		return nil, fmt.Sprintf("%s is a Go file; pbuild builds a package directory: move it into a directory of its own (%s/%s, with a go.mod above it) and set path to %s", dir, base, filepath.Base(dir), base)
	case !info.IsDir():
		return nil, fmt.Sprintf("%s is not a directory", dir)
	}
	for _, prev := range p.arts {
		if prev.path == abs || os.SameFile(prev.info, info) {
			return nil, fmt.Sprintf("%s is the same directory as %s.path (line %d)", dir, prev.field, prev.pathLine)
		}
	}
	return info, ""
}

// finish makes the checks that need the whole file, once it has no other
// problem, and fills in defaults.
func (p *parser) finish() error {
	c := p.cfg
	if c.Toolchain.Go == "" {
		return p.errorf(0, "toolchain.go", missingGo)
	}
	if p.paths["host"] == nil && len(c.Plugins) == 0 && len(c.Libraries) == 0 {
		return p.errorf(0, "host", "missing; declare the plugin host as \"host: {name: NAME, path: DIR}\" (a project of plugins only builds them against a released host's manifest)")
	}
	for i := range c.Plugins {
		c.Plugins[i].Version = strings.TrimPrefix(c.Plugins[i].Version, "v")
	}
	for i := range c.Libraries {
		c.Libraries[i].Version = strings.TrimPrefix(c.Libraries[i].Version, "v")
		c.Libraries[i].BuildMode = cmp.Or(c.Libraries[i].BuildMode, "c-shared")
	}
	c.Toolchain.Base = cmp.Or(c.Toolchain.Base, DefaultBase)
	c.Output = cmp.Or(c.Output, DefaultOutput)
	return p.checkOutput()
}

// checkOutput makes sure that replacing the output directory cannot destroy
// the config directory or any artifact's sources. An output directory inside
// an artifact's directory is fine: builds never read it.
func (p *parser) checkOutput() error {
	out, shown, line := p.cfg.OutputDir(), p.cfg.Output, 0
	if o, s := p.scalar("output"); s != "" {
		line = o.node.Line
	} else {
		shown += " (the default)"
	}
	// rel says how out relates to dir: same when it is dir.
	rel := func(dir, same string) string {
		switch {
		case out == dir:
			return same
		case within(out, dir):
			return "contains"
		}
		return ""
	}
	if r := rel(p.cfg.Dir, "is"); r != "" {
		return p.errorf(line, "output", "%s %s the config directory; %s", shown, r, replaced)
	}
	for _, a := range p.arts {
		if r := rel(a.path, "is the same directory as"); r != "" {
			return p.errorf(line, "output", "%s %s %s.path (line %d); %s", shown, r, a.field, a.pathLine, replaced)
		}
	}
	return nil
}
