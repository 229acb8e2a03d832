package builder

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pbuild/pbuild/config"
	"github.com/pbuild/pbuild/internal/container/containertest"
	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/plan"
)

// nativeBackend runs the build's requests with this machine's go command
// instead of in a toolchain container: plan.SourceDir is the staged
// workspace, plan.OutDir the request's output directory. The projects it
// builds need no module from the network.
type nativeBackend struct{}

func (nativeBackend) Name() string { return "native" }

// env maps a container environment to this machine: the container's paths
// become the test's, and the machine's own Go build cache is used.
func (nativeBackend) env(env []string, stage string) []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "CGO_ENABLED=1", "GOPROXY=off", "GOFLAGS=", "GOTOOLCHAIN=local"}
	if c := os.Getenv("GOCACHE"); c != "" {
		out = append(out, "GOCACHE="+c)
	}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "GOCACHE", "PATH":
			continue
		}
		out = append(out, strings.ReplaceAll(kv, plan.SourceDir, stage))
	}
	return out
}

func (b nativeBackend) run(ctx context.Context, dir string, env []string, stdout *bytes.Buffer, args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, stdout, &stderr
	if stdout == nil {
		cmd.Stdout = &stderr
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%q: %v\n%s", args, err, stderr.String())
	}
	return nil
}

func (b nativeBackend) Resolve(ctx context.Context, r ResolveRequest) (*ResolveOutput, error) {
	env := b.env(r.Env, r.Stage)
	var list, graph bytes.Buffer
	for _, d := range r.UseDirs {
		if err := b.run(ctx, r.Stage, env, nil, "go", "work", "use", "./"+d); err != nil {
			return nil, err
		}
	}
	if err := b.run(ctx, r.Stage, env, &list, "go", "list", "-mod=readonly", "-m", "-json", "all"); err != nil {
		return nil, err
	}
	if r.Graph {
		if err := b.run(ctx, r.Stage, env, &graph, "go", "mod", "graph"); err != nil {
			return nil, err
		}
	}
	if err := b.run(ctx, r.Stage, env, nil, "go", "work", "vendor"); err != nil {
		return nil, err
	}
	return &ResolveOutput{List: list.Bytes(), Graph: graph.Bytes()}, writeStaged(r.Stage, "go.work.sum", nil)
}

func (b nativeBackend) Compile(ctx context.Context, r CompileRequest) (*CompileOutput, error) {
	env := b.env(r.Env, r.Stage)
	for _, phase := range r.Phases {
		for _, u := range phase {
			args := slices.Clone(u.Args)
			for i, a := range args {
				args[i] = strings.Replace(a, plan.OutDir, r.Out, 1)
			}
			if err := os.MkdirAll(filepath.Dir(strings.Replace(u.Out, plan.OutDir, r.Out, 1)), 0o755); err != nil {
				return nil, err
			}
			var out bytes.Buffer
			if err := b.run(ctx, strings.Replace(u.Dir, plan.SourceDir, r.Stage, 1), env, &out, args...); err != nil {
				return nil, &CompileError{Name: u.Target.Name, Kind: string(u.Target.Kind), Code: 1, Output: err.Error()}
			}
		}
	}
	return &CompileOutput{}, nil
}

// nativeProject is a host that loads its plugins and prints what they
// say, two plugins, and the API module they share.
func nativeProject() files {
	api := "replace example.com/nat/api => ../api\n\nrequire example.com/nat/api v0.0.0\n"
	return files{
		"api/go.mod":  "module example.com/nat/api\n\ngo 1.24\n",
		"api/api.go":  "package api\n\ntype Greeter interface{ Greet() string }\n",
		"host/go.mod": "module example.com/nat/host\n\ngo 1.24\n\n" + api,
		"host/main.go": `package main

import (
	"fmt"
	"os"
	"plugin"

	"example.com/nat/api"
)

func main() {
	for _, path := range os.Args[1:] {
		p, err := plugin.Open(path)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		s, err := p.Lookup("Plugin")
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println((*s.(*api.Greeter)).Greet())
	}
}
`,
		"plugins/a/go.mod":  "module example.com/nat/plugins/a\n\ngo 1.24\n\n" + strings.ReplaceAll(api, "../api", "../../api"),
		"plugins/a/main.go": "package main\n\nimport \"example.com/nat/api\"\n\ntype g struct{}\n\nfunc (g) Greet() string { return \"hello from a\" }\n\nvar Plugin api.Greeter = g{}\n\nfunc main() {}\n",
		"plugins/b/go.mod":  "module example.com/nat/plugins/b\n\ngo 1.24\n\n" + strings.ReplaceAll(api, "../api", "../../api"),
		"plugins/b/main.go": "package main\n\nimport \"example.com/nat/api\"\n\ntype g struct{}\n\nfunc (g) Greet() string { return \"hello from b\" }\n\nvar Plugin api.Greeter = g{}\n\nfunc main() {}\n",
	}
}

// TestBuildSucceeds runs a whole build, every step, of real plugins (built
// with this machine's go command by nativeBackend): the host loads them.
func TestBuildSucceeds(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds plugins")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command")
	}
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	containertest.WriteFiles(t, root, nativeProject())
	fetcher, sum, _ := toolchainProxy(t)
	yaml := fmt.Sprintf("version: 1\ntoolchain: {go: 1.24.4, sum: %q}\nhost: {name: host, path: ./host}\nplugins:\n  - {name: a, path: ./plugins/a}\n  - {name: b, path: ./plugins/b}\n", sum)
	cfg, err := config.Parse(filepath.Join(root, config.FileName), []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	var events []Event
	opts := Options{Engine: newEngine(), Backend: nativeBackend{}, Fetcher: fetcher, Platform: plan.Platform{OS: "linux", Arch: "amd64"},
		TempDir: t.TempDir(), Self: self(t), ToolID: "test", OnEvent: func(e Event) { events = append(events, e) }}
	res, err := Build(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	dist := filepath.Join(root, "dist")
	out, err := exec.Command(filepath.Join(dist, "host"), filepath.Join(dist, "plugins", "a.so"), filepath.Join(dist, "plugins", "b.so")).CombinedOutput()
	if err != nil || string(out) != "hello from a\nhello from b\n" {
		t.Fatalf("the host says %q, %v", out, err)
	}
	m, err := manifests.ReadFile(context.Background(), filepath.Join(dist, manifests.FileName))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, a := range m.Artifacts {
		files = append(files, a.Kind+" "+a.File+" "+a.PluginPath)
	}
	if want := []string{"host host ", "plugin plugins/a.so example.com/nat/plugins/a", "plugin plugins/b.so example.com/nat/plugins/b"}; !slices.Equal(files, want) {
		t.Errorf("artifacts %q\nwant      %q", files, want)
	}
	if m.ABIKey != res.Manifest.ABIKey || len(m.Artifacts[1].Packages) == 0 {
		t.Errorf("manifest %+v", m)
	}
	var steps []Step
	for _, e := range events {
		if len(steps) == 0 || steps[len(steps)-1] != e.Step {
			steps = append(steps, e.Step)
		}
	}
	if want := []Step{StepPlan, StepToolchain, StepStage, StepResolve, StepCompile, StepInspect, StepCheck, StepInstall}; !slices.Equal(steps, want) {
		t.Errorf("steps %v\nwant  %v", steps, want)
	}
	// The same inputs: up to date.
	again, err := Build(context.Background(), cfg, opts)
	if err != nil || !again.UpToDate {
		t.Errorf("second build: up to date %v, %v", again != nil && again.UpToDate, err)
	}
}
