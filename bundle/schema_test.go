package bundle

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"google.golang.org/protobuf/encoding/protojson"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"

	"github.com/pbuild/pbuild/sign"
)

// moduleDir is where the go command keeps a module of the build list.
func moduleDir(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", path).Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", path, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		t.Fatalf("go list -m %s: the module is not downloaded", path)
	}
	return dir
}

// TestSBOMSchema validates the SBOM against the CycloneDX 1.5 JSON schema
// published in the cyclonedx-go module, with the SPDX and JSF schemas it
// refers to from the same directory.
func TestSBOMSchema(t *testing.T) {
	dir := filepath.Join(moduleDir(t, "github.com/CycloneDX/cyclonedx-go"), "schema")
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for url, file := range map[string]string{
		"http://cyclonedx.org/schema/bom-1.5.schema.json":  "bom-1.5.schema.json",
		"http://cyclonedx.org/schema/spdx.schema.json":     "spdx.schema.json",
		"http://cyclonedx.org/schema/jsf-0.82.schema.json": "jsf-0.82.schemax.json", // so named in the module
	} {
		f, err := os.Open(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if err := c.AddResource(url, doc); err != nil {
			t.Fatal(err)
		}
	}
	schema, err := c.Compile("http://cyclonedx.org/schema/bom-1.5.schema.json")
	if err != nil {
		t.Fatal(err)
	}

	res, _ := newBundle(t)
	data := mustRead(t, res.SBOM)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Errorf("the SBOM does not validate:\n%v", err)
	}

	// The schema is not vacuous here: a bad hash fails.
	bad, _ := jsonschema.UnmarshalJSON(bytes.NewReader(bytes.Replace(data, []byte(`"alg": "SHA-256"`), []byte(`"alg": "sha256"`), 1)))
	if schema.Validate(bad) == nil {
		t.Errorf("an SBOM with a bad hash algorithm validates")
	}

	// What the SBOM says, beyond its shape.
	var bom struct {
		SerialNumber string `json:"serialNumber"`
		Metadata     struct {
			Timestamp string
			Component struct {
				Name, Version string
				Hashes        []struct{ Content string }
			}
		}
		Components []struct {
			Type, Name, Version, Purl string
			Hashes                    []struct{ Alg, Content string }
			Properties                []struct{ Name, Value string }
		}
	}
	if err := json.Unmarshal(data, &bom); err != nil {
		t.Fatal(err)
	}
	if bom.SerialNumber != SerialNumber(res.SHA256) || bom.Metadata.Timestamp != "2025-06-01T12:30:00Z" ||
		bom.Metadata.Component.Name != "app" || bom.Metadata.Component.Version != "1.2.0" || bom.Metadata.Component.Hashes[0].Content != res.SHA256 {
		t.Errorf("metadata: serial %s, %+v", bom.SerialNumber, bom.Metadata)
	}
	got := map[string]string{}
	for _, c := range bom.Components {
		got[c.Name] = c.Type + " " + c.Version + " " + c.Purl
		if c.Type == "file" && (len(c.Hashes) != 1 || c.Hashes[0].Alg != "SHA-256") {
			t.Errorf("%s: hashes %+v", c.Name, c.Hashes)
		}
	}
	for name, want := range map[string]string{
		"app":                      "file  ",
		"plugins/hello.so":         "file  ",
		"example.com/app/api":      "library (local) pkg:golang/example.com/app/api",
		"golang.org/x/text":        "library v0.21.0 pkg:golang/golang.org/x/text@v0.21.0",
		"github.com/docker/docker": "library v28.5.2+incompatible pkg:golang/github.com/docker/docker@v28.5.2%2Bincompatible",
		"golang.org/toolchain":     "library v0.0.1-go1.24.4.linux-amd64 pkg:golang/golang.org/toolchain@v0.0.1-go1.24.4.linux-amd64",
	} {
		if got[name] != want {
			t.Errorf("component %s: %q, want %q", name, got[name], want)
		}
	}
	if n := len(bom.Components); n != 3+6+1 {
		t.Errorf("%d components, want 10: 3 artifacts, 6 modules, the toolchain", n)
	}
}

// TestProvenance checks the attestation with the in-toto attestation
// module's own types and validators.
func TestProvenance(t *testing.T) {
	res, _ := newBundle(t)
	env, err := sign.ParseEnvelope(mustRead(t, res.Attestation))
	if err != nil {
		t.Fatal(err)
	}
	if env.PayloadType != "application/vnd.in-toto+json" || len(env.Signatures) != 1 || env.Signatures[0].KeyID != res.KeyID {
		t.Errorf("envelope: type %q, signatures %+v", env.PayloadType, env.Signatures)
	}
	if err := env.Verify(testKey(1).Public().(ed25519.PublicKey)); err != nil {
		t.Errorf("signature: %v", err)
	}

	var st intoto.Statement
	if err := protojson.Unmarshal(env.Payload, &st); err != nil {
		t.Fatalf("the payload is not an in-toto Statement: %v", err)
	}
	if err := st.Validate(); err != nil {
		t.Fatalf("Statement.Validate: %v", err)
	}
	if st.GetPredicateType() != "https://slsa.dev/provenance/v1" {
		t.Errorf("predicateType %q", st.GetPredicateType())
	}
	subjects := map[string]string{}
	for _, s := range st.GetSubject() {
		subjects[s.GetName()] = s.GetDigest()["sha256"]
	}
	if subjects["app_1.2.0_linux_amd64.tar.gz"] != res.SHA256 || subjects["app_1.2.0_linux_amd64.cdx.json"] != sha256Hex(mustRead(t, res.SBOM)) || len(subjects) != 6 {
		t.Errorf("subjects %v", subjects)
	}
	if subjects["app_1.2.0_linux_amd64/plugins/hello.so"] != testManifest().Artifacts[1].SHA256 {
		t.Errorf("subject plugins/hello.so: %v", subjects)
	}

	pred, err := protojson.Marshal(st.GetPredicate())
	if err != nil {
		t.Fatal(err)
	}
	var prov slsa.Provenance
	if err := protojson.Unmarshal(pred, &prov); err != nil {
		t.Fatalf("the predicate is not SLSA provenance v1: %v", err)
	}
	if err := prov.Validate(); err != nil {
		t.Fatalf("Provenance.Validate: %v", err)
	}
	bd := prov.GetBuildDefinition()
	if bd.GetBuildType() != BuildType || prov.GetRunDetails().GetBuilder().GetId() != BuilderIDPrefix+"v0.9.0" {
		t.Errorf("buildType %q, builder %q", bd.GetBuildType(), prov.GetRunDetails().GetBuilder().GetId())
	}
	ext := bd.GetExternalParameters().AsMap()
	if ext["name"] != "app" || ext["version"] != "1.2.0" || ext["config"] != "pbuild.yaml" {
		t.Errorf("externalParameters %v", ext)
	}
	in := bd.GetInternalParameters().AsMap()
	for _, k := range []string{"abiKey", "toolchainImage", "toolchainImageID", "flags", "tags", "env", "ldflags"} {
		if _, ok := in[k]; !ok {
			t.Errorf("internalParameters lacks %s: %v", k, in)
		}
	}
	deps := map[string]map[string]string{}
	for _, rd := range bd.GetResolvedDependencies() {
		deps[rd.GetUri()+rd.GetName()] = rd.GetDigest()
		for alg := range rd.GetDigest() {
			if _, known := intoto.HashAlgorithms[alg]; !known {
				t.Errorf("%s: digest algorithm %q is not one of the spec's", rd.GetUri(), alg)
			}
		}
	}
	for uri, want := range map[string]string{
		// h1:zyQAAkrwaneQ066sspRyJaG9VNi/YJ1NfzcGB3hZ/qo= in hex
		"pkg:golang/golang.org/x/text@v0.21.0":                        "cf2400024af06a7790d3aeacb2947225a1bd54d8bf609d4d7f3706077859feaa",
		"pkg:golang/golang.org/toolchain@v0.0.1-go1.24.4.linux-amd64": "9e6e08979a72a53faf101d543d8e1efabd69ff41e846bff68e38fe7706fc2a10",
		"pkg:golang/example.com/app/api":                              "",
	} {
		d, ok := deps[uri]
		if !ok || want != "" && d["dirHash"] != want || len(d) != 1 {
			t.Errorf("resolved dependency %s: %v (present %v)", uri, d, ok)
		}
	}
	if d := deps["pbuild/base:bookworm"]; d["sha256"] != "b7f59db1dc6b2014fc86bcf69170fa26bcf9608ade5d6a8778775227d8921f51" {
		t.Errorf("base image: %v", d)
	}
	if len(deps) != 2+6 {
		t.Errorf("%d resolved dependencies, want 8: the toolchain, the base image, 6 modules", len(deps))
	}
}
