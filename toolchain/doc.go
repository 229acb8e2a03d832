// Package toolchain makes the pinned Go toolchain image every pbuild step runs
// in.
//
// The toolchain is fetched as the module golang.org/toolchain (for example
// v0.0.1-go1.24.4.linux-amd64) through the Go module proxy, and its h1 hash is
// verified against the hash pinned in the config or, when none is pinned,
// against the Go checksum database (through golang.org/x/mod/sumdb, with the
// proxy's sumdb endpoint when it has one). The image is the configured base
// image plus that toolchain (images.ToolchainDockerfile); its tag is derived
// from the base image ID, the toolchain hash and the recipe, so an existing
// image is reused and a changed input makes a new one. Every use asserts that
// `go version` inside the image equals the pin.
package toolchain
