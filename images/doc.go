// Package images holds the recipes of the images pbuild builds on:
//
//   - mkbase.sh makes the base image (a shell, gcc, libc headers and CA roots)
//     with debootstrap and `docker import`, with no registry at all;
//   - toolchain.Dockerfile adds one verified Go toolchain to that base;
//   - packages.Dockerfile adds Debian packages to a toolchain image: C cross
//     compilers, and packages a config pins.
//
// The Dockerfiles are embedded so the pbuild binary carries its recipes.
package images

import _ "embed"

//go:embed toolchain.Dockerfile
var toolchainDockerfile []byte

// ToolchainDockerfile returns the recipe of the toolchain image.
func ToolchainDockerfile() []byte {
	return append([]byte(nil), toolchainDockerfile...)
}

//go:embed packages.Dockerfile
var packagesDockerfile []byte

// PackagesDockerfile returns the recipe of a toolchain image with packages.
func PackagesDockerfile() []byte {
	return append([]byte(nil), packagesDockerfile...)
}
