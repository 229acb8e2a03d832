package manifests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/manifest.golden.json")

const goldenFile = "testdata/manifest.golden.json"

// goldenV1File is a manifest of schema version 1, as pbuild wrote it
// before C-ABI libraries: testManifestV1.
const goldenV1File = "testdata/manifest.v1.golden.json"

// testManifest returns a fresh, realistic manifest; every call builds new
// slices and maps, so tests may mutate the result.
func testManifest() *Manifest {
	tc := Toolchain{
		Go:          "go1.24.4",
		Module:      "golang.org/toolchain@v0.0.1-go1.24.4.linux-amd64",
		ModuleSum:   "h1:Y2l1dGH4wHAvXcmjSVi1PMgpkG+lVbdUOyeJHvJRmPo=",
		BaseImage:   "pbuild/base:bookworm",
		BaseImageID: "sha256:4b0c6e54e1d5d3f3b1a2c0b6e9f8a7d6c5b4a39281706f5e4d3c2b1a09f8e7d6",
		Image:       "pbuild/toolchain:go1.24.4-5d1c2e7a",
		ImageID:     "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		GOOS:        "linux",
		GOARCH:      "amd64",
		GOAMD64:     "v1",
		CC:          "gcc (Debian 12.2.0-14+deb12u1) 12.2.0",
		Packages:    []string{"nbdkit-plugin-dev=1.32.5-1", "libnbd-dev=1.14.2-1"},
	}
	b := Build{
		Flags:   []string{"-trimpath", "-buildvcs=false", "-mod=readonly"},
		Tags:    []string{"netgo", "osusergo"},
		Ldflags: "-s -w -X main.version=v1.4.0",
		Env: map[string]string{
			"CGO_ENABLED":  "1",
			"CGO_CFLAGS":   "-O2 -g",
			"GOEXPERIMENT": "",
		},
	}
	mods := []Module{
		{
			Path:  "example.com/app",
			Sum:   "h1:0Ra5h3wC3bn2I4ez6EbiCfAzRsX5gC4mQ2KVd5jrAvk=",
			Local: true,
			Dir:   ".",
		},
		{
			Path:  "example.com/app/plugins/hello",
			Sum:   "h1:kB0m2vtz1N5lTBzDWpqrmO2v6d3xoU5cCD1BYZXaXjs=",
			Local: true,
			Dir:   "plugins/hello",
		},
		{
			Path:    "golang.org/x/text",
			Version: "v0.29.0",
			Sum:     "h1:1neNs90w9YzJ9BocxfsQNHKuAT4pkghyXc4nhZ6sJvk=",
		},
		{
			Path:    "gopkg.in/yaml.v3",
			Version: "v3.0.1",
			Sum:     "h1:fxVm/GzAzEWqLHuvctI91KS9hhNmmWOoWu0XTYJS7CA=",
			Replace: "github.com/example/yaml@v3.0.2-fork.1",
		},
	}
	// As go build records them under -trimpath: without -ldflags and
	// CGO_CFLAGS, which it leaves out because they may contain paths.
	settings := func(buildmode string) map[string]string {
		return map[string]string{
			"-buildmode":  buildmode,
			"-compiler":   "gc",
			"-tags":       "netgo,osusergo",
			"-trimpath":   "true",
			"CGO_ENABLED": "1",
			"GOARCH":      "amd64",
			"GOOS":        "linux",
			"GOAMD64":     "v1",
		}
	}
	deps := func() map[string]string {
		return map[string]string{
			"golang.org/x/text": "v0.29.0",
			"gopkg.in/yaml.v3":  "v3.0.2-fork.1",
		}
	}
	cabi := func(name, kind, file, header, loadedBy string, size int64, sum, hsum string, glibc []string) Artifact {
		return Artifact{
			Name: name, Kind: kind, File: file, Size: size, SHA256: sum, LoadedBy: loadedBy,
			BuildInfo: BuildInfo{GoVersion: "go1.24.4", Path: "example.com/app/nbd", Main: "example.com/app", Deps: deps(), Settings: settings(kind)},
			Packages:  map[string]string{},
			Header:    &Header{File: header, Size: 1534, SHA256: hsum},
			CSymbols:  []string{"plugin_open", "plugin_init", "pb_data"},
			GLIBC:     glibc,
		}
	}
	return &Manifest{
		SchemaVersion: SchemaVersion,
		ABIKey:        ABIKey(tc, b, mods),
		Toolchain:     tc,
		Build:         b,
		Modules:       mods,
		Artifacts: []Artifact{
			cabi("nbd", KindCShared, "lib/nbd.so", "lib/nbd.h", "a C host, with dlopen (not Go)", 2031616,
				"a3c0fd6bb28f4c8f1e7a6a2d7b1f0e5b9a1c2d3e4f5061728394a5b6c7d8e9f0", "4f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8",
				[]string{"GLIBC_2.34", "GLIBC_2.2.5", "GLIBC_2.3.2"}),
			cabi("nbdstatic", KindCArchive, "lib/nbdstatic.a", "lib/nbdstatic.h", "a C program's link (not Go)", 4157188,
				"b4d1e07cc39f5d9f2f8b7b3e8c2f1f6cab2d3e4f5061728394a5b6c7d8e9f001", "5a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809",
				nil),
			{
				Name:       "hello",
				LoadedBy:   "a Go host, with plugin.Open",
				Kind:       KindPlugin,
				File:       "plugins/hello.so",
				Size:       3404800,
				SHA256:     "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
				PluginPath: "example.com/app/plugins/hello",
				BuildInfo: BuildInfo{
					GoVersion: "go1.24.4",
					Path:      "example.com/app/plugins/hello",
					Main:      "example.com/app/plugins/hello",
					Deps:      deps(),
					Settings:  settings("plugin"),
				},
				Packages: map[string]string{
					"example.com/app/api":        "5e2b8c0a1f3d4e6b",
					"fmt":                        "a1b2c3d4e5f60718",
					"golang.org/x/text/language": "0f1e2d3c4b5a6978",
					"runtime":                    "9a8b7c6d5e4f3021",
				},
			},
			{
				Name:     "app",
				LoadedBy: "the system: it is the executable",
				Kind:     KindHost,
				File:     "app",
				Size:     5242880,
				SHA256:   "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9",
				BuildInfo: BuildInfo{
					GoVersion: "go1.24.4",
					Path:      "example.com/app",
					Main:      "example.com/app",
					Deps:      deps(),
					Settings:  settings("exe"),
				},
				Packages: map[string]string{
					"example.com/app/api": "5e2b8c0a1f3d4e6b",
					"fmt":                 "a1b2c3d4e5f60718",
					"plugin":              "7766554433221100",
					"runtime":             "9a8b7c6d5e4f3021",
				},
			},
		},
	}
}

// testManifestV1 is testManifest as schema version 1 has it: without
// C-ABI libraries, toolchain packages and what version 2 added to the
// artifacts.
func testManifestV1() *Manifest {
	m := testManifest()
	m.SchemaVersion = MinSchemaVersion
	m.Toolchain.Packages = nil
	var arts []Artifact
	for _, a := range m.Artifacts {
		if IsCABI(a.Kind) {
			continue
		}
		a.LoadedBy = ""
		arts = append(arts, a)
	}
	m.Artifacts = arts
	return m
}

func writeBytes(t *testing.T, m *Manifest) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, m); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	got := writeBytes(t, testManifest())
	if *update {
		if err := os.MkdirAll(filepath.Dir(goldenFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", goldenFile)
	}
	want, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatalf("%v (run go test ./manifests -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Write output differs from %s (run go test ./manifests -update if intended)\ngot:\n%s", goldenFile, got)
	}
	if !bytes.HasSuffix(got, []byte("}\n")) || bytes.HasSuffix(got, []byte("\n\n")) {
		t.Errorf("output does not end in exactly one newline")
	}
	if !bytes.Contains(got, []byte("\n  \"toolchain\": {\n    \"go\": ")) {
		t.Errorf("output is not indented with two spaces")
	}
}

func TestGoldenReadFile(t *testing.T) {
	m, err := ReadFile(context.Background(), goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, mustCanonical(t, testManifest())) {
		t.Errorf("ReadFile(golden) differs from the test manifest")
	}
	if got := ABIKey(m.Toolchain, m.Build, m.Modules); got != m.ABIKey {
		t.Errorf("golden abiKey %s, recomputed %s", m.ABIKey, got)
	}
}

// TestGoldenV1: a manifest of schema version 1 is read as it is (the
// version kept, LoadedBy empty), validates against the version 1 schema,
// and is written as version 2, which reads back as the same manifest.
func TestGoldenV1(t *testing.T) {
	data, err := os.ReadFile(goldenV1File)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Read(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Read(v1 golden): %v", err)
	}
	want := mustCanonical(t, testManifestV1())
	want.SchemaVersion = MinSchemaVersion
	if !reflect.DeepEqual(m, want) {
		t.Errorf("Read(v1 golden) = %+v\nwant %+v", m, want)
	}
	if m.SchemaVersion != 1 {
		t.Errorf("schemaVersion %d, want 1 as read", m.SchemaVersion)
	}
	if got := ABIKey(m.Toolchain, m.Build, m.Modules); got != m.ABIKey {
		t.Errorf("v1 golden abiKey %s, recomputed %s", m.ABIKey, got)
	}
	out := writeBytes(t, m)
	if !bytes.Contains(out, []byte(`"schemaVersion": 2,`)) || !bytes.Contains(out, []byte(`"loadedBy": ""`)) {
		t.Errorf("Write of a v1 manifest is not a v2 one:\n%s", out)
	}
	m2, err := Read(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("Read(Write(v1)): %v", err)
	}
	m.SchemaVersion = SchemaVersion
	if !reflect.DeepEqual(m2, mustCanonical(t, m)) {
		t.Errorf("Read(Write(v1)) = %+v", m2)
	}
	root := loadSchemaBytes(t, schemaV1JSON)
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, e := range validate(root, root, doc, "#") {
		t.Errorf("v1 golden against the v1 schema: %s", e)
	}
}

func mustCanonical(t *testing.T, m *Manifest) *Manifest {
	t.Helper()
	c, err := canonical(m)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRoundTrip(t *testing.T) {
	orig := testManifest()
	data := writeBytes(t, orig)
	m, err := Read(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if want := mustCanonical(t, testManifest()); !reflect.DeepEqual(m, want) {
		t.Errorf("Read(Write(m)) != canonical(m)\ngot:  %+v\nwant: %+v", m, want)
	}
	if again := writeBytes(t, m); !bytes.Equal(again, data) {
		t.Errorf("Write(Read(Write(m))) differs from Write(m)")
	}
}

func TestRoundTripEmpty(t *testing.T) {
	// The smallest valid manifest: an ABI key and a platform, nothing else.
	tc := Toolchain{GOOS: "linux", GOARCH: "amd64"}
	data := writeBytes(t, &Manifest{ABIKey: ABIKey(tc, Build{}, nil), Toolchain: tc})
	for _, want := range []string{`"schemaVersion": 2`, `"flags": []`, `"tags": []`, `"env": {}`, `"modules": []`, `"artifacts": []`} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("output lacks %s:\n%s", want, data)
		}
	}
	if bytes.Contains(data, []byte("null")) {
		t.Errorf("output contains null:\n%s", data)
	}
	m, err := Read(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if m.Build.Tags == nil || m.Build.Flags == nil || m.Build.Env == nil || m.Modules == nil || m.Artifacts == nil {
		t.Errorf("Read left nil slices or maps: %+v", m)
	}
}

func TestWriteOrderIndependent(t *testing.T) {
	want := writeBytes(t, testManifest())

	m := testManifest()
	slices.Reverse(m.Modules)
	slices.Reverse(m.Artifacts)
	if got := writeBytes(t, m); !bytes.Equal(got, want) {
		t.Errorf("reversed input gives different output:\n%s", got)
	}

	// Hosts come first whatever their names; ties are broken deterministically.
	m = testManifest()
	for i := range m.Artifacts {
		if m.Artifacts[i].Kind == KindHost {
			m.Artifacts[i].Name = "zzz"
		}
	}
	m.Artifacts = append(m.Artifacts, Artifact{Name: "aaa", Kind: KindPlugin, File: "plugins/a1.so"}, Artifact{Name: "aaa", Kind: KindPlugin, File: "plugins/a0.so"})
	out1 := writeBytes(t, m)
	slices.Reverse(m.Artifacts)
	out2 := writeBytes(t, m)
	if !bytes.Equal(out1, out2) {
		t.Errorf("artifact order depends on input order")
	}
	// Two artifacts share a name, which Read refuses: look at the order only.
	var r Manifest
	if err := json.Unmarshal(out1, &r); err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, a := range r.Artifacts {
		order = append(order, a.Kind+":"+a.Name+":"+a.File)
	}
	wantOrder := []string{"host:zzz:app", "plugin:aaa:plugins/a0.so", "plugin:aaa:plugins/a1.so", "plugin:hello:plugins/hello.so",
		"c-shared:nbd:lib/nbd.so", "c-archive:nbdstatic:lib/nbdstatic.a"}
	if !slices.Equal(order, wantOrder) {
		t.Errorf("artifact order %q, want %q", order, wantOrder)
	}
}

func TestWriteNormalizesNil(t *testing.T) {
	a := testManifest()
	a.Build.Tags, a.Build.Env = nil, nil
	a.Artifacts[0].Packages = nil
	b := testManifest()
	b.Build.Tags, b.Build.Env = []string{}, map[string]string{}
	b.Artifacts[0].Packages = map[string]string{}
	if !bytes.Equal(writeBytes(t, a), writeBytes(t, b)) {
		t.Errorf("nil and empty slices/maps encode differently")
	}
}

func TestWriteDoesNotMutate(t *testing.T) {
	m := testManifest()
	slices.Reverse(m.Modules)
	m.Build.Tags = nil
	m.Artifacts[0].Packages = nil
	before := *m
	mods := slices.Clone(m.Modules)
	arts := slices.Clone(m.Artifacts)
	writeBytes(t, m)
	if !reflect.DeepEqual(*m, before) || !slices.EqualFunc(m.Modules, mods, func(a, b Module) bool { return a == b }) ||
		!reflect.DeepEqual(m.Artifacts, arts) {
		t.Errorf("Write modified its argument")
	}
	if m.Build.Tags != nil || m.Artifacts[0].Packages != nil {
		t.Errorf("Write replaced nil fields of its argument")
	}
}

func TestWriteSchemaVersion(t *testing.T) {
	m := testManifest()
	m.SchemaVersion = 0
	if got, want := writeBytes(t, m), writeBytes(t, testManifest()); !bytes.Equal(got, want) {
		t.Errorf("schemaVersion 0 not written as %d", SchemaVersion)
	}
	for _, v := range []int{-1, 3} {
		m.SchemaVersion = v
		if err := Write(&bytes.Buffer{}, m); err == nil || !strings.Contains(err.Error(), "schemaVersion") {
			t.Errorf("Write with schemaVersion %d: err = %v, want an error naming schemaVersion", v, err)
		}
	}
	// A manifest read from version 1 is written as version 2.
	v1 := testManifestV1()
	v2 := testManifestV1()
	v2.SchemaVersion = SchemaVersion
	if a, b := writeBytes(t, v1), writeBytes(t, v2); !bytes.Equal(a, b) {
		t.Errorf("schemaVersion 1 not written as %d:\n%s", SchemaVersion, a)
	}
	if err := Write(&bytes.Buffer{}, nil); err == nil {
		t.Errorf("Write(nil) succeeded")
	}
}

func TestReadStrict(t *testing.T) {
	golden := writeBytes(t, testManifest())
	type doc = map[string]any
	edit := func(f func(d doc)) string {
		var d doc
		if err := json.Unmarshal(golden, &d); err != nil {
			t.Fatal(err)
		}
		f(d)
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	artifact0 := func(d doc) doc { return d["artifacts"].([]any)[0].(doc) }
	// In the golden manifest artifacts[2] is the c-shared library nbd.
	library := func(d doc) doc { return d["artifacts"].([]any)[2].(doc) }

	tests := []struct {
		name    string
		doc     string
		wantErr string // substring; "" means success
	}{
		{"golden", string(golden), ""},
		{"optional fields absent", edit(func(d doc) {
			delete(d["toolchain"].(doc), "goamd64")
			delete(artifact0(d), "pluginpath")
		}), ""},
		{"unknown top-level field", edit(func(d doc) { d["extra"] = 1 }), `"extra"`},
		{"unknown nested field", edit(func(d doc) { artifact0(d)["buildInfo"].(doc)["extra"] = "x" }), `"extra"`},
		{"unknown module field", edit(func(d doc) { d["modules"].([]any)[0].(doc)["indirect"] = true }), `"indirect"`},
		{"field name in other case", edit(func(d doc) { d["AbiKey"] = d["abiKey"]; delete(d, "abiKey") }), "AbiKey"},
		{"missing schemaVersion", edit(func(d doc) { delete(d, "schemaVersion") }), "schemaVersion"},
		{"schemaVersion 3", edit(func(d doc) { d["schemaVersion"] = 3; d["newField"] = true }), "unsupported schemaVersion 3 (this pbuild reads 1 to 2)"},
		{"schemaVersion 1 with a v2 field", edit(func(d doc) {
			d["schemaVersion"] = 1
			delete(d["toolchain"].(doc), "packages")
			d["artifacts"] = d["artifacts"].([]any)[:2]
		}), `artifacts[0]: unknown field "loadedBy"`},
		{"schemaVersion 1 with toolchain packages", edit(func(d doc) { d["schemaVersion"] = 1 }), `toolchain: unknown field "packages"`},
		{"loadedBy missing", edit(func(d doc) { delete(artifact0(d), "loadedBy") }), `artifacts[0]: missing field "loadedBy"`},
		{"loadedBy empty", edit(func(d doc) { artifact0(d)["loadedBy"] = "" }), ""},
		{"header null", edit(func(d doc) { library(d)["header"] = nil }), "artifacts[2].header: null is not allowed"},
		{"header not an object", edit(func(d doc) { library(d)["header"] = "lib/nbd.h" }), "artifacts[2].header: want an object"},
		{"header missing sha256", edit(func(d doc) { delete(library(d)["header"].(doc), "sha256") }), `artifacts[2].header: missing field "sha256"`},
		{"header unknown field", edit(func(d doc) { library(d)["header"].(doc)["mode"] = 420 }), `artifacts[2].header: unknown field "mode"`},
		{"cSymbols null", edit(func(d doc) { library(d)["cSymbols"] = nil }), "artifacts[2].cSymbols: null is not allowed"},
		{"glibc not strings", edit(func(d doc) { library(d)["glibc"] = []any{2.34} }), "glibc"},
		{"optional v2 fields absent", edit(func(d doc) {
			delete(d["toolchain"].(doc), "packages")
			delete(library(d), "cSymbols")
			delete(library(d), "glibc")
		}), ""},
		{"schemaVersion 0", edit(func(d doc) { d["schemaVersion"] = 0 }), "schemaVersion"},
		{"schemaVersion string", edit(func(d doc) { d["schemaVersion"] = "1" }), "schemaVersion"},
		{"schemaVersion null", edit(func(d doc) { d["schemaVersion"] = nil }), "schemaVersion"},
		{"missing required field", edit(func(d doc) { delete(d["toolchain"].(doc), "cc") }), `"cc"`},
		{"missing artifacts", edit(func(d doc) { delete(d, "artifacts") }), `"artifacts"`},
		{"null tags", edit(func(d doc) { d["build"].(doc)["tags"] = nil }), "build.tags"},
		{"wrong type", edit(func(d doc) { artifact0(d)["size"] = "big" }), "size"},
		{"trailing data", string(golden) + "{}", "after"},
		{"not json", "schemaVersion: 1\n", "invalid"},
		{"array", "[]", "cannot unmarshal"},
		{"empty", "", "unexpected end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Read(strings.NewReader(tt.doc))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if m == nil {
					t.Fatal("Read returned nil manifest")
				}
				return
			}
			if err == nil {
				t.Fatalf("Read succeeded, want error containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Read error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadFile(context.Background(), filepath.Join(dir, FileName)); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile(missing) err = %v, want a not-exist error", err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"schemaVersion": 7}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(context.Background(), bad)
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "schemaVersion 7") {
		t.Errorf("ReadFile(bad) err = %v, want it to name the file and the version", err)
	}
}

func TestSchemaIsCopy(t *testing.T) {
	a := Schema()
	a[0] = 'X'
	if b := Schema(); b[0] == 'X' {
		t.Errorf("Schema returns a shared slice")
	}
}
