// Package sign holds pbuild's release signing: ed25519 key pairs stored as
// PEM files (the private key as PKCS#8, mode 0600; the public key as PKIX),
// key IDs, and DSSE v1 envelopes signed over the pre-authentication encoding
// (PAE) of their payload type and payload.
//
// Ed25519 signatures are deterministic, so the same payload signed with the
// same key gives the same envelope, byte for byte.
package sign
