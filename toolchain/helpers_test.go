package toolchain

import (
	"archive/zip"
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/dirhash"
)

const (
	testGo      = "1.24.4"
	testVersion = "v0.0.1-go1.24.4.linux-amd64"
	testZipPath = "/golang.org/toolchain/@v/v0.0.1-go1.24.4.linux-amd64.zip"
	testModule  = "golang.org/toolchain@v0.0.1-go1.24.4.linux-amd64"
)

// zipFile is one file of a toolchain module zip, named relative to GOROOT.
type zipFile struct {
	name, body string
}

// toolchainFiles is a tiny GOROOT: two programs in bin, a tool, sources and
// a header.
var toolchainFiles = []zipFile{
	{"VERSION", "go1.24.4\ntime 2025-06-05T17:33:03Z\n"},
	{"bin/go", "#!fake go binary\n"},
	{"bin/gofmt", "#!fake gofmt binary\n"},
	{"pkg/tool/linux_amd64/compile", "\x7fELF fake compiler"},
	{"pkg/include/funcdata.h", "// header\n"},
	{"src/fmt/print.go", "package fmt\n"},
}

// makeZip returns a module zip of files for golang.org/toolchain@version.
func makeZip(t testing.TB, version string, fs []zipFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range fs {
		w, err := zw.Create(ModulePath + "@" + version + "/" + f.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zipSum is the h1 hash of a zip, computed by x/mod as the go command does.
func zipSum(t testing.TB, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.zip")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := dirhash.HashZip(p, dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// proxy is a module proxy serving fixed responses and counting requests.
type proxy struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string
	routes   map[string]http.Handler
}

func newProxy(t testing.TB) *proxy {
	p := &proxy{routes: map[string]http.Handler{}}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests = append(p.requests, r.URL.Path)
		p.mu.Unlock()
		// The longest matching prefix wins, whatever the map's order.
		var best string
		for prefix := range p.routes {
			if strings.HasPrefix(r.URL.Path, prefix) && len(prefix) > len(best) {
				best = prefix
			}
		}
		if best == "" {
			http.NotFound(w, r)
			return
		}
		p.routes[best].ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// serve makes the proxy answer every path below prefix with data.
func (p *proxy) serve(prefix string, data []byte) {
	p.routes[prefix] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(data) })
}

// status makes the proxy answer every path below prefix with code.
func (p *proxy) status(prefix string, code int) {
	p.routes[prefix] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, http.StatusText(code), code)
	})
}

func (p *proxy) count(prefix string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.requests {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

func (p *proxy) total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.requests)
}

// goodProxy serves the test toolchain at /good and returns it with its sum.
func goodProxy(t testing.TB) (p *proxy, sum string) {
	data := makeZip(t, testVersion, toolchainFiles)
	p = newProxy(t)
	p.serve("/good"+testZipPath, data)
	return p, zipSum(t, data)
}
