package sign

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// PEM block types of the key files.
const (
	privateKeyType = "PRIVATE KEY"
	publicKeyType  = "PUBLIC KEY"
)

// KeyFiles names the two files of a key pair made from a prefix.
func KeyFiles(prefix string) (private, public string) {
	return prefix + ".key", prefix + ".pub"
}

// ExistsError is a key file that is already there: keys are never
// overwritten.
type ExistsError struct {
	Path string
}

func (e *ExistsError) Error() string {
	return fmt.Sprintf("keygen: %s already exists; refusing to overwrite a key", e.Path)
}

// Hint tells the user what to do.
func (e *ExistsError) Hint() string {
	return "keep the existing key pair, or choose another prefix with --out PREFIX (a lost or replaced key cannot verify earlier releases)"
}

// WriteKeyPair makes a new ed25519 key pair from rand and writes it to
// PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (PKIX PEM). It refuses,
// writing nothing, when either file exists. A missing directory is made
// (mode 0700). It returns the key ID.
func WriteKeyPair(prefix string, rand io.Reader) (keyID string, err error) {
	privPath, pubPath := KeyFiles(prefix)
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", &ExistsError{Path: p}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("keygen: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(privPath), 0o700); err != nil {
		return "", fmt.Errorf("keygen: %w", err)
	}
	pub, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return "", fmt.Errorf("keygen: %w", err)
	}
	privPEM, err := EncodePrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("keygen: %w", err)
	}
	pubPEM, err := EncodePublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("keygen: %w", err)
	}
	if err := writeNew(privPath, privPEM, 0o600); err != nil {
		return "", err
	}
	if err := writeNew(pubPath, pubPEM, 0o644); err != nil {
		os.Remove(privPath)
		return "", err
	}
	return KeyID(pub)
}

// writeNew creates path, failing if it exists, and writes data to it.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return &ExistsError{Path: path}
	}
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(path, mode) // the umask may have narrowed it
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("keygen: %w", err)
	}
	return nil
}

// EncodePrivateKey returns key as a PKCS#8 "PRIVATE KEY" PEM block.
func EncodePrivateKey(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: privateKeyType, Bytes: der}), nil
}

// EncodePublicKey returns key as a PKIX "PUBLIC KEY" PEM block.
func EncodePublicKey(key ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: publicKeyType, Bytes: der}), nil
}

// ParsePrivateKey reads an ed25519 private key from a PKCS#8 PEM block.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	der, err := onePEM(data, privateKeyType)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key: %T is not an ed25519 key", k)
	}
	return ek, nil
}

// ParsePublicKey reads an ed25519 public key from a PKIX PEM block.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	der, err := onePEM(data, publicKeyType)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("public key: %T is not an ed25519 key", k)
	}
	return ek, nil
}

func onePEM(data []byte, typ string) ([]byte, error) {
	block, rest := pem.Decode(data)
	switch {
	case block == nil:
		return nil, fmt.Errorf("no PEM %q block", typ)
	case block.Type != typ:
		return nil, fmt.Errorf("PEM block is %q, want %q", block.Type, typ)
	case len(block.Headers) > 0:
		return nil, fmt.Errorf("PEM %q block has headers", typ)
	case len(bytes.TrimSpace(rest)) > 0:
		return nil, fmt.Errorf("data after the PEM %q block", typ)
	}
	return block.Bytes, nil
}

// ReadPrivateKeyFile reads a private key file written by WriteKeyPair.
func ReadPrivateKeyFile(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ReadPublicKeyFile reads a public key file written by WriteKeyPair.
func ReadPublicKeyFile(path string) (ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// KeyID is the lowercase hex sha256 of the public key's PKIX DER encoding.
func KeyID(pub ed25519.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:]), nil
}
