// Package containertest is test support for the packages that run work in
// containers (builder, resolve, toolchain). It is imported only by tests.
//
// Fake is a container.Engine that runs nothing: it records every call and
// answers Exec and CopyFrom from what the test configured, so each test
// keeps its own simulation of the commands it expects (the go command's
// output, a go build) as an OnExec function. FakeImages adds the image
// methods toolchain.Engine needs. Tar, ReadTar and WriteFiles build and read
// the tar streams and file trees the fakes exchange, and Proxy is a module
// proxy serving made-up golang.org/toolchain zips (ToolchainZip, ZipSum).
//
// The package imports internal/container only, so that the internal tests of
// the packages above can use it without an import cycle.
package containertest
