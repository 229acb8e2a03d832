package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// parser decodes one config file. yaml.v3 decodes it strictly into the
// Config; an index of the file's fields, built once from its node tree,
// gives every field a line and a place in file order, so that what yaml.v3
// and the value checks find is said in pbuild's words and the problem that
// comes first in the file is the one reported.
type parser struct {
	file string  // file name as given, for messages
	cfg  *Config // the config being filled in

	entries []*entry          // every field and list item, in file order
	paths   map[string]*entry // the first entry of each field path
	next    int               // the rank of the next entry
	first   *Error            // the problem found first in file order so far
	rank    int               // its place in file order

	arts []placed // the artifacts checked so far, in file order
	tags []string // the build tags checked so far, in file order
	// platforms are the platforms checked so far, in file order.
	platforms []string
}

// entry is one field or list item of the file.
type entry struct {
	path   string       // "toolchain.go", "plugins[1]", "build.env.CC"; "" for the document
	parent *entry       // the mapping or list holding it; nil for the document
	key    *yaml.Node   // its key; nil for a list item and the document
	node   *yaml.Node   // its value, aliases followed
	typ    reflect.Type // what yaml.v3 decodes the value into; nil when it does not
	rank   int          // the key's place in file order; the value's is rank+1
	end    int          // the place after everything in the value, before what follows
}

// errorf returns an *Error for the config file at the given line and field.
func (p *parser) errorf(line int, field, format string, args ...any) *Error {
	return &Error{File: p.file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// report records a problem at rank unless one earlier in the file is known.
func (p *parser) report(rank int, err *Error) {
	if p.first == nil || rank < p.rank {
		p.first, p.rank = err, rank
	}
}

// document parses data as a single YAML document and returns its top-level
// mapping.
func (p *parser) document(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc, next yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, p.syntaxError(err)
	}
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, p.errorf(next.Line, "", "more than one YAML document; the config must be a single document")
	case !errors.Is(err, io.EOF):
		return nil, p.syntaxError(err)
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, p.errorf(0, "", "empty config; start with \"version: %d\"", Version)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, p.errorf(root.Line, "", "expected a mapping of settings at the top level, got %s", describe(root))
	}
	return root, nil
}

// syntaxError turns an error from yaml.v3 into an *Error, moving the line
// number it mentions, if any, into the Line field.
func (p *parser) syntaxError(err error) *Error {
	line, msg := cutLine(strings.TrimPrefix(err.Error(), "yaml: "))
	return p.errorf(line, "", "invalid YAML: %s", msg)
}

// cutLine splits msg, worded by yaml.v3 as "line N: text", into N and
// text, or returns 0 and msg.
func cutLine(msg string) (int, string) {
	var n int
	if _, err := fmt.Sscanf(msg, "line %d:", &n); err != nil {
		return 0, msg
	}
	_, text, _ := strings.Cut(msg, ": ")
	return n, text
}

// version checks the version field before anything else, since the rest of
// the file can only be understood once its version is known.
func (p *parser) version() error {
	e, n := p.paths["version"], 0
	switch {
	case e == nil || isNull(e.node):
		return p.errorf(0, "version", "missing; add \"version: %d\" at the top of the file", Version)
	case e.node.Kind != yaml.ScalarNode || e.node.ShortTag() != "!!int" || e.node.Decode(&n) != nil:
		return p.errorf(e.node.Line, "version", "expected an integer, got %s", describe(e.node))
	case n != Version:
		return p.errorf(e.node.Line, "version", "unsupported version %d; this pbuild supports only version %d", n, Version)
	}
	return nil
}

// bounds refuses, before yaml.v3 decodes anything, a document that would
// take it long: a mapping of very many keys, or many aliases of mappings
// and lists. aliases counts those seen so far.
func (p *parser) bounds(n *yaml.Node, aliases *int) error {
	switch {
	case n.Kind == yaml.MappingNode && len(n.Content) > 2*maxKeys:
		return p.errorf(n.Line, "", "a mapping of more than %d keys", maxKeys)
	case n.Kind == yaml.AliasNode && n.Alias.Kind != yaml.ScalarNode:
		if *aliases++; *aliases > maxAliases {
			return p.errorf(n.Line, "", "more than %d aliases of mappings or lists", maxAliases)
		}
	}
	for _, c := range n.Content {
		if err := p.bounds(c, aliases); err != nil {
			return err
		}
	}
	return nil
}

// walk adds the entry of node n, the value of key at path, which yaml.v3
// decodes into a t, and the entries of the fields and items in it, to the
// index. It reports what yaml.v3 would let through: keys that are not plain
// scalars (null, an alias, a list or a mapping), merge keys, and aliases of
// the mappings and lists of the config (it has no use for them: each would
// repeat an artifact's name or a section; and the index stays as small as
// the file).
func (p *parser) walk(parent *entry, key, n *yaml.Node, path string, t reflect.Type) {
	e := &entry{path: path, parent: parent, key: key, node: deref(n), typ: t, rank: p.next}
	p.next += 2
	p.entries = append(p.entries, e)
	if p.paths[path] == nil {
		p.paths[path] = e
	}
	mapping := e.node.Kind == yaml.MappingNode && t != nil && (t.Kind() == reflect.Struct || t.Kind() == reflect.Map)
	list := e.node.Kind == yaml.SequenceNode && t != nil && t.Kind() == reflect.Slice
	switch {
	case (mapping || list) && n.Kind == yaml.AliasNode:
		p.report(e.rank+1, p.errorf(n.Line, path, "aliases of mappings and lists are not supported"))
	case mapping:
		for i := 0; i+1 < len(e.node.Content); i += 2 {
			k := e.node.Content[i]
			var ft reflect.Type
			switch {
			case k.Kind != yaml.ScalarNode || isNull(k):
				p.report(p.next, p.errorf(k.Line, path, "expected a plain key, got %s", describe(k)))
			case k.ShortTag() == "!!merge":
				p.report(p.next, p.errorf(k.Line, path, "merge keys (<<) are not supported"))
			case t.Kind() == reflect.Map:
				ft = t.Elem()
			default:
				ft = fieldType(t, k.Value)
			}
			p.walk(e, k, e.node.Content[i+1], join(path, k.Value), ft)
		}
	case list:
		for i, item := range e.node.Content {
			p.walk(e, nil, item, fmt.Sprintf("%s[%d]", path, i), t.Elem())
		}
	}
	e.end = p.next
	p.next++
}

// fieldType returns the type of the field of struct t that yaml.v3 decodes
// the key name into, or nil if there is none.
func fieldType(t reflect.Type, name string) reflect.Type {
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag == name && tag != "-" {
			return t.Field(i).Type
		}
	}
	return nil
}

// join returns the path of field name of the mapping at path.
func join(path, name string) string { return strings.TrimPrefix(path+"."+name, ".") }

// The errors of yaml.v3 that pbuild says in its words, after "line N: ".
var (
	unknownField = regexp.MustCompile(`^field (.*) not found in type \S+$`)
	duplicateKey = regexp.MustCompile(`^mapping key (".*") already defined at line (\d+)$`)
	wrongType    = regexp.MustCompile(`^cannot unmarshal (\S+)(?: .*)? into (\S+)$`)
)

// decode decodes data strictly into the Config and reports what yaml.v3
// finds wrong first: an unknown field, a duplicate key or a value of the
// wrong type. yaml.v3 goes through the file in the order of the index (a
// mapping's duplicate keys before what is in it), so its first error is the
// one that comes first. This is the one place that says its errors in
// pbuild's words; one that matches no entry is reported as yaml.v3 says it,
// after everything else.
func (p *parser) decode(data []byte) {
	defer func() {
		// yaml.v3 panics on a merge key beside a key that is a list or
		// a mapping; walk has reported both.
		if r := recover(); r != nil {
			p.report(math.MaxInt, p.errorf(0, "", "invalid YAML: %v", r))
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(p.cfg)
	var te *yaml.TypeError
	if errors.As(err, &te) {
		if p.translate(te.Errors[0]) {
			return
		}
		err = errors.New(te.Errors[0])
	}
	if err != nil {
		p.report(math.MaxInt, p.syntaxError(err))
	}
}

// translate reports the error msg of yaml.v3 at the entry it concerns and
// says whether there is one. Where entries would have the same error (the
// same key, or the same kind of value for the same type, on one line), the
// first is the one yaml.v3 found first.
func (p *parser) translate(msg string) bool {
	line, msg := cutLine(msg)
	if m := unknownField.FindStringSubmatch(msg); m != nil {
		e := p.match(func(e *entry) bool {
			return e.typ == nil && e.key != nil && e.key.Line == line && e.key.Value == m[1]
		})
		if e != nil {
			p.report(e.rank, p.errorf(line, e.parent.path, "unknown field %q", m[1]))
		}
		return e != nil
	}
	if m := duplicateKey.FindStringSubmatch(msg); m != nil {
		// yaml.v3 looks for duplicate keys before it decodes anything in
		// a mapping, even before it finds that a mapping does not belong
		// where it is; so the duplicate is reported before anything in
		// the mapping. Keys that are not plain scalars walk reports.
		key, err := strconv.Unquote(m[1])
		first, _ := strconv.Atoi(m[2])
		var keys []*yaml.Node // the keys yaml.v3 means
		e := p.match(func(e *entry) bool {
			keys = nil
			if err == nil && e.typ != nil && e.node.Kind == yaml.MappingNode {
				for i := 0; i < len(e.node.Content); i += 2 {
					if k := e.node.Content[i]; k.Value == key && (k.Line == line || k.Line == first) {
						keys = append(keys, k)
					}
				}
			}
			return len(keys) > 1
		})
		switch {
		case e == nil:
		case e.typ.Kind() != reflect.Struct && e.typ.Kind() != reflect.Map:
			p.wrongType(e)
		case keys[1].Kind == yaml.ScalarNode:
			p.report(e.rank+1, p.errorf(line, e.path, "duplicate key %q (first on line %d)", key, first))
		}
		return e != nil
	}
	if m := wrongType.FindStringSubmatch(msg); m != nil {
		e := p.match(func(e *entry) bool {
			return e.typ != nil && e.typ.String() == m[2] && e.node.Line == line && e.node.ShortTag() == m[1]
		})
		if e != nil {
			p.wrongType(e)
		}
		return e != nil
	}
	return false
}

// match returns the first entry for which ok holds, or nil.
func (p *parser) match(ok func(*entry) bool) *entry {
	if i := slices.IndexFunc(p.entries, ok); i >= 0 {
		return p.entries[i]
	}
	return nil
}

// wrongType reports that the value of e is not of the kind its field takes.
func (p *parser) wrongType(e *entry) {
	want := map[reflect.Kind]string{reflect.String: "a string", reflect.Int: "an integer",
		reflect.Slice: "a list", reflect.Map: "a mapping", reflect.Struct: "a mapping"}[e.typ.Kind()]
	if e.typ == reflect.TypeFor[Artifact]() {
		want = "a mapping with name and path"
	}
	p.report(e.rank+1, p.errorf(e.node.Line, e.path, "expected %s, got %s", want, describe(e.node)))
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
		return "an alias"
	}
}
