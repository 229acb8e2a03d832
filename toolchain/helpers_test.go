package toolchain

import (
	"testing"

	"github.com/pbuild/pbuild/internal/container/containertest"
)

const (
	testGo      = "1.24.4"
	testVersion = "v0.0.1-go1.24.4.linux-amd64"
	testZipPath = "/golang.org/toolchain/@v/v0.0.1-go1.24.4.linux-amd64.zip"
	testModule  = "golang.org/toolchain@v0.0.1-go1.24.4.linux-amd64"
)

// toolchainFiles is a tiny GOROOT: two programs in bin, a tool, sources and
// a header.
var toolchainFiles = []containertest.ZipFile{
	{Name: "VERSION", Body: "go1.24.4\ntime 2025-06-05T17:33:03Z\n"},
	{Name: "bin/go", Body: "#!fake go binary\n"},
	{Name: "bin/gofmt", Body: "#!fake gofmt binary\n"},
	{Name: "pkg/tool/linux_amd64/compile", Body: "\x7fELF fake compiler"},
	{Name: "pkg/include/funcdata.h", Body: "// header\n"},
	{Name: "src/fmt/print.go", Body: "package fmt\n"},
}

// goodProxy serves the test toolchain at /good and returns it with its sum.
func goodProxy(t testing.TB) (p *containertest.Proxy, sum string) {
	data := containertest.ToolchainZip(t, testVersion, toolchainFiles)
	p = containertest.NewProxy(t)
	p.Serve("/good"+testZipPath, data)
	return p, containertest.ZipSum(t, data)
}
