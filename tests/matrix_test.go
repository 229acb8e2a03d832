package tests

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/pbuild/pbuild/check"
	"github.com/pbuild/pbuild/internal/archive"
	"github.com/pbuild/pbuild/internal/container"
	"github.com/pbuild/pbuild/internal/dockerengine"
	"github.com/pbuild/pbuild/loader/abi"
	"github.com/pbuild/pbuild/plan"
	"github.com/pbuild/pbuild/toolchain"
)

// The skew matrix builds, for real and in pbuild's toolchain containers, a
// host and plugins that differ in one thing at a time (the toolchain patch
// release, a dependency version, -trimpath, a build tag, cgo, GOEXPERIMENT,
// GOAMD64, the pluginpath, a dependency only plugins share, the content of a
// replaced module), each once so that they still load and once so that they
// do not. For every variant three verdicts must agree, plugin by plugin:
// `pbuild check` (package check), the loader (the host opening the plugins
// through github.com/pbuild/pbuild/loader) and reality (the host calling
// plugin.Open in a process of its own, so that a fatal error cannot take the
// test down). The same run is the differential suite (differential_test.go):
// every variant and more scenarios in every load order. The project is
// tests/matrix.

const (
	matrixPin   = "1.24.4" // the toolchain pbuild pins
	matrixPatch = "1.24.3" // another patch release of it
	// matrixFatal is a release whose runtime lays out module data
	// otherwise: its plugins kill a go1.24 host.
	matrixFatal = "1.26.8"
	matrixBase  = "pbuild/base:bookworm"
)

// matrixToolchains are the toolchains the matrix builds with.
var matrixToolchains = []string{matrixPin, matrixPatch, matrixFatal}

// matrixArtifact is one file the matrix builds.
type matrixArtifact struct {
	id    string // file name in the output directory
	pkg   string // main package directory, relative to tests/matrix
	goVer string // toolchain; "" is the pin
	// tree is the checkout built from: "" the project, "copy" an identical
	// second checkout elsewhere, "edited" a second checkout whose api module
	// has one more function.
	tree       string
	env        []string // extra environment
	flags      []string // extra go build flags
	noTrimpath bool
	// work builds in the workspace tests/matrix/go.work (host, api,
	// plugins/b and the loader) instead of with the replaces of go.mod.
	work   bool
	copyOf string // not built: a copy of that artifact under another name
}

func (a matrixArtifact) plugin() bool { return strings.HasSuffix(a.id, ".so") }

func (a matrixArtifact) toolchain() string {
	if a.goVer == "" {
		return matrixPin
	}
	return a.goVer
}

// matrixArtifacts are every host and plugin the variants use.
func matrixArtifacts() []matrixArtifact {
	return []matrixArtifact{
		// As pbuild builds them.
		{id: "host", pkg: "host"},
		{id: "a.so", pkg: "plugins/a"},
		{id: "b.so", pkg: "plugins/b"},
		// Toolchain patch release.
		{id: "host-go1.24.3", pkg: "host", goVer: matrixPatch},
		{id: "a-go1.24.3.so", pkg: "plugins/a", goVer: matrixPatch},
		{id: "b-go1.24.3.so", pkg: "plugins/b", goVer: matrixPatch},
		// A dependency version: golang.org/x/sync v0.16.0 instead of v0.17.0.
		{id: "host-sync16", pkg: "host", flags: []string{"-modfile=go.sync16.mod"}},
		{id: "a-sync16.so", pkg: "plugins/a", flags: []string{"-modfile=go.sync16.mod"}},
		// -trimpath.
		{id: "host-notrim", pkg: "host", noTrimpath: true},
		{id: "a-notrim.so", pkg: "plugins/a", noTrimpath: true},
		// A build tag that changes the api package.
		{id: "host-tag", pkg: "host", flags: []string{"-tags=skewtag"}},
		{id: "a-tag.so", pkg: "plugins/a", flags: []string{"-tags=skewtag"}},
		// cgo.
		{id: "host-nocgo", pkg: "host", env: []string{"CGO_ENABLED=0"}},
		{id: "a-cflags-O1.so", pkg: "plugins/a", env: []string{"CGO_CFLAGS=-O1"}},
		{id: "a-cflags-wide.so", pkg: "plugins/a", env: []string{"CGO_CFLAGS=-O2 -g -DPBUILD_WIDE"}},
		// GOEXPERIMENT.
		{id: "host-noswissmap", pkg: "host", env: []string{"GOEXPERIMENT=noswissmap"}},
		{id: "a-noswissmap.so", pkg: "plugins/a", env: []string{"GOEXPERIMENT=noswissmap"}},
		// GOAMD64.
		{id: "host-v3", pkg: "host", env: []string{"GOAMD64=v3"}},
		{id: "a-v3.so", pkg: "plugins/a", env: []string{"GOAMD64=v3"}},
		// The same plugin installed twice.
		{id: "a-again.so", copyOf: "a.so"},
		// Plugins sharing golang.org/x/text, which the host does not import.
		{id: "texta.so", pkg: "plugins/texta"}, // v0.20.0
		{id: "texta-x21.so", pkg: "plugins/texta", flags: []string{"-modfile=go.x21.mod"}},
		{id: "textb.so", pkg: "plugins/textb"}, // v0.21.0
		// A replaced module (api => ../../api): another checkout, unchanged
		// and edited, under the same version.
		{id: "a-checkout2.so", pkg: "plugins/a", tree: "copy"},
		{id: "a-edited-api.so", pkg: "plugins/a", tree: "edited"},
		// Stripped (-ldflags=-s -w): no symbol table, so no
		// go:link.thispluginpath; x.pkg's path has a dot the linker escapes.
		{id: "a-stripped.so", pkg: "plugins/a", flags: []string{"-ldflags=-s -w"}},
		{id: "xpkg.so", pkg: "plugins/x.pkg"},
		{id: "xpkg-stripped.so", pkg: "plugins/x.pkg", flags: []string{"-ldflags=-s -w"}},
		// A plugin whose toolchain's runtime lays out module data otherwise.
		{id: "b-go1.26.so", pkg: "plugins/b", goVer: matrixFatal},
		// A workspace instead of directory replaces; a host linking none of
		// the shared packages; a plugin whose main module is api.
		{id: "host-ws", pkg: "host", work: true},
		{id: "b-ws.so", pkg: "plugins/b", work: true},
		{id: "host-min", pkg: "host", flags: []string{"-tags=minhost"}},
		{id: "apiplug.so", pkg: "api/plug"},
		{id: "apiplug-edited.so", pkg: "api/plug", tree: "edited"},
		// C functions: c1 and c2 both define pb_answer; all of c1, c2, c3
		// and the host define api/cshared's pb_shared; host-c defines
		// pb_answer too.
		{id: "c1.so", pkg: "plugins/c1"},
		{id: "c2.so", pkg: "plugins/c2"},
		{id: "c3.so", pkg: "plugins/c3"},
		{id: "host-c", pkg: "host", flags: []string{"-tags=hostc"}},
	}
}

// matrixLinks are made beside the built artifacts, and in the container
// the hosts run in: name -> the artifact it links to, symbolically
// ("-s") or as a hard link.
var matrixLinks = []struct{ name, target, kind string }{
	{"a-link.so", "a.so", "-s"},
	{"a-hard.so", "a.so", ""},
}

// matrixVariant is one row of the matrix: a host and plugins loaded in order.
type matrixVariant struct {
	dimension string
	compat    bool
	what      string // what differs
	host      string
	plugins   []string
	// observe: no expectation about the verdict, only agreement.
	observe bool
	// For an incompatible variant: the plugin that must fail, and why.
	fails   string
	kind    abi.Kind
	cause   abi.CauseKind
	subject string // the cause's subject, when set
	against string // the problem's Against (base name), when set
	// residue is a plugin that fails after the failing one only because
	// that one's packages stay in the process (the dynamic linker keeps a
	// failed plugin): check and plugin.Open must say it fails, against the
	// failing plugin, and the loader, which never opened the failing
	// plugin, must load it.
	residue string
}

func matrixVariants() []matrixVariant {
	return []matrixVariant{
		{dimension: "toolchain patch release", compat: true, what: "host and a with go1.24.3", host: "host-go1.24.3", plugins: []string{"a-go1.24.3.so"}},
		{dimension: "toolchain patch release", compat: true, what: "host go1.24.4, b go1.24.3 (no package b links changed)", host: "host", plugins: []string{"b-go1.24.3.so"}},
		{dimension: "toolchain patch release", what: "host go1.24.4, a go1.24.3 (runtime/debug changed)", host: "host", plugins: []string{"b.so", "a-go1.24.3.so"},
			fails: "a-go1.24.3.so", kind: abi.PackageMismatch, cause: abi.CauseToolchain},
		{dimension: "dependency version", compat: true, what: "host and a with x/sync v0.16.0", host: "host-sync16", plugins: []string{"a-sync16.so"}},
		{dimension: "dependency version", what: "host x/sync v0.17.0, a v0.16.0", host: "host", plugins: []string{"b.so", "a-sync16.so"},
			fails: "a-sync16.so", kind: abi.PackageMismatch, cause: abi.CauseDependency, subject: "golang.org/x/sync"},
		{dimension: "-trimpath", compat: true, what: "host and a without -trimpath", host: "host-notrim", plugins: []string{"a-notrim.so"}},
		{dimension: "-trimpath", what: "host -trimpath, a without", host: "host", plugins: []string{"b.so", "a-notrim.so"},
			fails: "a-notrim.so", kind: abi.PackageMismatch, cause: abi.CauseTrimpath},
		{dimension: "build tag", compat: true, what: "host and a with -tags=skewtag", host: "host-tag", plugins: []string{"a-tag.so"}},
		{dimension: "build tag", what: "a alone with -tags=skewtag", host: "host", plugins: []string{"b.so", "a-tag.so"},
			fails: "a-tag.so", kind: abi.PackageMismatch, cause: abi.CauseTags},
		{dimension: "CGO_ENABLED", compat: true, what: "host and plugins with CGO_ENABLED=1", host: "host", plugins: []string{"b.so", "a.so"}},
		{dimension: "CGO_ENABLED", what: "host with CGO_ENABLED=0", host: "host-nocgo", plugins: []string{"b.so"},
			fails: "b.so", kind: abi.HostCannotLoad},
		{dimension: "CGO_CFLAGS", compat: true, what: "a alone with CGO_CFLAGS=-O1", host: "host", plugins: []string{"b.so", "a-cflags-O1.so"}},
		{dimension: "CGO_CFLAGS", what: "a alone with -DPBUILD_WIDE (a C typedef)", host: "host", plugins: []string{"b.so", "a-cflags-wide.so"},
			fails: "a-cflags-wide.so", kind: abi.PackageMismatch, cause: abi.CauseSource, subject: "example.com/matrix/api"},
		{dimension: "GOEXPERIMENT", compat: true, what: "host and a with noswissmap", host: "host-noswissmap", plugins: []string{"a-noswissmap.so"}},
		{dimension: "GOEXPERIMENT", what: "a alone with noswissmap", host: "host", plugins: []string{"b.so", "a-noswissmap.so"},
			fails: "a-noswissmap.so", kind: abi.PackageMismatch, cause: abi.CauseGOEXPERIMENT},
		{dimension: "GOAMD64", compat: true, what: "host and a with v3", host: "host-v3", plugins: []string{"a-v3.so"}},
		{dimension: "GOAMD64", what: "host v1, a v3", host: "host", plugins: []string{"b.so", "a-v3.so"}, observe: true},
		{dimension: "duplicate pluginpath", compat: true, what: "a and b", host: "host", plugins: []string{"a.so", "b.so"}},
		{dimension: "duplicate pluginpath", what: "a, then a copy of it", host: "host", plugins: []string{"a.so", "a-again.so"},
			fails: "a-again.so", kind: abi.DuplicatePluginPath, against: "a.so"},
		{dimension: "plugin<->plugin dependency", compat: true, what: "texta and textb with x/text v0.21.0", host: "host", plugins: []string{"texta-x21.so", "textb.so"}},
		{dimension: "plugin<->plugin dependency", what: "texta x/text v0.20.0, textb v0.21.0", host: "host", plugins: []string{"texta.so", "textb.so"},
			fails: "textb.so", kind: abi.PackageMismatch, cause: abi.CauseDependency, subject: "golang.org/x/text", against: "texta.so"},
		{dimension: "replaced module content", compat: true, what: "a from a second checkout", host: "host", plugins: []string{"b.so", "a-checkout2.so"}},
		{dimension: "replaced module content", what: "a with an edited api, same version", host: "host", plugins: []string{"b.so", "a-edited-api.so"},
			fails: "a-edited-api.so", kind: abi.PackageMismatch, cause: abi.CauseSource, subject: "example.com/matrix/api"},
		{dimension: "failed-load residue", what: "a without -trimpath fails, then a", host: "host", plugins: []string{"a-notrim.so", "a.so"},
			fails: "a-notrim.so", kind: abi.PackageMismatch, cause: abi.CauseTrimpath, residue: "a.so"},
	}
}

func TestSkewMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("the skew matrix builds real toolchains, hosts and plugins")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	eng, goarch := matrixEngine(ctx, t)
	defer eng.Close()
	arts, variants := matrixArtifacts(), matrixVariants()
	if goarch != "amd64" {
		// GOAMD64 means nothing elsewhere.
		arts, variants = withoutGOAMD64(arts, variants)
	}

	// Toolchain images: the pin, another patch release of it, and a
	// release whose plugins kill a host of the pin.
	goEnv := matrixGoEnv()
	maker := &toolchain.Maker{Engine: eng, Project: "skew-matrix", Fetcher: &toolchain.Fetcher{
		Proxy:    goEnv["GOPROXY"],
		SumDB:    goEnv["GOSUMDB"],
		NoSumDB:  strings.Trim(goEnv["GONOSUMDB"]+","+goEnv["GOPRIVATE"], ","),
		CacheDir: matrixCacheDir(),
		HTTP:     http.DefaultClient,
	}}
	tcs := map[string]*toolchain.Toolchain{}
	for _, v := range matrixToolchains {
		t0 := time.Now()
		tc, err := maker.Ensure(ctx, toolchain.Spec{Go: v, Base: matrixBase, GOOS: "linux", GOARCH: goarch})
		if err != nil {
			t.Fatalf("toolchain %s: %v", v, err)
		}
		tcs[v] = tc
		t.Logf("toolchain %s: %s (%.0fs)", tc.Go, tc.Image, time.Since(t0).Seconds())
	}

	// Build every artifact, one container per toolchain, all at once.
	// PBUILD_MATRIX_OUT keeps them, to look at afterwards.
	out := os.Getenv("PBUILD_MATRIX_OUT")
	if out == "" {
		out = t.TempDir()
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(matrixToolchains))
	for i, v := range matrixToolchains {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = matrixBuild(ctx, eng, tcs[v], arts, goEnv, out)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("built %d artifacts (%.0fs)", len(arts), time.Since(t0).Seconds())

	if err := matrixMakeLinks(out); err != nil {
		t.Fatal(err)
	}

	// Every load order of every variant and scenario, raw and through the
	// loader, in a container without network on the glibc they were built
	// for.
	scenarios := diffScenarios(variants)
	var orders []matrixOrder
	for _, sc := range scenarios {
		orders = append(orders, sc.orders()...)
	}
	t0 = time.Now()
	execs, err := matrixRunAll(ctx, eng, tcs[matrixPin].Image, out, orders)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ran %d host processes (%.0fs)", 2*len(execs), time.Since(t0).Seconds())

	// The matrix: each variant in its order, with the expected cause.
	var rows []matrixRow
	agreeRows, agreeLoads, loads, expected := 0, 0, 0, 0
	for _, v := range variants {
		o := matrixOrder{host: v.host, plugins: v.plugins}
		r := matrixJudge(t, v, out, execs[o.key()].runs(v.plugins))
		rows = append(rows, r)
		if r.agree {
			agreeRows++
		}
		if r.unexpected == "" {
			expected++
		}
		agreeLoads += r.agreeLoads
		loads += len(v.plugins)
	}
	t.Logf("skew matrix (%s, toolchains %s, %.0fs):\n\n%s\n%d/%d variants agree (%d/%d plugin loads); %d/%d as expected, with the expected cause\n",
		goarch, strings.Join(matrixToolchains, ", "), time.Since(start).Seconds(),
		matrixTable(rows), agreeRows, len(variants), agreeLoads, loads, expected, len(variants))

	// The differential suite: every load order.
	fig := diffJudge(t, out, scenarios, execs)
	t.Logf("differential suite (%s, %.0fs):\n\n%s\n%s\n", goarch, time.Since(start).Seconds(), fig.table, fig.summary())
}

// matrixMakeLinks makes matrixLinks in dir, replacing what is there.
func matrixMakeLinks(dir string) error {
	for _, l := range matrixLinks {
		p := filepath.Join(dir, l.name)
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return err
		}
		var err error
		if l.kind == "-s" {
			err = os.Symlink(l.target, p)
		} else {
			err = os.Link(filepath.Join(dir, l.target), p)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// withoutGOAMD64 drops the GOAMD64 artifacts and variants.
func withoutGOAMD64(arts []matrixArtifact, variants []matrixVariant) ([]matrixArtifact, []matrixVariant) {
	var a []matrixArtifact
	for _, x := range arts {
		if !strings.HasSuffix(strings.TrimSuffix(x.id, ".so"), "-v3") {
			a = append(a, x)
		}
	}
	var v []matrixVariant
	for _, x := range variants {
		if x.dimension != "GOAMD64" {
			v = append(v, x)
		}
	}
	return a, v
}

// matrixEngine connects to the Docker engine and returns it with its
// architecture; without an engine the test is skipped, except under
// CI=true.
func matrixEngine(ctx context.Context, t *testing.T) (*dockerengine.Engine, string) {
	t.Helper()
	eng, err := dockerengine.New(client.FromEnv)
	var info dockerengine.Info
	if err == nil {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		info, err = eng.Info(pctx)
		cancel()
		if err != nil {
			eng.Close()
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Docker engine, and CI=true: the skew matrix must run in CI: %v", err)
		}
		t.Skipf("no Docker engine: %v", err)
	}
	if _, err := eng.ImageID(ctx, matrixBase); err != nil {
		eng.Close()
		t.Fatalf("base image %s: %v (make it with images/mkbase.sh %s)", matrixBase, err, matrixBase)
	}
	return eng, info.Arch
}

// matrixGoEnv is the module settings forwarded into the build containers:
// the environment's, else the go command's.
func matrixGoEnv() map[string]string {
	keys := []string{"GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GONOPROXY", "GOINSECURE"}
	out := map[string]string{}
	for _, k := range keys {
		if v, ok := os.LookupEnv(k); ok {
			out[k] = v
		}
	}
	if len(out) < len(keys) {
		if data, err := exec.Command("go", append([]string{"env"}, keys...)...).Output(); err == nil {
			for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
				if i >= len(keys) {
					break
				}
				if _, ok := out[keys[i]]; !ok && line != "" {
					out[keys[i]] = line
				}
			}
		}
	}
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"} {
		if v := os.Getenv(k); v != "" {
			out[k] = v
		}
	}
	return out
}

func matrixCacheDir() string { return pbuildCache() }

// matrixCABundle is the CA bundle to forward, as pbuild finds it.
func matrixCABundle() []byte {
	for _, p := range []string{os.Getenv("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"} {
		if p == "" {
			continue
		}
		if data, err := os.ReadFile(p); err == nil {
			return data
		}
	}
	return nil
}

// matrixScript is the shell script building the artifacts of one toolchain
// into /out.
func matrixScript(goVer string, arts []matrixArtifact) string {
	var b strings.Builder
	b.WriteString("set -eu\nmkdir -p /out\n")
	b.WriteString("cp -a /w /w-copy\n")
	b.WriteString("cp -a /w /w-edited\n")
	b.WriteString("printf '\\n// Edited is what changed under the same version.\\nfunc Edited() int { return 1 }\\n' >> /w-edited/tests/matrix/api/api.go\n")
	b.WriteString("printf 'go 1.24.0\\n\\nuse (\\n\\t./api\\n\\t./host\\n\\t./plugins/b\\n\\t../../loader\\n)\\n' > /w/tests/matrix/go.work\n")
	for _, a := range arts {
		if a.copyOf != "" || a.toolchain() != goVer {
			continue
		}
		root := "/w"
		if a.tree != "" {
			root = "/w-" + a.tree
		}
		args := []string{"go", "build", "-buildvcs=false"}
		if !a.noTrimpath {
			args = append(args, "-trimpath")
		}
		if a.plugin() {
			args = append(args, "-buildmode=plugin")
		}
		args = append(args, a.flags...)
		args = append(args, "-o", "/out/"+a.id, ".")
		fmt.Fprintf(&b, "echo '>>> %s' >&2\n", a.id)
		fmt.Fprintf(&b, "cd %s/tests/matrix/%s && env", root, a.pkg)
		env := a.env
		if a.work {
			env = append([]string{"GOWORK=" + root + "/tests/matrix/go.work"}, env...)
		}
		for _, kv := range env {
			fmt.Fprintf(&b, " %s", shellQuote(kv))
		}
		for _, arg := range args {
			fmt.Fprintf(&b, " %s", shellQuote(arg))
		}
		b.WriteString("\n")
	}
	for _, a := range arts {
		if a.copyOf == "" {
			continue
		}
		if src := matrixFind(arts, a.copyOf); src.toolchain() == goVer {
			fmt.Fprintf(&b, "cp /out/%s /out/%s\n", src.id, a.id)
		}
	}
	return b.String()
}

func matrixFind(arts []matrixArtifact, id string) matrixArtifact {
	for _, a := range arts {
		if a.id == id {
			return a
		}
	}
	panic("no artifact " + id)
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// matrixBuild builds the artifacts of one toolchain in one container and
// copies them to out.
func matrixBuild(ctx context.Context, eng container.Engine, tc *toolchain.Toolchain, arts []matrixArtifact, goEnv map[string]string, out string) error {
	goVer := strings.TrimPrefix(tc.Go, "go")
	env := []string{"GOTOOLCHAIN=local", "GOFLAGS=", "GOWORK=off", "GOTELEMETRY=off", "HOME=/root", "GOCACHE=/root/.cache/go-build", "CGO_ENABLED=1"}
	for k, v := range goEnv {
		env = append(env, k+"="+v)
	}
	ca := matrixCABundle()
	if ca != nil {
		env = append(env, "SSL_CERT_FILE="+plan.CABundlePath)
	}
	sort.Strings(env)
	repo := matrixRepo()
	var log bytes.Buffer
	err := container.Use(ctx, eng, container.Spec{
		Image:   tc.Image,
		Step:    "skew-matrix-build",
		Project: "skew-matrix",
		Env:     env,
		Network: true,
		Mounts: []container.Mount{
			{Volume: plan.ModCache, Target: "/go/pkg/mod"},
			{Volume: plan.GoCache, Target: "/root/.cache/go-build"},
		},
	}, func(c *container.Container) error {
		for _, dir := range []string{"tests/matrix", "loader"} {
			if err := matrixCopyDir(ctx, c, filepath.Join(repo, dir), "w/"+dir); err != nil {
				return err
			}
		}
		if ca != nil {
			if err := c.CopyTo(ctx, "/", matrixFileTar(plan.CABundlePath, ca)); err != nil {
				return err
			}
		}
		code, err := c.Exec(ctx, container.Exec{Cmd: []string{"sh", "-c", matrixScript(goVer, arts)}, Stdout: &log, Stderr: &log})
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("exit %d:\n%s", code, log.String())
		}
		rc, err := c.CopyFrom(ctx, "/out")
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = archive.Extract(ctx, rc, out, archive.ExtractOptions{Strip: "out", Overwrite: true})
		return err
	})
	if err != nil {
		return fmt.Errorf("build with %s: %w", tc.Go, err)
	}
	return nil
}

func matrixRepo() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// matrixCopyDir copies a local directory to dst (a slash path without the
// leading slash) in the container.
func matrixCopyDir(ctx context.Context, c *container.Container, dir, dst string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.WriteDir(ctx, pw, dir, dst)) }()
	err := c.CopyTo(ctx, "/", pr)
	pr.Close()
	return err
}

// matrixFileTar is a tar stream holding one file and its parent directories.
func matrixFileTar(name string, data []byte) io.Reader {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	parts := strings.Split(strings.TrimPrefix(name, "/"), "/")
	for i := 1; i < len(parts); i++ {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.Join(parts[:i], "/") + "/", Mode: 0o755})
	}
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.Join(parts, "/"), Mode: 0o644, Size: int64(len(data))})
	tw.Write(data)
	tw.Close()
	return &buf
}

// matrixOutcome is what a host process printed.
type matrixOutcome struct {
	ok     map[string]bool   // plugin -> opened
	errs   map[string]string // plugin -> error, or why the process ended
	code   int
	stderr string
}

func (o matrixOutcome) loads(p string) bool { return o.ok[p] }

// matrixRuns are the two runs of one variant.
type matrixRuns struct {
	raw, loader matrixOutcome
}

// parseOutcome reads the host's lines; plugins it never reported on failed
// with the process (a crash, or an exit before them).
func parseOutcome(plugins []string, stdout, stderr string, code int) matrixOutcome {
	o := matrixOutcome{ok: map[string]bool{}, errs: map[string]string{}, code: code, stderr: stderr}
	for _, line := range strings.Split(stdout, "\n") {
		switch {
		case strings.HasPrefix(line, "ok "):
			o.ok[filepath.Base(strings.TrimPrefix(line, "ok "))] = true
		case strings.HasPrefix(line, "fail "):
			file, msg, _ := strings.Cut(strings.TrimPrefix(line, "fail "), ": ")
			o.errs[filepath.Base(file)] = msg
		}
	}
	if code != 0 {
		why := fmt.Sprintf("process died (exit %d): %s", code, crashLine(stderr))
		for _, p := range plugins {
			if _, done := o.errs[p]; !done && !o.ok[p] {
				o.errs[p] = why
			}
		}
	}
	for _, p := range plugins {
		if _, done := o.errs[p]; !done && !o.ok[p] {
			o.errs[p] = "not reported"
		}
	}
	return o
}

// crashLine is the most telling line of a dead process's stderr.
func crashLine(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "fatal error:") || strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "SIG") {
			return l
		}
	}
	if len(lines) > 0 && lines[0] != "" {
		return lines[0]
	}
	return "no output"
}

// matrixRow is one judged variant.
type matrixRow struct {
	v          matrixVariant
	expected   string
	check      string
	loader     string
	raw        string
	agree      bool
	agreeLoads int
	unexpected string // how the verdicts missed the expectation, if they did
}

// matrixJudge compares the three verdicts of a variant and its
// expectation, reporting every disagreement as an error.
func matrixJudge(t *testing.T, v matrixVariant, out string, runs matrixRuns) matrixRow {
	t.Helper()
	row := matrixRow{v: v, agree: true}
	name := v.dimension + " (" + map[bool]string{true: "compatible", false: "skew"}[v.compat] + ")"
	errorf := func(format string, args ...any) {
		t.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	}
	unexpected := func(note string, format string, args ...any) {
		if row.unexpected == "" {
			row.unexpected = note
		}
		errorf(format, args...)
	}
	switch {
	case v.observe:
		row.expected = "observe"
	case v.compat:
		row.expected = "all load"
	case v.cause != "":
		row.expected = fmt.Sprintf("%s fails: %s", v.fails, v.cause)
	default:
		row.expected = fmt.Sprintf("%s fails: %s", v.fails, v.kind)
	}
	if v.residue != "" {
		row.expected += fmt.Sprintf("; %s fails against it, except in the loader", v.residue)
	}

	var paths []string
	for _, p := range v.plugins {
		paths = append(paths, filepath.Join(out, p))
	}
	res, err := check.Files(context.Background(), filepath.Join(out, v.host), paths, check.Options{})
	if err != nil {
		errorf("check: %v", err)
		row.agree = false
		row.check, row.loader, row.raw = "error", "-", "-"
		return row
	}
	var checkCells, loaderCells, rawCells []string
	for i, p := range v.plugins {
		l := res.Report.Loads[i]
		if !l.OK {
			checkCells = append(checkCells, fmt.Sprintf("✗ %s: %s", p, describeProblem(l.Problems[0])))
		}
		if !runs.loader.loads(p) {
			loaderCells = append(loaderCells, fmt.Sprintf("✗ %s: %s", p, loaderKind(runs.loader.errs[p])))
		}
		if !runs.raw.loads(p) {
			rawCells = append(rawCells, fmt.Sprintf("✗ %s: %s", p, shortRaw(runs.raw.errs[p])))
		}
		c, ld, r := l.OK, runs.loader.loads(p), runs.raw.loads(p)
		if p == v.residue {
			if !c && !r && ld {
				row.agreeLoads++
			} else {
				row.agree = false
				errorf("%s: check says %s, plugin.Open %s (both should fail), the loader %s (should load)\n\tcheck:       %s\n\tloader:      %s\n\tplugin.Open: %s",
					p, verdict(c), verdict(r), verdict(ld), checkDetail(l), runs.loader.errs[p], runs.raw.errs[p])
			}
			if len(l.Problems) > 0 && filepath.Base(l.Problems[0].Against) != v.fails {
				unexpected("want against "+v.fails, "%s: check says it must match %s, want %s", p, l.Problems[0].Against, v.fails)
			}
			continue
		}
		if c == ld && ld == r {
			row.agreeLoads++
		} else {
			row.agree = false
			errorf("%s: check says %s, the loader %s, plugin.Open %s\n\tcheck:       %s\n\tloader:      %s\n\tplugin.Open: %s",
				p, verdict(c), verdict(ld), verdict(r), checkDetail(l), runs.loader.errs[p], runs.raw.errs[p])
		}
		// Expectations.
		switch {
		case v.observe:
		case v.compat || p != v.fails:
			if !c || !ld || !r {
				unexpected("should load", "%s should load: check %s, loader %s, plugin.Open %s\n\tcheck:       %s\n\tloader:      %s\n\tplugin.Open: %s",
					p, verdict(c), verdict(ld), verdict(r), checkDetail(l), runs.loader.errs[p], runs.raw.errs[p])
			}
		default:
			if c || ld || r {
				unexpected("should fail", "%s should fail: check %s, loader %s, plugin.Open %s", p, verdict(c), verdict(ld), verdict(r))
			}
			if len(l.Problems) == 0 {
				continue
			}
			pr := l.Problems[0]
			if pr.Kind != v.kind {
				unexpected("want "+string(v.kind), "%s: check names problem %s, want %s: %s", p, pr.Kind, v.kind, pr.Summary())
			}
			if v.against != "" && filepath.Base(pr.Against) != v.against {
				unexpected("want against "+v.against, "%s: check says it must match %s, want %s", p, pr.Against, v.against)
			}
			if v.cause != "" {
				if len(pr.Causes) == 0 {
					unexpected("cause: want "+string(v.cause), "%s: check names no cause, want %s: %s", p, v.cause, pr.Summary())
				} else if c0 := pr.Causes[0]; c0.Kind != v.cause || (v.subject != "" && !strings.Contains(c0.Subject, v.subject)) {
					unexpected("cause: want "+string(v.cause), "%s: check names cause %s (%s), want %s (%s): %s", p, c0.Kind, c0.Subject, v.cause, v.subject, pr.Summary())
				}
			}
		}
	}
	row.check, row.loader, row.raw = cells(checkCells), cells(loaderCells), cells(rawCells)
	if runs.loader.code != 0 {
		row.loader += fmt.Sprintf(" (exit %d)", runs.loader.code)
	}
	if runs.raw.code != 0 {
		row.raw += fmt.Sprintf(" (exit %d)", runs.raw.code)
	}
	return row
}

func verdict(ok bool) string {
	if ok {
		return "loads"
	}
	return "fails"
}

func cells(c []string) string {
	if len(c) == 0 {
		return "✓ all load"
	}
	return strings.Join(c, "; ")
}

func checkDetail(l abi.Load) string {
	if l.OK {
		return "loads"
	}
	var s []string
	for _, p := range l.Problems {
		s = append(s, p.Summary())
	}
	return strings.Join(s, " | ")
}

// describeProblem is a problem's kind, or its first cause, briefly.
func describeProblem(p abi.Problem) string {
	if len(p.Causes) == 0 {
		if p.Against != "" {
			return fmt.Sprintf("%s (against %s)", p.Kind, filepath.Base(p.Against))
		}
		return string(p.Kind)
	}
	c := p.Causes[0]
	s := string(c.Kind)
	if c.Kind == abi.CauseSource {
		s += " (" + c.Subject + ")"
	} else {
		if subj := strings.TrimPrefix(c.Subject, "-"); !strings.EqualFold(subj, string(c.Kind)) && c.Kind != abi.CauseToolchain {
			s += " " + c.Subject
		}
		from := c.WantFrom
		if f, ok := strings.CutPrefix(from, "plugin "); ok {
			from = filepath.Base(f)
		}
		s += fmt.Sprintf(": plugin %s, %s %s", abi.Unset(c.Have), from, abi.Unset(c.Want))
	}
	if len(p.Causes) > 1 {
		s += fmt.Sprintf(" (+%d more)", len(p.Causes)-1)
	}
	return s
}

// loaderKind is the kind of a loader error the host printed.
func loaderKind(msg string) string {
	kind, _, ok := strings.Cut(msg, ": ")
	if ok && (kind == "refused" || kind == "open" || kind == "poisoned") {
		return kind
	}
	return msg
}

// shortRaw shortens plugin.Open's error.
func shortRaw(msg string) string {
	if _, rest, ok := strings.Cut(msg, "plugin was built with a different version of package "); ok {
		return "different version of package " + rest
	}
	if i := strings.Index(msg, "): "); i >= 0 && strings.HasPrefix(msg, "plugin.Open(") {
		return msg[i+3:]
	}
	return msg
}

// matrixTable renders the rows as a markdown table.
func matrixTable(rows []matrixRow) string {
	var b strings.Builder
	b.WriteString("| variant | expected | `pbuild check` (cause) | loader | `plugin.Open` | agree |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, r := range rows {
		kind := "skew"
		if r.v.compat {
			kind = "compatible"
		}
		agree := "✓"
		if !r.agree {
			agree = "✗"
		}
		if r.v.residue != "" && r.agree {
			agree += " (the loader by design)"
		}
		if r.unexpected != "" {
			agree += " (" + r.unexpected + ")"
		}
		fmt.Fprintf(&b, "| %s, %s: %s | %s | %s | %s | %s | %s |\n", r.v.dimension, kind, r.v.what, r.expected, r.check, r.loader, r.raw, agree)
	}
	return b.String()
}
