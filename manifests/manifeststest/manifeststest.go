// Package manifeststest builds real artifacts for tests: a small C-ABI
// library (-buildmode=c-shared and c-archive, with their C headers), the
// same source as a Go plugin, and a Go host that can load plugins, with
// the machine's go command.
package manifeststest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// Exports are the C symbols the library exports: two //export functions,
// a global C function and a global C variable of its cgo code.
var Exports = []string{"pb_c_visible", "pb_data", "plugin_init", "plugin_open"}

// Artifacts are the files Build made, absolute paths.
type Artifacts struct {
	Dir            string // holding all of them
	CShared        string // libnbd.so
	CSharedHeader  string // libnbd.h
	CArchive       string // libnbdstatic.a
	CArchiveHeader string // libnbdstatic.h
	Plugin         string // nbdplugin.so: the library's source, -buildmode=plugin
	Host           string // host: imports plugin
}

var librarySource = map[string]string{
	"lib/go.mod": "module example.com/nbd\n\ngo 1.22\n",
	"lib/main.go": `package main

/*
int pb_c_visible(int x);
*/
import "C"

//export plugin_init
func plugin_init() C.int { return 0 }

//export plugin_open
func plugin_open(x C.int) C.int { return C.pb_c_visible(x) }

func main() {}
`,
	"lib/vis.c":    "static int helper(int x) { return x + 1; }\nint pb_c_visible(int x) { return helper(x) * 2; }\nint pb_data = 3;\n",
	"host/go.mod":  "module example.com/host\n\ngo 1.22\n",
	"host/main.go": "package main\n\nimport (\n\t\"os\"\n\t\"plugin\"\n)\n\nfunc main() { plugin.Open(os.Args[1]) }\n",
}

// Build builds the artifacts into a temporary directory of t. It skips
// the test in -short mode, off linux, and without go or gcc (cgo builds
// C-ABI libraries).
func Build(t testing.TB) *Artifacts {
	t.Helper()
	if testing.Short() {
		t.Skip("builds C-ABI libraries and a plugin")
	}
	if runtime.GOOS != "linux" {
		t.Skip("C-ABI libraries and plugins are tested on linux")
	}
	for _, tool := range []string{"go", "gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s: cgo is needed to build C-ABI libraries and plugins", tool)
		}
	}
	root := t.TempDir()
	src, tmp, out := filepath.Join(root, "src"), filepath.Join(root, "tmp"), filepath.Join(root, "out")
	for name, content := range librarySource {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{tmp, out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a := &Artifacts{
		Dir:            out,
		CShared:        filepath.Join(out, "libnbd.so"),
		CSharedHeader:  filepath.Join(out, "libnbd.h"),
		CArchive:       filepath.Join(out, "libnbdstatic.a"),
		CArchiveHeader: filepath.Join(out, "libnbdstatic.h"),
		Plugin:         filepath.Join(out, "nbdplugin.so"),
		Host:           filepath.Join(out, "host"),
	}
	builds := []struct {
		dir  string
		args []string
	}{
		{"lib", []string{"-buildmode=c-shared", "-o", a.CShared}},
		{"lib", []string{"-buildmode=c-archive", "-o", a.CArchive}},
		{"lib", []string{"-buildmode=plugin", "-o", a.Plugin}},
		{"host", []string{"-o", a.Host}},
	}
	errs := make([]error, len(builds))
	var wg sync.WaitGroup
	for i, b := range builds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command("go", append(append([]string{"build", "-trimpath"}, b.args...), ".")...)
			cmd.Dir = filepath.Join(src, b.dir)
			cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOWORK=off", "GOFLAGS=-mod=mod -buildvcs=false", "CGO_ENABLED=1", "GOPROXY=off", "TMPDIR="+tmp)
			if msg, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go build %v: %v\n%s", b.args, err, msg)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return a
}
