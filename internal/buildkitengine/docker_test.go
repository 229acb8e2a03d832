package buildkitengine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	dockerclient "github.com/docker/docker/client"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/util/progress/progressui"

	"github.com/pbuild/pbuild/internal/archive"
	"github.com/pbuild/pbuild/internal/container"
	"github.com/pbuild/pbuild/internal/dockerengine"

	"github.com/pbuild/pbuild/internal/progress"
)

// testGo is the toolchain the integration tests look for, by the label the
// toolchain maker puts on its images.
const testGo = "1.24.4"

// needDocker returns a client of the Docker engine named by the environment,
// or skips the test (fails it when CI=true) when there is none.
func needDocker(t *testing.T) *dockerclient.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping a test that needs the Docker engine")
	}
	cli, err := dockerclient.NewClientWithOpts(dockerclient.FromEnv, dockerclient.WithAPIVersionNegotiation())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = cli.Ping(ctx)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and the Docker engine is unreachable: %v", err)
		}
		t.Skipf("the Docker engine is unreachable (%v): skipping; set DOCKER_HOST, or CI=true to make this a failure", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// toolchainImage finds a local pbuild toolchain image for testGo.
func toolchainImage(t *testing.T, cli *dockerclient.Client) string {
	t.Helper()
	imgs, err := cli.ImageList(context.Background(), image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "org.pbuild.go="+testGo))})
	if err != nil {
		t.Fatalf("list images: %v", err)
	}
	for _, img := range imgs {
		for _, tag := range img.RepoTags {
			if strings.HasPrefix(tag, "pbuild/toolchain:") {
				return tag
			}
		}
	}
	msg := "no pbuild toolchain image for go " + testGo + " (label org.pbuild.go=" + testGo + "): build one with `pbuild build` of a config pinning it"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func dialDockerBK(t *testing.T, cli *dockerclient.Client) *client.Client {
	t.Helper()
	start := time.Now()
	c, err := Dial(context.Background(), DockerAddr, WithDockerClient(cli))
	if err != nil {
		t.Fatalf("dial docker's buildkit: %v", err)
	}
	t.Logf("dialled the Docker engine's BuildKit in %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { c.Close() })
	return c
}

// progressOut is where tests show BuildKit's progress: plain, in the test log
// with -v.
func solveOpts(t *testing.T, out string, dirs map[string]string) SolveOptions {
	p, err := progress.New(testWriter{t}, progressui.PlainMode)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(nil) })
	return SolveOptions{LocalDirs: dirs, OutputDir: out, Status: p.Write}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// goVersionState is a tiny Run writing `go version` into /out/version; a
// new nonce makes BuildKit run it again.
func goVersionState(tc Toolchain, nonce string) llb.State {
	opts, _ := tc.runOpts("/", []string{"PBUILD_TEST_NONCE=" + nonce})
	opts = append(opts, llb.Args([]string{"/bin/sh", "-c", "go version > /out/version"}), llb.Network(llb.NetModeNone), llb.WithCustomName("go version"))
	return tc.Root.Run(opts...).AddMount(OutDir, llb.Scratch())
}

func TestDockerBuildKitGoVersion(t *testing.T) {
	cli := needDocker(t)
	ref := toolchainImage(t, cli)
	c := dialDockerBK(t, cli)
	out := t.TempDir()
	start := time.Now()
	nonce := fmt.Sprint(time.Now().UnixNano())
	res, err := Solve(context.Background(), c, goVersionState(ToolchainImage(ref, nil), nonce), solveOpts(t, out, nil))
	if err != nil {
		t.Fatalf("solve: %v", err)
	}
	t.Logf("solved in %v; steps: %+v", time.Since(start).Round(time.Millisecond), stepNames(res))
	got, err := os.ReadFile(filepath.Join(out, "version"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "go version go" + testGo + " linux/"; !strings.HasPrefix(string(got), want) {
		t.Fatalf("version = %q, want %q...", got, want)
	}

	// rawjson progress: one JSON status per line.
	var js bytes.Buffer
	p, err := progress.New(&js, progressui.RawJSONMode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Solve(context.Background(), c, goVersionState(ToolchainImage(ref, nil), nonce), SolveOptions{OutputDir: t.TempDir(), Status: p.Write}); err != nil {
		t.Fatalf("solve with rawjson progress: %v", err)
	}
	p.Close(nil)
	lines := strings.Split(strings.TrimSpace(js.String()), "\n")
	for _, l := range lines {
		var ss client.SolveStatus
		if err := json.Unmarshal([]byte(l), &ss); err != nil {
			t.Fatalf("rawjson line %q: %v", l, err)
		}
	}
	if !strings.Contains(js.String(), `"name":"go version"`) {
		t.Errorf("rawjson progress lacks the Run:\n%s", js.String())
	}
}

func TestDockerBuildKitExecError(t *testing.T) {
	cli := needDocker(t)
	ref := toolchainImage(t, cli)
	c := dialDockerBK(t, cli)
	tc := ToolchainImage(ref, nil)
	src := t.TempDir()
	writeFiles(t, src, map[string]string{
		"go.mod":  "module example.com/broken\n\ngo 1.24\n",
		"main.go": "package main\n\nfunc main() { undefinedThing() }\n",
	})
	st, err := Compile(tc, CompileSpec{Source: Source(), Env: tinyEnv, Artifacts: []Artifact{{
		Name: "host broken", Dir: SourceDir, Out: "/out/broken",
		Args: []string{"go", "build", "-mod=vendor", "-trimpath", "-buildvcs=false", "-o", "/out/broken", "."},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Solve(context.Background(), c, st, solveOpts(t, t.TempDir(), map[string]string{SourceContext: src}))
	ee, ok := err.(*ExecError)
	if !ok {
		t.Fatalf("error %T %v, want *ExecError", err, err)
	}
	if ee.Vertex != "build host broken" || ee.ExitCode != 1 || !strings.Contains(ee.Output, "undefined: undefinedThing") {
		t.Fatalf("ExecError{Vertex: %q, ExitCode: %d, Output: %q}", ee.Vertex, ee.ExitCode, ee.Output)
	}
}

func TestDockerBuildKitUnknownImage(t *testing.T) {
	cli := needDocker(t)
	c := dialDockerBK(t, cli)
	_, err := Solve(context.Background(), c, goVersionState(ToolchainImage("pbuild/no-such-toolchain:nope", nil), ""), SolveOptions{OutputDir: t.TempDir()})
	se, ok := err.(*SolveError)
	if !ok {
		t.Fatalf("error %T %v, want *SolveError", err, err)
	}
	t.Logf("unknown image: %v", se)
}

var tinyEnv = []string{"GOTOOLCHAIN=local", "GOFLAGS=", "GOPROXY=off", "GOTELEMETRY=off", "HOME=/root", "GOCACHE=/root/.cache/go-build"}

// tinyProject is a host and a plugin, with cgo (plugins need it).
var tinyProject = map[string]string{
	"go.mod":                "module example.com/tiny\n\ngo 1.24\n",
	"host/main.go":          "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n\t\"plugin\"\n)\n\nvar pbuildABIKey string\n\nfunc main() {\n\tp, err := plugin.Open(os.Args[1])\n\tif err != nil {\n\t\tpanic(err)\n\t}\n\tf, _ := p.Lookup(\"Hello\")\n\tfmt.Println(f.(func() string)(), pbuildABIKey)\n}\n",
	"plugins/hello/main.go": "package main\n\nfunc Hello() string { return \"hello\" }\n\nfunc main() {}\n",
}

func tinyArtifacts() []Artifact {
	ld := "-ldflags=-X main.pbuildABIKey=sha256:test"
	return []Artifact{
		{Name: "host tiny", Dir: "/src/host", Out: "/out/tiny",
			Args: []string{"go", "build", "-mod=vendor", "-trimpath", "-buildvcs=false", ld, "-o", "/out/tiny", "."}},
		{Name: "plugin hello", Dir: "/src/plugins/hello", Out: "/out/plugins/hello.so",
			Args: []string{"go", "build", "-mod=vendor", "-trimpath", "-buildvcs=false", ld, "-buildmode=plugin", "-o", "/out/plugins/hello.so", "."}},
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readOutputs(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, a := range tinyArtifacts() {
		rel := strings.TrimPrefix(a.Out, OutDir+"/")
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatalf("artifact %s: %v", a.Name, err)
		}
		out[rel] = b
	}
	return out
}

func sameOutputs(t *testing.T, what string, a, b map[string][]byte) {
	t.Helper()
	for name, ab := range a {
		if !bytes.Equal(ab, b[name]) {
			t.Errorf("%s: %s differs (%d and %d bytes)", what, name, len(ab), len(b[name]))
		}
	}
}

// TestDockerBuildKitCompileReproducible compiles the host and a plugin
// twice through the Docker engine's BuildKit (from two workspaces differing
// only in a file no package uses, so both compiles run, the second with the
// Go build cache the first filled), and once the Docker backend's way (a
// network-less container and exec): all three are byte-identical.
func TestDockerBuildKitCompileReproducible(t *testing.T) {
	cli := needDocker(t)
	ref := toolchainImage(t, cli)
	c := dialDockerBK(t, cli)
	tc := ToolchainImage(ref, nil)
	src := t.TempDir()
	writeFiles(t, src, tinyProject)

	var runs []map[string][]byte
	for i := range 2 {
		// A file no package uses: BuildKit sees a new workspace and runs
		// the compiles again.
		writeFiles(t, src, map[string]string{"NOTES": fmt.Sprintf("run %d at %v\n", i+1, time.Now().UnixNano())})
		st, err := Compile(tc, CompileSpec{Source: Source(), Env: tinyEnv, Artifacts: tinyArtifacts()})
		if err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		start := time.Now()
		res, err := Solve(context.Background(), c, st, solveOpts(t, out, map[string]string{SourceContext: src}))
		if err != nil {
			t.Fatalf("solve %d: %v", i+1, err)
		}
		t.Logf("compile %d in %v; steps: %v", i+1, time.Since(start).Round(time.Millisecond), stepNames(res))
		for _, a := range tinyArtifacts() {
			if s, ok := res.Step(a.VertexName()); !ok || s.Cached {
				t.Errorf("step %q: %+v, want it run", a.VertexName(), s)
			}
		}
		runs = append(runs, readOutputs(t, out))
	}
	sameOutputs(t, "buildkit run 1 vs run 2", runs[0], runs[1])

	// The Docker backend's way: the same argv in a container without
	// network, the same environment (image ENV plus the build env).
	eng, err := dockerengine.New(dockerclient.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx := context.Background()
	dockerOut := t.TempDir()
	start := time.Now()
	err = container.Use(ctx, eng, container.Spec{Image: ref, Step: "buildkitengine-test", Env: tinyEnv}, func(ctr *container.Container) error {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(archive.WriteDir(ctx, pw, src, "src")) }()
		if err := ctr.CopyTo(ctx, "/", pr); err != nil {
			return err
		}
		if code, err := ctr.Exec(ctx, container.Exec{Cmd: []string{"mkdir", "-p", "/out/plugins"}}); err != nil || code != 0 {
			t.Fatalf("mkdir: %d %v", code, err)
		}
		for _, a := range tinyArtifacts() {
			var log bytes.Buffer
			code, err := ctr.Exec(ctx, container.Exec{Cmd: a.Args, Dir: a.Dir, Stdout: &log, Stderr: &log})
			if err != nil || code != 0 {
				t.Fatalf("docker compile %s: %d %v\n%s", a.Name, code, err, log.String())
			}
		}
		rc, err := ctr.CopyFrom(ctx, "/out")
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = archive.Extract(ctx, rc, dockerOut, archive.ExtractOptions{Strip: "out"})
		return err
	})
	if err != nil {
		t.Fatalf("docker backend compile: %v", err)
	}
	t.Logf("docker backend compile in %v", time.Since(start).Round(time.Millisecond))
	sameOutputs(t, "buildkit vs docker backend", runs[0], readOutputs(t, dockerOut))
}

func stepNames(r *SolveResult) []string {
	var out []string
	for _, s := range r.Steps {
		n := s.Name
		switch {
		case s.Cached:
			n += " (cached)"
		case s.Duration > 0:
			n += " (" + s.Duration.Round(10*time.Millisecond).String() + ")"
		}
		out = append(out, n)
	}
	return out
}

// TestExecConn checks the stdio stream docker-container:// dials through:
// bytes written reach the exec'd process's stdin, its stdout comes back
// unframed.
func TestExecConn(t *testing.T) {
	cli := needDocker(t)
	ref := toolchainImage(t, cli)
	eng, err := dockerengine.New(dockerclient.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx := context.Background()
	err = container.Use(ctx, eng, container.Spec{Image: ref, Step: "buildkitengine-test"}, func(ctr *container.Container) error {
		conn, err := execConn(ctx, cli, ctr.ID(), []string{"cat"})
		if err != nil {
			return err
		}
		defer conn.Close()
		msg := bytes.Repeat([]byte("grpc frame \x00\x01\xff "), 4096)
		go conn.Write(msg)
		got := make([]byte, len(msg))
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.ReadFull(conn, got); err != nil {
			return err
		}
		if !bytes.Equal(got, msg) {
			t.Errorf("echo differs")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A container that does not exist: a DialError naming it.
	if _, err := Dial(ctx, "docker-container://pbuild-no-such-container", WithDockerClient(cli)); err == nil || !strings.Contains(err.Error(), "pbuild-no-such-container") {
		t.Errorf("Dial of a missing container: %v", err)
	}
}

// TestDialDockerHost dials the engine's BuildKit by DOCKER_HOST-style
// addresses, the library making its own Docker client.
func TestDialDockerHost(t *testing.T) {
	cli := needDocker(t)
	host := cli.DaemonHost()
	for _, d := range []struct {
		addr string
		opts []DialOption
	}{
		{"docker", []DialOption{WithDockerHost(host)}},
		{"", []DialOption{WithDockerOpts(dockerclient.FromEnv)}},
		{"docker://" + host, nil},
	} {
		c, err := Dial(context.Background(), d.addr, d.opts...)
		if err != nil {
			t.Errorf("Dial(%q): %v", d.addr, err)
			continue
		}
		c.Close()
	}
}
