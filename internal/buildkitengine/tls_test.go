package buildkitengine

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/buildkit/client/llb"
)

// writeCert makes a key and a certificate signed by parent (self-signed
// when nil) and writes them as PEM files.
func writeCert(t *testing.T, dir, name string, tmpl *x509.Certificate, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+"-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// TestBuildkitdMutualTLS dials a buildkitd on tcp:// that demands client
// certificates: without them the dial fails, with them a solve exports.
func TestBuildkitdMutualTLS(t *testing.T) {
	certs := t.TempDir()
	now := time.Now()
	ca, caKey := writeCert(t, certs, "ca", &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pbuild test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}, nil, nil)
	writeCert(t, certs, "server", &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "buildkitd"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, ca, caKey)
	writeCert(t, certs, "client", &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "pbuild"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, caKey)
	p := func(n string) string { return filepath.Join(certs, n) }

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "tcp://" + l.Addr().String()
	l.Close()
	tlsOpt := WithTLS(p("ca.pem"), p("client.pem"), p("client-key.pem"), "")
	startBuildkitdAt(t, addr, []DialOption{tlsOpt},
		"--tlscacert", p("ca.pem"), "--tlscert", p("server.pem"), "--tlskey", p("server-key.pem"))
	ctx := context.Background()

	if c, err := Dial(ctx, addr, WithCheckTimeout(3*time.Second)); err == nil {
		c.Close()
		t.Error("dialled a TLS daemon without TLS")
	}
	if c, err := Dial(ctx, addr, WithTLS(p("ca.pem"), "", "", ""), WithCheckTimeout(3*time.Second)); err == nil {
		c.Close()
		t.Error("dialled a daemon demanding client certificates without one")
	}
	c, err := Dial(ctx, addr, tlsOpt)
	if err != nil {
		t.Fatalf("dial with mutual TLS: %v", err)
	}
	defer c.Close()
	out := t.TempDir()
	st := llb.Scratch().File(llb.Mkfile("/hello", 0o644, []byte("over mutual TLS\n")))
	if _, err := Solve(ctx, c, st, SolveOptions{OutputDir: out}); err != nil {
		t.Fatalf("solve: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "hello")); err != nil || string(b) != "over mutual TLS\n" {
		t.Fatalf("exported %q, %v", b, err)
	}
}
