package manifests

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// schemaV1JSON is the JSON Schema of version 1 of the format, which the
// package no longer writes.
//
//go:embed schema/manifest.v1.schema.json
var schemaV1JSON []byte

type schemaNode = map[string]any

func loadSchema(t *testing.T) schemaNode {
	t.Helper()
	return loadSchemaBytes(t, Schema())
}

func loadSchemaBytes(t *testing.T, data []byte) schemaNode {
	t.Helper()
	var s schemaNode
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("parsing embedded schema: %v", err)
	}
	return s
}

// resolve follows local "$ref": "#/$defs/<name>" references.
func resolve(t *testing.T, root, n schemaNode) schemaNode {
	t.Helper()
	for {
		ref, ok := n["$ref"].(string)
		if !ok {
			return n
		}
		name, ok := strings.CutPrefix(ref, "#/$defs/")
		if !ok {
			t.Fatalf("unsupported $ref %q", ref)
		}
		def, ok := root["$defs"].(schemaNode)[name].(schemaNode)
		if !ok {
			t.Fatalf("$ref %q does not resolve", ref)
		}
		n = def
	}
}

func TestSchemaHeader(t *testing.T) {
	s := loadSchema(t)
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v, want draft 2020-12", s["$schema"])
	}
	sv := resolve(t, s, s["properties"].(schemaNode)["schemaVersion"].(schemaNode))
	if sv["const"] != float64(SchemaVersion) {
		t.Errorf("schemaVersion const = %v, want %d", sv["const"], SchemaVersion)
	}
	kind := resolve(t, s, resolve(t, s, s["$defs"].(schemaNode)["artifact"].(schemaNode))["properties"].(schemaNode)["kind"].(schemaNode))
	var kinds []any
	for _, k := range Kinds() {
		kinds = append(kinds, k)
	}
	if !reflect.DeepEqual(kind["enum"], kinds) {
		t.Errorf("artifact kind enum = %v, want %v", kind["enum"], kinds)
	}
	// The version 1 schema stays as it was.
	v1 := loadSchemaBytes(t, schemaV1JSON)
	if sv := v1["properties"].(schemaNode)["schemaVersion"].(schemaNode); sv["const"] != float64(MinSchemaVersion) {
		t.Errorf("v1 schemaVersion const = %v", sv["const"])
	}
	for _, re := range collectPatterns(s) {
		if _, err := regexp.Compile(re); err != nil {
			t.Errorf("schema pattern %q: %v", re, err)
		}
	}
}

func collectPatterns(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		if p, ok := v["pattern"].(string); ok {
			out = append(out, p)
		}
		for _, e := range v {
			out = append(out, collectPatterns(e)...)
		}
	case []any:
		for _, e := range v {
			out = append(out, collectPatterns(e)...)
		}
	}
	return out
}

// TestSchemaMatchesTypes walks the Go types and the schema side by side.
func TestSchemaMatchesTypes(t *testing.T) {
	s := loadSchema(t)
	checkSchemaType(t, s, s, reflect.TypeFor[Manifest](), "#")
}

func checkSchemaType(t *testing.T, root, n schemaNode, typ reflect.Type, at string) {
	t.Helper()
	n = resolve(t, root, n)
	if typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	want := map[reflect.Kind]string{
		reflect.String: "string", reflect.Int: "integer", reflect.Int64: "integer", reflect.Bool: "boolean",
		reflect.Struct: "object", reflect.Map: "object", reflect.Slice: "array",
	}[typ.Kind()]
	if want == "" {
		t.Fatalf("%s: no schema type for Go kind %s", at, typ.Kind())
	}
	if n["type"] != want {
		t.Errorf("%s: schema type %v, Go type %s wants %q", at, n["type"], typ, want)
		return
	}
	switch typ.Kind() {
	case reflect.Struct:
		if n["additionalProperties"] != false {
			t.Errorf("%s: additionalProperties is %v, want false", at, n["additionalProperties"])
		}
		props, _ := n["properties"].(schemaNode)
		var fields, required []string
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, omitempty := jsonField(f)
			if name == "" {
				continue
			}
			fields = append(fields, name)
			if !omitempty {
				required = append(required, name)
			}
			p, ok := props[name].(schemaNode)
			if !ok {
				t.Errorf("%s: field %s (%s.%s) missing from schema properties", at, name, typ.Name(), f.Name)
				continue
			}
			checkSchemaType(t, root, p, f.Type, at+"/"+name)
		}
		for name := range props {
			if !slices.Contains(fields, name) {
				t.Errorf("%s: schema property %q has no Go field in %s", at, name, typ)
			}
		}
		var schemaRequired []string
		for _, r := range n["required"].([]any) {
			schemaRequired = append(schemaRequired, r.(string))
		}
		sort.Strings(required)
		sort.Strings(schemaRequired)
		if !slices.Equal(required, schemaRequired) {
			t.Errorf("%s: schema required %q, Go non-omitempty fields %q", at, schemaRequired, required)
		}
	case reflect.Map:
		ap, ok := n["additionalProperties"].(schemaNode)
		if !ok {
			t.Errorf("%s: map type %s needs an additionalProperties schema", at, typ)
			return
		}
		checkSchemaType(t, root, ap, typ.Elem(), at+"/*")
	case reflect.Slice:
		items, ok := n["items"].(schemaNode)
		if !ok {
			t.Errorf("%s: array without items", at)
			return
		}
		checkSchemaType(t, root, items, typ.Elem(), at+"/[]")
	}
}

// validate is a small JSON Schema checker covering the keywords the manifest
// schema uses: $ref (local), type, required, properties,
// additionalProperties, items, pattern, enum, const, not, minLength,
// minimum, allOf, anyOf, if/then/else.
func validate(root, n schemaNode, v any, at string) []string {
	for {
		ref, ok := n["$ref"].(string)
		if !ok {
			break
		}
		n = root["$defs"].(schemaNode)[strings.TrimPrefix(ref, "#/$defs/")].(schemaNode)
	}
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, at+": "+fmt.Sprintf(format, args...)) }
	if typ, ok := n["type"].(string); ok {
		okType := false
		switch x := v.(type) {
		case map[string]any:
			okType = typ == "object"
		case []any:
			okType = typ == "array"
		case string:
			okType = typ == "string"
		case bool:
			okType = typ == "boolean"
		case float64:
			okType = typ == "number" || (typ == "integer" && x == float64(int64(x)))
		}
		if !okType {
			fail("%v is not of type %s", v, typ)
			return errs
		}
	}
	if c, ok := n["const"]; ok && !reflect.DeepEqual(c, v) {
		fail("%v != const %v", v, c)
	}
	if not, ok := n["not"].(schemaNode); ok && len(validate(root, not, v, at)) == 0 {
		fail("%v matches the schema under not", v)
	}
	for _, sub := range asSlice(n["allOf"]) {
		errs = append(errs, validate(root, sub.(schemaNode), v, at)...)
	}
	if alts := asSlice(n["anyOf"]); len(alts) > 0 && !slices.ContainsFunc(alts, func(sub any) bool { return len(validate(root, sub.(schemaNode), v, at)) == 0 }) {
		fail("%v matches no schema of anyOf", v)
	}
	if cond, ok := n["if"].(schemaNode); ok {
		branch := "else"
		if len(validate(root, cond, v, at)) == 0 {
			branch = "then"
		}
		if sub, ok := n[branch].(schemaNode); ok {
			errs = append(errs, validate(root, sub, v, at+"("+branch+")")...)
		}
	}
	if e, ok := n["enum"].([]any); ok && !slices.ContainsFunc(e, func(x any) bool { return reflect.DeepEqual(x, v) }) {
		fail("%v not in enum %v", v, e)
	}
	if s, ok := v.(string); ok {
		if p, ok := n["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(s) {
			fail("%q does not match %s", s, p)
		}
		if ml, ok := n["minLength"].(float64); ok && float64(len([]rune(s))) < ml {
			fail("%q shorter than %v", s, ml)
		}
	}
	if f, ok := v.(float64); ok {
		if min, ok := n["minimum"].(float64); ok && f < min {
			fail("%v below minimum %v", f, min)
		}
	}
	if obj, ok := v.(map[string]any); ok {
		for _, r := range asSlice(n["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				fail("missing required property %q", r)
			}
		}
		props, _ := n["properties"].(schemaNode)
		for k, pv := range obj {
			if ps, ok := props[k].(schemaNode); ok {
				errs = append(errs, validate(root, ps, pv, at+"/"+k)...)
				continue
			}
			switch ap := n["additionalProperties"].(type) {
			case bool:
				if !ap {
					fail("property %q not allowed", k)
				}
			case schemaNode:
				errs = append(errs, validate(root, ap, pv, at+"/"+k)...)
			}
		}
	}
	if arr, ok := v.([]any); ok {
		if items, ok := n["items"].(schemaNode); ok {
			for i, e := range arr {
				errs = append(errs, validate(root, items, e, fmt.Sprintf("%s/%d", at, i))...)
			}
		}
	}
	return errs
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func TestGoldenValidatesAgainstSchema(t *testing.T) {
	root := loadSchema(t)
	data, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, e := range validate(root, root, doc, "#") {
		t.Error(e)
	}

	// The checker must actually reject things.
	bad := []struct {
		name string
		edit func(d map[string]any)
	}{
		{"abiKey pattern", func(d map[string]any) { d["abiKey"] = "md5:abc" }},
		{"unknown property", func(d map[string]any) { d["toolchain"].(map[string]any)["extra"] = "x" }},
		{"missing required", func(d map[string]any) { delete(d["build"].(map[string]any), "ldflags") }},
		{"wrong type", func(d map[string]any) { d["modules"] = map[string]any{} }},
		{"bad sum", func(d map[string]any) { d["modules"].([]any)[0].(map[string]any)["sum"] = "h1:short=" }},
		{"bad package hash", func(d map[string]any) {
			d["artifacts"].([]any)[0].(map[string]any)["packages"].(map[string]any)["fmt"] = "XYZ"
		}},
		{"bad kind", func(d map[string]any) { d["artifacts"].([]any)[0].(map[string]any)["kind"] = "library" }},
		{"file leaving", func(d map[string]any) { d["artifacts"].([]any)[0].(map[string]any)["file"] = "../x" }},
		{"file is the manifest", func(d map[string]any) { d["artifacts"].([]any)[0].(map[string]any)["file"] = FileName }},
		{"bad name", func(d map[string]any) { d["artifacts"].([]any)[0].(map[string]any)["name"] = "a/b" }},
		{"schemaVersion", func(d map[string]any) { d["schemaVersion"] = 1 }},
		{"header on a plugin", func(d map[string]any) {
			arts := d["artifacts"].([]any)
			arts[1].(map[string]any)["header"] = arts[2].(map[string]any)["header"]
		}},
		{"no header on a c-shared library", func(d map[string]any) { delete(d["artifacts"].([]any)[2].(map[string]any), "header") }},
		{"cSymbols on a host", func(d map[string]any) { d["artifacts"].([]any)[0].(map[string]any)["cSymbols"] = []any{"main"} }},
		{"pluginpath on a c-archive", func(d map[string]any) { d["artifacts"].([]any)[3].(map[string]any)["pluginpath"] = "example.com/x" }},
		{"header file leaving", func(d map[string]any) {
			d["artifacts"].([]any)[2].(map[string]any)["header"].(map[string]any)["file"] = "../nbd.h"
		}},
		{"bad glibc", func(d map[string]any) { d["artifacts"].([]any)[2].(map[string]any)["glibc"] = []any{"2.34"} }},
		{"bad package", func(d map[string]any) { d["toolchain"].(map[string]any)["packages"] = []any{"Libnbd"} }},
		{"missing loadedBy", func(d map[string]any) { delete(d["artifacts"].([]any)[2].(map[string]any), "loadedBy") }},
	}
	for _, b := range bad {
		var d map[string]any
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatal(err)
		}
		b.edit(d)
		if errs := validate(root, root, d, "#"); len(errs) == 0 {
			t.Errorf("%s: schema accepted an invalid manifest", b.name)
		}
	}
}

func TestEmptyManifestValidatesAgainstSchemaShape(t *testing.T) {
	// A zero manifest has invalid strings (empty digests) but must still have
	// the right shape: every required field present and correctly typed.
	root := loadSchema(t)
	data := writeBytes(t, &Manifest{Artifacts: []Artifact{{Kind: KindPlugin}}, Modules: []Module{{}}})
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, e := range validate(root, root, doc, "#") {
		if strings.Contains(e, "missing required") || strings.Contains(e, "not of type") || strings.Contains(e, "not allowed") {
			t.Error(e)
		}
	}
}

// TestSchemaAgreesWithValidate: the schema's rules for an artifact's name
// and file accept exactly what CheckName and CheckFile accept.
func TestSchemaAgreesWithValidate(t *testing.T) {
	root := loadSchema(t)
	props := resolve(t, root, root["$defs"].(schemaNode)["artifact"].(schemaNode))["properties"].(schemaNode)
	files := []string{
		"app", "plugins/hello.so", "a/b/c", "...", ".hidden", "..x", "x..", "a.", "a/.b", "a/..b", "a/...",
		"ünï/cödé", "a b", "-x", strings.Repeat("x", 300), FileName, "plugins/" + FileName,
		"", ".", "..", "../x", "a/..", "a/../b", "./a", "a/.", "a//b", "a/", "/a", "//a",
		`a\b`, `..\x`, "a\nb", "a\x00b", "a\x7fb", "a\tb", "\x1f",
	}
	names := []string{"app", "hello-0.2", "a_b.c", "A9", "x", strings.Repeat("n", 64), strings.Repeat("n", 65),
		"", ".x", "-x", "_x", "a b", "a/b", "ä", "a\nb"}
	check := func(what string, schema schemaNode, cases []string, goCheck func(string) error) {
		for _, c := range cases {
			schemaOK := len(validate(root, schema, c, "#")) == 0
			goErr := goCheck(c)
			if schemaOK != (goErr == nil) {
				t.Errorf("%s %q: schema accepts: %v, Go: %v", what, c, schemaOK, goErr)
			}
		}
	}
	check("file", props["file"].(schemaNode), files, CheckFile)
	check("name", props["name"].(schemaNode), names, CheckName)
	check("header file", resolve(t, root, props["header"].(schemaNode))["properties"].(schemaNode)["file"].(schemaNode), files, CheckFile)

	pkgs := []string{"libnbd-dev", "libnbd-dev=1.14.2-1", "gcc-aarch64-linux-gnu", "libc6-dev:arm64=2.36-9+deb12u4", "g++", "lib.x=1:2.0~rc1",
		"nbdkit=1.32.5-1~bpo12+1", "x", "", "Libnbd", "-lib", "lib dev", "lib=", "lib:=1", "lib:ARM=1", "lib=~1", "lib=1 2", "lib=1/2", "lib\n", "ü-lib"}
	check("package", resolve(t, root, root["$defs"].(schemaNode)["toolchain"].(schemaNode))["properties"].(schemaNode)["packages"].(schemaNode)["items"].(schemaNode),
		pkgs, CheckPackage)
	glibc := []string{"GLIBC_2.34", "GLIBC_2.2.5", "GLIBC_PRIVATE", "GLIBC_2", "GLIBC_", "GLIBC_2.", "GLIBC_2..3", "glibc_2.34", "GLIBC_2.34a", "2.34", "GLIBC_1234567890.1"}
	check("glibc", props["glibc"].(schemaNode)["items"].(schemaNode), glibc, func(s string) error {
		if !isGLIBCVersion(s) {
			return errors.New("not a version")
		}
		return nil
	})
	syms := []string{"plugin_init", "_Z3fooi", "a.b", "", "a b", "a\x00", "a\x7f"}
	check("cSymbol", props["cSymbols"].(schemaNode)["items"].(schemaNode), syms, checkSymbol)
}
