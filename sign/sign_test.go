package sign

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestPAE(t *testing.T) {
	// The example of the DSSE specification.
	got := string(PAE("http://example.com/HelloWorld", []byte("hello world")))
	if want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"; got != want {
		t.Errorf("PAE = %q, want %q", got, want)
	}
	if got := string(PAE("", nil)); got != "DSSEv1 0  0 " {
		t.Errorf("empty PAE = %q", got)
	}
}

func TestWriteKeyPair(t *testing.T) {
	prefix := filepath.Join(t.TempDir(), "release")
	id, err := WriteKeyPair(prefix, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privPath, pubPath := KeyFiles(prefix)
	fi, err := os.Stat(privPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("private key mode: %v, %v", fi.Mode(), err)
	}
	priv, err := ReadPrivateKeyFile(privPath)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ReadPublicKeyFile(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(priv.Public()) {
		t.Errorf("the public key is not the private key's")
	}
	if got, _ := KeyID(pub); got != id || len(id) != 64 {
		t.Errorf("key id %q, WriteKeyPair said %q", got, id)
	}
	pem := mustRead(t, privPath)
	if !bytes.HasPrefix(pem, []byte("-----BEGIN PRIVATE KEY-----\n")) {
		t.Errorf("private key file:\n%s", pem)
	}
	if !bytes.HasPrefix(mustRead(t, pubPath), []byte("-----BEGIN PUBLIC KEY-----\n")) {
		t.Errorf("public key file is not a PKIX PEM block")
	}

	// Never overwrite: neither when both exist nor when one does.
	_, err = WriteKeyPair(prefix, rand.Reader)
	var ee *ExistsError
	if !errors.As(err, &ee) || ee.Path != privPath || ee.Hint() == "" {
		t.Errorf("second WriteKeyPair = %v", err)
	}
	if !bytes.Equal(mustRead(t, privPath), pem) {
		t.Errorf("the private key was overwritten")
	}
	other := filepath.Join(t.TempDir(), "other")
	os.WriteFile(other+".pub", []byte("mine"), 0o644)
	if _, err := WriteKeyPair(other, rand.Reader); !errors.As(err, &ee) || ee.Path != other+".pub" {
		t.Errorf("WriteKeyPair over a .pub = %v", err)
	}
	if _, err := os.Stat(other + ".key"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a .key was written beside an existing .pub: %v", err)
	}
}

func TestParseKeys(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	privPEM, _ := EncodePrivateKey(priv)
	pubPEM, _ := EncodePublicKey(pub)
	for name, data := range map[string][]byte{
		"empty":             nil,
		"public as private": pubPEM,
		"trailing data":     append(bytes.Clone(privPEM), "junk"...),
		"garbage":           []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
	} {
		if _, err := ParsePrivateKey(data); err == nil {
			t.Errorf("ParsePrivateKey(%s) succeeded", name)
		}
	}
	if _, err := ParsePublicKey(privPEM); err == nil {
		t.Errorf("ParsePublicKey(a private key) succeeded")
	}
	if _, err := ParsePrivateKey(append(bytes.Clone(privPEM), "\n\n"...)); err != nil {
		t.Errorf("trailing blank lines: %v", err)
	}
}

func TestEnvelope(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	pub := key.Public().(ed25519.PublicKey)
	env, err := NewEnvelope("application/vnd.in-toto+json", []byte(`{"a":1}`), key)
	if err != nil {
		t.Fatal(err)
	}
	data, err := env.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := NewEnvelope("application/vnd.in-toto+json", []byte(`{"a":1}`), key)
	if data2, _ := again.Marshal(); !bytes.Equal(data, data2) {
		t.Errorf("signing twice gave different envelopes")
	}
	parsed, err := ParseEnvelope(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := parsed.Verify(pub); err != nil {
		t.Errorf("Verify: %v", err)
	}

	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32)).Public().(ed25519.PublicKey)
	if err := parsed.Verify(other); !errors.Is(err, ErrNoKeySig) {
		t.Errorf("Verify(other key) = %v", err)
	}
	parsed.Signatures[0].KeyID = "" // no hint: the signature is tried
	if err := parsed.Verify(other); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify(other key, no keyid) = %v", err)
	}
	parsed.Payload = []byte(`{"a":2}`)
	if err := parsed.Verify(pub); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify(changed payload) = %v", err)
	}
	unsigned, _ := NewEnvelope("t", []byte("x"), nil)
	if err := unsigned.Verify(pub); !errors.Is(err, ErrUnsigned) {
		t.Errorf("Verify(unsigned) = %v", err)
	}
	if u, _ := unsigned.Marshal(); !bytes.Contains(u, []byte(`"signatures": []`)) {
		t.Errorf("unsigned envelope:\n%s", u)
	}

	for name, bad := range map[string]string{
		"not json":          `{`,
		"unknown field":     `{"payloadType":"t","payload":"eA==","signatures":[],"x":1}`,
		"no payload":        `{"payloadType":"t","signatures":[]}`,
		"bad base64":        `{"payloadType":"t","payload":"e!==","signatures":[]}`,
		"non-canonical b64": `{"payloadType":"t","payload":"eB==","signatures":[]}`,
		"newline in b64":    `{"payloadType":"t","payload":"eA\n==","signatures":[]}`,
		"no sig":            `{"payloadType":"t","payload":"eA==","signatures":[{"keyid":"k"}]}`,
		"two objects":       `{"payloadType":"t","payload":"eA==","signatures":[]} {}`,
	} {
		if _, err := ParseEnvelope([]byte(bad)); err == nil {
			t.Errorf("ParseEnvelope(%s) succeeded", name)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
