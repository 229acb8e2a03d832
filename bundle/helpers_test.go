package bundle

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/sign"
)

// testFiles are the fake artifacts (and C headers) of the test dists.
var testFiles = map[string]string{
	"app":              "#!fake host\n",
	"plugins/hello.so": "fake plugin hello\n",
	"plugins/shout.so": "fake plugin shout, a little longer\n",
	"lib/nbd.so":       "fake c-shared library nbd\n",
	"lib/nbd.h":        "extern int plugin_init(void);\n",
	"lib/nbdstatic.a":  "!<arch>\nfake c-archive\n",
	"lib/nbdstatic.h":  "extern int plugin_init(void);\nextern int plugin_open(int);\n",
}

func fileSum(name string) (int64, string) {
	sum := sha256.Sum256([]byte(testFiles[name]))
	return int64(len(testFiles[name])), hex.EncodeToString(sum[:])
}

// testLibManifest is testManifest with C-ABI libraries beside the host
// and plugins: nbd (c-shared) and nbdstatic (c-archive), each with its
// header, as schema version 2 records them.
func testLibManifest() *manifests.Manifest {
	m := testManifest()
	lib := func(name, kind, file, header, loadedBy string) manifests.Artifact {
		size, sum := fileSum(file)
		hsize, hsum := fileSum(header)
		return manifests.Artifact{Name: name, Kind: kind, File: file, Size: size, SHA256: sum, LoadedBy: loadedBy,
			BuildInfo: manifests.BuildInfo{GoVersion: "go1.24.4", Path: "example.com/app/nbd", Main: "example.com/app/nbd",
				Deps: map[string]string{"golang.org/x/text": "v0.21.0"}, Settings: map[string]string{"-buildmode": kind, "CGO_ENABLED": "1"}},
			Packages: map[string]string{},
			Header:   &manifests.Header{File: header, Size: hsize, SHA256: hsum},
			CSymbols: []string{"plugin_init", "plugin_open"},
		}
	}
	shared := lib("nbd", manifests.KindCShared, "lib/nbd.so", "lib/nbd.h", "a C host, with dlopen (not Go)")
	shared.GLIBC = []string{"GLIBC_2.2.5", "GLIBC_2.34"}
	m.Artifacts = append(m.Artifacts, shared, lib("nbdstatic", manifests.KindCArchive, "lib/nbdstatic.a", "lib/nbdstatic.h", "a C program's link (not Go)"))
	m.Modules = append(m.Modules, manifests.Module{Path: "example.com/app/nbd", Sum: "h1:dNnPRrquk0oT7LMnXF9mXtbHgUocwFqBpgELy4ewN3w=", Local: true, Dir: "nbd"})
	m.ABIKey = manifests.ABIKey(m.Toolchain, m.Build, m.Modules)
	return m
}

// testManifest is a realistic manifest of testFiles.
func testManifest() *manifests.Manifest {
	tc := manifests.Toolchain{
		Go:          "go1.24.4",
		Module:      "golang.org/toolchain@v0.0.1-go1.24.4.linux-amd64",
		ModuleSum:   "h1:nm4Il5pypT+vEB1UPY4e+r1p/0HoRr/2jjj+dwb8KhA=",
		BaseImage:   "pbuild/base:bookworm",
		BaseImageID: "sha256:b7f59db1dc6b2014fc86bcf69170fa26bcf9608ade5d6a8778775227d8921f51",
		Image:       "pbuild/toolchain:go1.24.4-c6fb798b3da7",
		ImageID:     "sha256:14234540d06edcc9a6bc4ba299b3f4c7695e9123296bf485ee9276458254b05b",
		GOOS:        "linux",
		GOARCH:      "amd64",
		GOAMD64:     "v1",
		CC:          "cc (Debian 12.2.0-14+deb12u1) 12.2.0",
	}
	b := manifests.Build{Flags: []string{"-mod=vendor", "-trimpath", "-buildvcs=false"}, Env: map[string]string{"CGO_ENABLED": "1"}}
	mods := []manifests.Module{
		{Path: "example.com/app", Sum: "h1:dNnPRrquk0oT7LMnXF9mXtbHgUocwFqBpgELy4ewN3w=", Local: true, Dir: "."},
		{Path: "example.com/app/api", Sum: "h1:VZiZx5dF/6brF9nYhviJ5i7WYsNPR0Ag7eD7ZRWR42k=", Local: true, Dir: "api"},
		{Path: "example.com/app/plugins/hello", Sum: "h1:7mTCqTLzW0tgepCb5zei0LEi7XRCnmJYpTvvGxNIRGA=", Local: true, Dir: "plugins/hello"},
		{Path: "github.com/docker/docker", Version: "v28.5.2+incompatible", Sum: "h1:DBX0Y0zAjZbSrm1uzOkdr1onVghKaftjlSWt4AFexzM="},
		{Path: "golang.org/x/text", Version: "v0.21.0", Sum: "h1:zyQAAkrwaneQ066sspRyJaG9VNi/YJ1NfzcGB3hZ/qo="},
		{Path: "gopkg.in/yaml.v3", Version: "v3.0.1", Sum: "h1:fxVm/GzAzEWqLHuvctI91KS9hhNmmWOoWu0XTYJS7CA=", Replace: "github.com/example/yaml@v3.0.2"},
	}
	art := func(name, kind, file, main string) manifests.Artifact {
		sum := sha256.Sum256([]byte(testFiles[file]))
		a := manifests.Artifact{
			Name: name, Kind: kind, File: file, Size: int64(len(testFiles[file])), SHA256: hex.EncodeToString(sum[:]),
			BuildInfo: manifests.BuildInfo{GoVersion: "go1.24.4", Path: main, Main: main,
				Deps:     map[string]string{"example.com/app/api": "(devel)", "golang.org/x/text": "v0.21.0"},
				Settings: map[string]string{"-trimpath": "true", "CGO_ENABLED": "1"}},
			Packages: map[string]string{"runtime": "9a8b7c6d5e4f3021"},
		}
		if kind == manifests.KindPlugin {
			a.PluginPath = main
		}
		return a
	}
	return &manifests.Manifest{
		SchemaVersion: manifests.SchemaVersion,
		ABIKey:        manifests.ABIKey(tc, b, mods),
		Toolchain:     tc,
		Build:         b,
		Modules:       mods,
		Artifacts: []manifests.Artifact{
			art("app", manifests.KindHost, "app", "example.com/app"),
			art("hello", manifests.KindPlugin, "plugins/hello.so", "example.com/app/plugins/hello"),
			art("shout", manifests.KindPlugin, "plugins/shout.so", "example.com/app/plugins/shout"),
		},
	}
}

// writeDist writes a dist of m and the testFiles it lists into a new
// directory.
func writeDist(t *testing.T, m *manifests.Manifest) string {
	t.Helper()
	var buf bytes.Buffer
	if err := manifests.Write(&buf, m); err != nil {
		t.Fatal(err)
	}
	return writeDistBytes(t, m, buf.Bytes())
}

// writeDistBytes writes a dist of the testFiles m lists, with manifest as
// its manifest's bytes.
func writeDistBytes(t *testing.T, m *manifests.Manifest, manifest []byte) string {
	t.Helper()
	dist := filepath.Join(t.TempDir(), "dist")
	for _, f := range distFiles(m) {
		name, content := f.File, testFiles[f.File]
		p := filepath.Join(dist, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dist, manifests.FileName), manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	return dist
}

// v1Bytes is m as a pbuild of manifest schema version 1 wrote it (m has
// no C-ABI libraries and no toolchain packages).
func v1Bytes(t *testing.T, m *manifests.Manifest) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := manifests.Write(&buf, m); err != nil {
		t.Fatal(err)
	}
	data := bytes.Replace(buf.Bytes(), []byte(`"schemaVersion": 2,`), []byte(`"schemaVersion": 1,`), 1)
	data = bytes.ReplaceAll(data, []byte(",\n      \"loadedBy\": \"\""), nil)
	if back, err := manifests.Read(bytes.NewReader(data)); err != nil || back.SchemaVersion != 1 {
		t.Fatalf("not a version 1 manifest (%v):\n%s", err, data)
	}
	return data
}

// testKey is a fixed key, so signed bundles are comparable across runs.
func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func testOptions(out string) Options {
	return Options{
		Version: "1.2.0",
		OutDir:  out,
		Time:    time.Date(2025, 6, 1, 12, 30, 0, 0, time.UTC),
		Key:     testKey(1),
		Config:  "pbuild.yaml",
		Tool:    "v0.9.0",
	}
}

// newBundle bundles a fresh test dist into a new directory.
func newBundle(t *testing.T) (*Result, string) {
	t.Helper()
	out := t.TempDir()
	res, err := Create(context.Background(), writeDist(t, testManifest()), testOptions(out))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return res, out
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// flip changes one byte of a file, in its middle.
func flip(t *testing.T, p string) {
	t.Helper()
	b := mustRead(t, p)
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// reseal rewrites checksums.txt over the bundle's files as they are now,
// as someone who can replace every file would.
func reseal(t *testing.T, res *Result) {
	t.Helper()
	sums := Checksums{}
	for _, p := range []string{res.Archive, res.SBOM, res.Attestation} {
		sums[filepath.Base(p)] = sha256Hex(mustRead(t, p))
	}
	if err := os.WriteFile(res.Checksums, sums.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// restate changes the attestation's statement, signs it with key (nil:
// unsigned) and reseals.
func restate(t *testing.T, res *Result, key ed25519.PrivateKey, change func(*Statement)) {
	t.Helper()
	env, err := sign.ParseEnvelope(mustRead(t, res.Attestation))
	if err != nil {
		t.Fatal(err)
	}
	var st Statement
	if err := json.Unmarshal(env.Payload, &st); err != nil {
		t.Fatal(err)
	}
	change(&st)
	payload, err := json.Marshal(&st)
	if err != nil {
		t.Fatal(err)
	}
	env, err = sign.NewEnvelope(PayloadType, payload, key)
	if err != nil {
		t.Fatal(err)
	}
	data, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(res.Attestation, data, 0o644); err != nil {
		t.Fatal(err)
	}
	reseal(t, res)
}

func setSubject(st *Statement, name, sum string) {
	for i := range st.Subject {
		if st.Subject[i].Name == name {
			st.Subject[i].Digest["sha256"] = sum
		}
	}
}
