package toolchain

import "fmt"

// FetchError is a failure to download or look up a toolchain module.
type FetchError struct {
	Module string
	Err    error
}

func (e *FetchError) Error() string { return fmt.Sprintf("fetch %s: %v", e.Module, e.Err) }
func (e *FetchError) Unwrap() error { return e.Err }

// Hint tells the user what to try.
func (e *FetchError) Hint() string {
	return "check GOPROXY and network access to it (and SSL_CERT_FILE behind a TLS-intercepting proxy), and that toolchain.go names a published Go release"
}

// ChecksumError is a toolchain zip whose hash is not the expected one. The
// downloaded file is deleted.
type ChecksumError struct {
	Module, Got, Want, Source string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("verify %s: checksum mismatch: downloaded %s, %s says %s", e.Module, e.Got, e.Source, e.Want)
}

// Hint tells the user what to try.
func (e *ChecksumError) Hint() string {
	return "do not use this toolchain: check toolchain.sum in the config and the module proxy you use"
}

// UnverifiableError is a toolchain that cannot be verified: no pinned hash
// and no checksum database.
type UnverifiableError struct {
	Module, Reason string
}

func (e *UnverifiableError) Error() string {
	return fmt.Sprintf("verify %s: %s", e.Module, e.Reason)
}

// Hint tells the user what to try.
func (e *UnverifiableError) Hint() string {
	return "pin the toolchain's h1 hash as toolchain.sum in the config, or enable the checksum database (GOSUMDB)"
}

// MismatchError is a toolchain image whose `go version` is not the pin.
type MismatchError struct {
	Image, Want, Got string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("toolchain image %s runs %q, want %s", e.Image, e.Got, e.Want)
}

// Hint tells the user what to try.
func (e *MismatchError) Hint() string {
	return "remove the image (docker rmi " + e.Image + ") and build again"
}
