// Package images holds the recipes of the images pbuild builds on:
//
//   - mkbase.sh makes the base image (a shell, gcc, libc headers and CA roots)
//     with debootstrap and `docker import`, with no registry at all;
//   - toolchain.Dockerfile adds one verified Go toolchain to that base.
//
// The Dockerfile is embedded so the pbuild binary carries its own recipe.
package images

import _ "embed"

//go:embed toolchain.Dockerfile
var toolchainDockerfile []byte

// ToolchainDockerfile returns the recipe of the toolchain image.
func ToolchainDockerfile() []byte {
	return append([]byte(nil), toolchainDockerfile...)
}
