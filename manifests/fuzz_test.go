package manifests

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

var writeSeeds = flag.Bool("seeds", false, "rewrite the seed corpus in testdata/fuzz/FuzzReadManifest")

// FuzzReadManifest feeds arbitrary bytes to Read: it must not panic, must
// return either a manifest or an error, and what it accepts must survive
// Write and Read again unchanged, in canonical form.
func FuzzReadManifest(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Read(bytes.NewReader(data))
		if err != nil {
			if m != nil {
				t.Fatalf("Read returned a manifest and an error: %v", err)
			}
			return
		}
		if m.Build.Flags == nil || m.Build.Tags == nil || m.Build.Env == nil || m.Modules == nil || m.Artifacts == nil {
			t.Fatalf("Read returned nil slices or maps: %+v", m)
		}
		// What Read accepts is valid, and no artifact's file leaves the
		// output directory.
		if err := m.Validate(); err != nil {
			t.Fatalf("Read accepted an invalid manifest: %v", err)
		}
		for _, a := range m.Artifacts {
			if !filepath.IsLocal(filepath.FromSlash(a.File)) || path.Clean(a.File) != a.File || strings.Contains(a.File, `\`) || a.File == FileName {
				t.Fatalf("Read accepted the artifact file %q", a.File)
			}
		}
		var first bytes.Buffer
		if err := Write(&first, m); err != nil {
			t.Fatalf("Write of a manifest Read accepted: %v", err)
		}
		m2, err := Read(bytes.NewReader(first.Bytes()))
		if err != nil {
			t.Fatalf("Read of Write's output: %v\n%s", err, first.Bytes())
		}
		c, err := canonical(m)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m2, c) {
			t.Fatalf("Write and Read changed the manifest:\nwas %+v\nnow %+v", c, m2)
		}
		var second bytes.Buffer
		if err := Write(&second, m2); err != nil || !bytes.Equal(first.Bytes(), second.Bytes()) {
			t.Fatalf("Write is not stable (%v):\n%s\n%s", err, first.Bytes(), second.Bytes())
		}
	})
}

// seedManifests are the seed corpus of FuzzReadManifest, by file name:
// the golden manifest, the smallest one, and near misses, with whether
// Read accepts each.
func seedManifests(t *testing.T) map[string]struct {
	data []byte
	ok   bool
} {
	golden, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	goldenV1, err := os.ReadFile(goldenV1File)
	if err != nil {
		t.Fatal(err)
	}
	zero := writeBytes(t, &Manifest{})
	tc := Toolchain{GOOS: "linux", GOARCH: "amd64"}
	empty := writeBytes(t, &Manifest{ABIKey: ABIKey(tc, Build{}, nil), Toolchain: tc})
	replace := func(old, new string) []byte {
		if !bytes.Contains(golden, []byte(old)) {
			t.Fatalf("the golden manifest has no %q", old)
		}
		return bytes.Replace(golden, []byte(old), []byte(new), 1)
	}
	return map[string]struct {
		data []byte
		ok   bool
	}{
		"golden":                   {golden, true},
		"empty":                    {empty, true},
		"compact":                  {[]byte(`{"schemaVersion":2,"abiKey":"sha256:` + strings.Repeat("0", 64) + `","toolchain":{"go":"","module":"","moduleSum":"","baseImage":"","baseImageID":"","image":"","imageID":"","goos":"linux","goarch":"amd64","cc":""},"build":{"flags":[],"tags":[],"ldflags":"","env":{}},"modules":[],"artifacts":[]}`), true},
		"zero":                     {zero, false},
		"file-escapes":             {replace(`"file": "plugins/hello.so"`, `"file": "../../etc/hostname"`), false},
		"file-absolute":            {replace(`"file": "plugins/hello.so"`, `"file": "/dev/zero"`), false},
		"file-unclean":             {replace(`"file": "plugins/hello.so"`, `"file": "plugins/./hello.so"`), false},
		"file-twice":               {replace(`"file": "plugins/hello.so"`, `"file": "app"`), false},
		"kind-unknown":             {replace(`"kind": "plugin"`, `"kind": "library"`), false},
		"sha256-short":             {replace(`"sha256": "2c26b46b`, `"sha256": "2c26b46`), false},
		"size-negative":            {replace(`"size": 3404800`, `"size": -3404800`), false},
		"unknown-field":            {replace(`"abiKey"`, `"abiKey2": 1, "abiKey"`), false},
		"wrong-case":               {replace(`"toolchain"`, `"Toolchain"`), false},
		"null":                     {replace(`"ldflags": "-s -w -X main.version=v1.4.0"`, `"ldflags": null`), false},
		"newer-version":            {replace(`"schemaVersion": 2`, `"schemaVersion": 3`), false},
		"version-1":                {goldenV1, true},
		"version-1-with-a-library": {bytes.Replace(golden, []byte(`"schemaVersion": 2`), []byte(`"schemaVersion": 1`), 1), false},
		"header-missing":           {replace(`"header": {`, `"header0": {`), false},
		"header-escapes":           {replace(`"file": "lib/nbd.h"`, `"file": "../nbd.h"`), false},
		"header-is-file":           {replace(`"file": "lib/nbd.h"`, `"file": "lib/nbd.so"`), false},
		"glibc-bad":                {replace(`"GLIBC_2.34"`, `"2.34"`), false},
		"packages-bad":             {replace(`"libnbd-dev=1.14.2-1"`, `"libnbd dev"`), false},
		"missing-field":            {replace(`"kind": "host",`, ``), false},
		"trailing-data":            {append(bytes.Clone(empty), "{}"...), false},
		"truncated":                {golden[:len(golden)/2], false},
		"size-as-float":            {replace(`"size": 5242880`, `"size": 5.5e6`), false},
		"version-as-text":          {replace(`"schemaVersion": 2`, `"schemaVersion": "2"`), false},
	}
}

// TestFuzzSeeds checks the committed seed corpus: every seed is there,
// and Read accepts or refuses each as it should. With -seeds it writes the
// corpus first.
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzReadManifest")
	for name, seed := range seedManifests(t) {
		p := filepath.Join(dir, name)
		if *writeSeeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(seed.data))), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%v (go test ./manifests -run TestFuzzSeeds -seeds writes the corpus)", err)
			continue
		}
		lit, _ := strings.CutPrefix(string(b), "go test fuzz v1\n[]byte(")
		lit, _ = strings.CutSuffix(lit, ")\n")
		data, err := strconv.Unquote(lit)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		_, err = Read(strings.NewReader(data))
		if (err == nil) != seed.ok {
			t.Errorf("seed %s: Read = %v, want ok %v", name, err, seed.ok)
		}
	}
}
