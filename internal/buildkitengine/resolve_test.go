package buildkitengine

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// resolveProject is a workspace over one module needing golang.org/x/text.
var resolveProject = map[string]string{
	"go.work":   "go 1.24.4\n\nuse ./r\n",
	"r/go.mod":  "module example.com/r\n\ngo 1.24\n\nrequire golang.org/x/text v0.21.0\n",
	"r/go.sum":  "golang.org/x/text v0.21.0 h1:zyQAAkrwaneQ066sspRyJaG9VNi/YJ1NfzcGB3hZ/qo=\ngolang.org/x/text v0.21.0/go.mod h1:4IBbMaMmOPCJ8SecivzSH54+73PCFmPWxNTLm+vZkEQ=\n",
	"r/main.go": "package main\n\nimport (\n\t\"golang.org/x/text/cases\"\n\t\"golang.org/x/text/language\"\n)\n\nfunc main() { println(cases.Title(language.English).String(\"hi\")) }\n",
}

// moduleEnv is the module proxy settings of this machine, as pbuild forwards
// them, and its CA bundle; the test is skipped when the proxy is unreachable.
func moduleEnv(t *testing.T) ([]string, []byte) {
	t.Helper()
	var env []string
	get := func(k string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		out, _ := exec.Command("go", "env", k).Output()
		return strings.TrimSpace(string(out))
	}
	for _, k := range []string{"GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"} {
		if v := get(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	proxy := strings.Split(get("GOPROXY"), ",")[0]
	if !strings.HasPrefix(proxy, "http") {
		t.Skipf("GOPROXY %q is not a URL: skipping the resolve test", proxy)
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get(strings.TrimSuffix(proxy, "/") + "/golang.org/x/text/@v/list")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("module proxy %s: %v", proxy, err)
		}
		t.Skipf("module proxy %s unreachable (%v): skipping", proxy, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	var ca []byte
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		if ca, err = os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
	}
	return env, ca
}

// TestDockerBuildKitResolveAndCompile runs the resolve step (network, module
// cache mount, CA bundle) and compiles its vendored result without network.
func TestDockerBuildKitResolveAndCompile(t *testing.T) {
	cli := needDocker(t)
	ref := toolchainImage(t, cli)
	env, ca := moduleEnv(t)
	c := dialDockerBK(t, cli)
	tc := ToolchainImage(ref, nil)
	stage := t.TempDir()
	writeFiles(t, stage, resolveProject)

	st, err := Resolve(tc, ResolveSpec{Source: Source(), Env: env, CABundle: ca})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	start := time.Now()
	res, err := Solve(context.Background(), c, st, solveOpts(t, out, map[string]string{SourceContext: stage}))
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	t.Logf("resolve in %v; steps: %v", time.Since(start).Round(time.Millisecond), stepNames(res))
	list, err := os.ReadFile(filepath.Join(out, BuildListFile))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(list)))
	found := false
	for {
		var m struct{ Path, Version string }
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("build list: %v", err)
		}
		found = found || (m.Path == "golang.org/x/text" && m.Version == "v0.21.0")
	}
	if !found {
		t.Errorf("build list lacks golang.org/x/text v0.21.0:\n%s", list)
	}
	for _, f := range []string{WorkSumFile, VendorDir + "/modules.txt", VendorDir + "/golang.org/x/text/cases/cases.go"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("resolve output: %v", err)
		}
	}

	// Into the staging directory, as the Docker backend copies them out.
	for _, f := range []string{WorkSumFile, VendorDir} {
		if err := os.Rename(filepath.Join(out, f), filepath.Join(stage, f)); err != nil {
			t.Fatal(err)
		}
	}
	cst, err := Compile(tc, CompileSpec{Source: Source(), Env: append([]string{"GOWORK=/src/go.work"}, tinyEnv...), Artifacts: []Artifact{{
		Name: "host r", Dir: "/src/r", Out: "/out/r",
		Args: []string{"go", "build", "-mod=vendor", "-trimpath", "-buildvcs=false", "-o", "/out/r", "."},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if _, err := Solve(context.Background(), c, cst, solveOpts(t, bin, map[string]string{SourceContext: stage})); err != nil {
		t.Fatalf("compile the vendored workspace: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(bin, "r")); err != nil || fi.Size() == 0 {
		t.Fatalf("artifact: %v", err)
	}
}

// TestDockerBuildKitResolveFailure names the failed step and keeps its output.
func TestDockerBuildKitResolveFailure(t *testing.T) {
	cli := needDocker(t)
	ref := toolchainImage(t, cli)
	c := dialDockerBK(t, cli)
	stage := t.TempDir()
	// A requirement no module cache can hold (the module cache mount keeps
	// what other builds downloaded), and GOPROXY=off: the failure must not
	// depend on the network or on the daemon's caches.
	broken := map[string]string{}
	for k, v := range resolveProject {
		broken[k] = v
	}
	broken["r/go.mod"] += "require example.invalid/nosuch v1.0.0\n"
	writeFiles(t, stage, broken)
	st, err := Resolve(ToolchainImage(ref, nil), ResolveSpec{Source: Source(), Env: []string{"GOPROXY=off"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Solve(context.Background(), c, st, SolveOptions{OutputDir: t.TempDir(), LocalDirs: map[string]string{SourceContext: stage}})
	var ee *ExecError
	if !errors.As(err, &ee) {
		t.Fatalf("error %T %v, want *ExecError", err, err)
	}
	if ee.Vertex != StepList || ee.ExitCode == 0 || !strings.Contains(ee.Output, "example.invalid/nosuch") {
		t.Fatalf("ExecError{%q, exit %d}, output %q", ee.Vertex, ee.ExitCode, ee.Output)
	}
	t.Logf("step %q failed with exit %d:\n%s", ee.Vertex, ee.ExitCode, ee.Output)
}
