package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/sign"
)

// newLibBundle bundles a test dist with C-ABI libraries into a new
// directory; name "" names it after the host.
func newLibBundle(t *testing.T, m *manifests.Manifest, name string) (*Result, []byte) {
	t.Helper()
	dist := writeDist(t, m)
	opts := testOptions(t.TempDir())
	opts.Name = name
	res, err := Create(context.Background(), dist, opts)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return res, mustRead(t, filepath.Join(dist, manifests.FileName))
}

// TestBundleLibraries: a bundle holds every C-ABI library and its header,
// with sensible modes; the attestation and the SBOM list them with their
// kinds; verify checks the headers like the artifacts; the manifest of
// schema version 2 comes out as it went in.
func TestBundleLibraries(t *testing.T) {
	res, manifestData := newLibBundle(t, testLibManifest(), "")

	// The archive: every file, the headers and the c-archive not
	// executable.
	f, err := os.Open(res.Archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	modes := map[string]int64{}
	var inArchive []byte
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(hdr.Name, res.Base+"/")
		modes[name] = hdr.Mode
		if name == manifests.FileName {
			if inArchive, err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	wantModes := map[string]int64{
		"": 0o755, "app": 0o755, "plugins/": 0o755, "plugins/hello.so": 0o755, "plugins/shout.so": 0o755, manifests.FileName: 0o644,
		"lib/": 0o755, "lib/nbd.so": 0o755, "lib/nbd.h": 0o644, "lib/nbdstatic.a": 0o644, "lib/nbdstatic.h": 0o644,
	}
	if !reflect.DeepEqual(modes, wantModes) {
		t.Errorf("entries and modes %v\nwant %v", modes, wantModes)
	}
	// The manifest round-trips: the dist's bytes, read back as version 2
	// with its headers.
	if !bytes.Equal(inArchive, manifestData) {
		t.Errorf("the archive's manifest differs from the dist's")
	}
	back, err := manifests.Read(bytes.NewReader(inArchive))
	if err != nil {
		t.Fatal(err)
	}
	if back.SchemaVersion != manifests.SchemaVersion || back.Artifacts[3].Header == nil || back.Artifacts[3].Header.File != "lib/nbdstatic.h" {
		t.Errorf("manifest read back: version %d, %+v", back.SchemaVersion, back.Artifacts[3])
	}

	// The attestation: every artifact and header, with its kind.
	env, err := sign.ParseEnvelope(mustRead(t, res.Attestation))
	if err != nil {
		t.Fatal(err)
	}
	var st Statement
	if err := json.Unmarshal(env.Payload, &st); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, s := range st.Subject {
		if k, ok := s.Annotations["kind"].(string); ok {
			kinds[strings.TrimPrefix(s.Name, res.Base+"/")] = k
		}
		if strings.HasSuffix(s.Name, "/lib/nbd.h") && (s.Annotations["headerOf"] != "lib/nbd.so" || s.Annotations["name"] != "nbd" || s.Digest["sha256"] != sha256Hex([]byte(testFiles["lib/nbd.h"]))) {
			t.Errorf("header subject %+v", s)
		}
	}
	wantKinds := map[string]string{"app": "host", "plugins/hello.so": "plugin", "plugins/shout.so": "plugin", "lib/nbd.so": "c-shared",
		"lib/nbd.h": "c-header", "lib/nbdstatic.a": "c-archive", "lib/nbdstatic.h": "c-header"}
	if !reflect.DeepEqual(kinds, wantKinds) || len(st.Subject) != 3+7 {
		t.Errorf("subjects' kinds %v (%d subjects), want %v", kinds, len(st.Subject), wantKinds)
	}

	// The SBOM: the same files, the libraries' facts as properties.
	var bom struct {
		Components []struct {
			Type, Name string
			Properties []struct{ Name, Value string }
		}
		Dependencies []struct {
			Ref       string
			DependsOn []string
		}
	}
	if err := json.Unmarshal(mustRead(t, res.SBOM), &bom); err != nil {
		t.Fatal(err)
	}
	props := map[string]map[string]string{}
	for _, c := range bom.Components {
		if c.Type != "file" {
			continue
		}
		props[c.Name] = map[string]string{}
		for _, p := range c.Properties {
			props[c.Name][p.Name] = p.Value
		}
	}
	if len(props) != 7 {
		t.Errorf("%d file components, want 7: %v", len(props), props)
	}
	for file, want := range map[string]map[string]string{
		"lib/nbd.so": {"pbuild:kind": "c-shared", "pbuild:name": "nbd", "pbuild:loadedBy": "a C host, with dlopen (not Go)", "pbuild:header": "lib/nbd.h",
			"pbuild:cSymbols": "plugin_init,plugin_open", "pbuild:glibc": "GLIBC_2.2.5,GLIBC_2.34"},
		"lib/nbdstatic.a": {"pbuild:kind": "c-archive", "pbuild:name": "nbdstatic", "pbuild:loadedBy": "a C program's link (not Go)", "pbuild:header": "lib/nbdstatic.h",
			"pbuild:cSymbols": "plugin_init,plugin_open"},
		"lib/nbd.h":        {"pbuild:kind": "c-header", "pbuild:name": "nbd", "pbuild:headerOf": "lib/nbd.so"},
		"plugins/hello.so": {"pbuild:kind": "plugin", "pbuild:name": "hello", "pbuild:pluginpath": "example.com/app/plugins/hello"},
	} {
		if !reflect.DeepEqual(props[file], want) {
			t.Errorf("SBOM component %s: %v\nwant %v", file, props[file], want)
		}
	}
	deps := map[string][]string{}
	for _, d := range bom.Dependencies {
		deps[d.Ref] = d.DependsOn
	}
	if !reflect.DeepEqual(deps["artifact:lib/nbd.h"], []string{"artifact:lib/nbd.so"}) || len(deps["bundle:"+res.Base]) != 7 {
		t.Errorf("dependencies %v", deps)
	}

	// Verify checks the headers with the artifacts.
	rep, err := Verify(context.Background(), res.Archive, VerifyOptions{PublicKey: testKey(1).Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	for _, s := range rep.Steps {
		if s.Name == StepManifest && s.Detail != "5 artifacts and 2 C headers match pbuild.manifest.json, nothing else in the archive" {
			t.Errorf("manifest step: %q", s.Detail)
		}
	}
	if rep.Manifest == nil || len(rep.Manifest.Artifacts) != 5 {
		t.Errorf("report manifest %+v", rep.Manifest)
	}
}

// TestBundleLibrariesOnly: a bundle of C-ABI libraries alone (no host,
// nothing Go loads them) needs a name, and verifies; plugins without a
// host are refused.
func TestBundleLibrariesOnly(t *testing.T) {
	m := testLibManifest()
	m.Artifacts = m.Artifacts[3:]
	dist := writeDist(t, m)
	opts := testOptions(t.TempDir())
	var ie *InputError
	if _, err := Create(context.Background(), dist, opts); !errors.As(err, &ie) || !strings.Contains(err.Error(), "lists no host to name the bundle after: name it with --name") {
		t.Errorf("Create without a name = %v", err)
	}
	opts.Name = "nbd"
	res, err := Create(context.Background(), dist, opts)
	if err != nil || res.Base != "nbd_1.2.0_linux_amd64" {
		t.Fatalf("Create = %+v, %v", res, err)
	}
	called := false
	rep, err := Verify(context.Background(), res.Archive, VerifyOptions{Check: func(ctx context.Context, dir string, m *manifests.Manifest) (string, error) {
		called = len(m.Artifacts) == 2
		return "fine", nil
	}})
	if err != nil || !rep.OK || !called {
		t.Errorf("Verify = %v, called %v", err, called)
	}

	// Plugins without a host are refused, as before.
	m = testManifest()
	m.Artifacts = m.Artifacts[1:]
	opts.Name = "plugins"
	if _, err := Create(context.Background(), writeDist(t, m), opts); !errors.As(err, &ie) || !strings.Contains(err.Error(), "lists 2 plugins and no host") {
		t.Errorf("Create of plugins without a host = %v", err)
	}
}

// TestBundleLibrarySBOMSchema validates the SBOM of a bundle with C-ABI
// libraries and headers against the CycloneDX 1.5 schema.
func TestBundleLibrarySBOMSchema(t *testing.T) {
	dir := filepath.Join(moduleDir(t, "github.com/CycloneDX/cyclonedx-go"), "schema")
	c := jsonschema.NewCompiler()
	for url, file := range map[string]string{
		"http://cyclonedx.org/schema/bom-1.5.schema.json":  "bom-1.5.schema.json",
		"http://cyclonedx.org/schema/spdx.schema.json":     "spdx.schema.json",
		"http://cyclonedx.org/schema/jsf-0.82.schema.json": "jsf-0.82.schemax.json",
	} {
		f, err := os.Open(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource(url, doc); err != nil {
			t.Fatal(err)
		}
	}
	schema, err := c.Compile("http://cyclonedx.org/schema/bom-1.5.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	res, _ := newLibBundle(t, testLibManifest(), "")
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(mustRead(t, res.SBOM)))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Errorf("the SBOM does not validate:\n%v", err)
	}
}

// TestBundleHeaders: a header that differs from the manifest is refused
// by bundle and by verify, naming it.
func TestBundleHeaders(t *testing.T) {
	// In the dist: Create refuses, nothing is written.
	m := testLibManifest()
	dist := writeDist(t, m)
	if err := os.WriteFile(filepath.Join(dist, "lib", "nbd.h"), []byte("extern int evil(void);\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	var me *MismatchError
	if _, err := Create(context.Background(), dist, testOptions(out)); !errors.As(err, &me) || me.File != "lib/nbd.h" {
		t.Errorf("Create with a changed header = %v", err)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("Create wrote %v", entries)
	}
	os.Remove(filepath.Join(dist, "lib", "nbd.h"))
	if _, err := Create(context.Background(), dist, testOptions(out)); err == nil || !strings.Contains(err.Error(), "lib/nbd.h") {
		t.Errorf("Create without the header = %v", err)
	}

	key := testKey(1)
	pub := key.Public().(ed25519.PublicKey)
	for _, c := range []struct {
		name     string
		change   func(name string, data []byte) []byte
		contains string
	}{
		{"changed", func(name string, data []byte) []byte {
			if name == "lib/nbdstatic.h" {
				return []byte("extern int evil(void);\n")
			}
			return data
		}, "the manifest says"},
		{"missing", func(name string, data []byte) []byte {
			if name == "lib/nbdstatic.h" {
				return nil
			}
			return data
		}, "listed in the manifest but not in the archive"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, _ := newLibBundle(t, testLibManifest(), "")
			rewriteArchive(t, res, c.change)
			restate(t, res, key, func(st *Statement) { setSubject(st, filepath.Base(res.Archive), sha256Hex(mustRead(t, res.Archive))) })
			_, err := Verify(context.Background(), res.Archive, VerifyOptions{PublicKey: pub})
			var ve *VerifyError
			if !errors.As(err, &ve) || ve.Step != StepManifest || ve.File != res.Base+"/lib/nbdstatic.h" || !strings.Contains(err.Error(), c.contains) {
				t.Errorf("Verify = %v", err)
			}
		})
	}
	// The SBOM must list the headers too.
	res, _ := newLibBundle(t, testLibManifest(), "")
	sbom := mustRead(t, res.SBOM)
	var doc map[string]any
	if err := json.Unmarshal(sbom, &doc); err != nil {
		t.Fatal(err)
	}
	var kept []any
	for _, c := range doc["components"].([]any) {
		if c.(map[string]any)["name"] != "lib/nbd.h" {
			kept = append(kept, c)
		}
	}
	doc["components"] = kept
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(res.SBOM, data, 0o644); err != nil {
		t.Fatal(err)
	}
	restate(t, res, key, func(st *Statement) { setSubject(st, filepath.Base(res.SBOM), sha256Hex(data)) })
	var ve *VerifyError
	if _, err := Verify(context.Background(), res.Archive, VerifyOptions{PublicKey: pub}); !errors.As(err, &ve) || ve.Step != StepSBOM || !strings.Contains(err.Error(), `C header lib/nbd.h has sha256 ""`) {
		t.Errorf("Verify with a header missing from the SBOM = %v", err)
	}
}
