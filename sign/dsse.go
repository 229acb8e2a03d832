package sign

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Envelope is a DSSE v1 envelope
// (https://github.com/secure-systems-lab/dsse/blob/v1.0.0/envelope.md).
// Payload is the raw payload; it is base64 encoded in JSON.
type Envelope struct {
	PayloadType string      `json:"payloadType"`
	Payload     []byte      `json:"payload"`
	Signatures  []Signature `json:"signatures"`
}

// Signature is one signature of an envelope. Sig is base64 encoded in JSON.
type Signature struct {
	KeyID string `json:"keyid"`
	Sig   []byte `json:"sig"`
}

// PAE is DSSE's pre-authentication encoding, the bytes that are signed:
// "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in decimal.
func PAE(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(payload)))
	b.WriteByte(' ')
	b.Write(payload)
	return b.Bytes()
}

// NewEnvelope returns an envelope of payload, signed with key when key is
// not nil, else with no signatures.
func NewEnvelope(payloadType string, payload []byte, key ed25519.PrivateKey) (*Envelope, error) {
	env := &Envelope{PayloadType: payloadType, Payload: payload, Signatures: []Signature{}}
	if key == nil {
		return env, nil
	}
	id, err := KeyID(key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	env.Signatures = append(env.Signatures, Signature{KeyID: id, Sig: ed25519.Sign(key, PAE(payloadType, payload))})
	return env, nil
}

// Errors of Verify.
var (
	ErrUnsigned     = errors.New("the envelope carries no signature")
	ErrNoKeySig     = errors.New("no signature by this key")
	ErrBadSignature = errors.New("signature does not verify")
)

// Verify checks that a signature by pub (one whose keyid is pub's key ID,
// or empty) verifies over the envelope's PAE.
func (e *Envelope) Verify(pub ed25519.PublicKey) error {
	if len(e.Signatures) == 0 {
		return ErrUnsigned
	}
	id, err := KeyID(pub)
	if err != nil {
		return err
	}
	msg := PAE(e.PayloadType, e.Payload)
	tried := false
	for _, s := range e.Signatures {
		if s.KeyID != "" && s.KeyID != id {
			continue
		}
		tried = true
		if len(s.Sig) == ed25519.SignatureSize && ed25519.Verify(pub, msg, s.Sig) {
			return nil
		}
	}
	if !tried {
		return fmt.Errorf("%w (key id %s)", ErrNoKeySig, id)
	}
	return fmt.Errorf("%w with key %s", ErrBadSignature, id)
}

// Marshal encodes the envelope as indented JSON with a trailing newline.
func (e *Envelope) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ParseEnvelope decodes an envelope strictly: one JSON object, no unknown
// fields, base64 in its canonical form (so that every changed character
// changes the decoded bytes).
func ParseEnvelope(data []byte) (*Envelope, error) {
	var raw struct {
		PayloadType *string `json:"payloadType"`
		Payload     *string `json:"payload"`
		Signatures  []struct {
			KeyID string  `json:"keyid"`
			Sig   *string `json:"sig"`
		} `json:"signatures"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	if dec.More() {
		return nil, errors.New("envelope: data after the JSON object")
	}
	if raw.PayloadType == nil || raw.Payload == nil {
		return nil, errors.New(`envelope: missing "payloadType" or "payload"`)
	}
	payload, err := decodeBase64(*raw.Payload)
	if err != nil {
		return nil, fmt.Errorf("envelope: payload: %w", err)
	}
	env := &Envelope{PayloadType: *raw.PayloadType, Payload: payload, Signatures: []Signature{}}
	for i, s := range raw.Signatures {
		if s.Sig == nil {
			return nil, fmt.Errorf(`envelope: signature %d: missing "sig"`, i)
		}
		sig, err := decodeBase64(*s.Sig)
		if err != nil {
			return nil, fmt.Errorf("envelope: signature %d: %w", i, err)
		}
		env.Signatures = append(env.Signatures, Signature{KeyID: s.KeyID, Sig: sig})
	}
	return env, nil
}

// decodeBase64 accepts only canonical standard base64, which is what
// encoding/json writes for []byte.
func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, err
	}
	if base64.StdEncoding.EncodeToString(b) != s {
		return nil, errors.New("base64 is not canonical")
	}
	return b, nil
}
