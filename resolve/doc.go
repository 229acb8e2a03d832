// Package resolve turns a host and its plugins into one Go workspace with one
// build list.
//
// Discover finds the module of every artifact and, through replace directives
// with local paths, every local module they use (a shared API module, say).
// Stage copies those modules into a staging directory laid out as they are on
// disk, without ever touching the user's files, and writes a go.work over all
// of them whose go line is the pinned toolchain's version. Resolve then runs
// `go list -m all` and `go work vendor` in the toolchain container (the only
// step that may use the network) and reports the build list with the h1 sum of
// every module, and each requirement that minimal version selection raised:
// "plugin hello asks golang.org/x/text v0.20.0, builds with v0.21.0".
package resolve
