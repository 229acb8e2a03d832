package tests

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/pbuild/pbuild/internal/container"
	"github.com/pbuild/pbuild/manifests"
)

// forwarded are the variables the scripts' pbuild needs from this process:
// testscript starts them with an almost empty environment.
func forwarded() []string {
	return []string{
		"DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_API_VERSION",
		"GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GOFLAGS", "GONOPROXY", "GOINSECURE",
		"SSL_CERT_FILE", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
	}
}

// suite is what every script shares, prepared once.
type suite struct {
	bin      string // directory holding the pbuild binary
	env      []string
	docker   bool
	noEngine string // why there is no engine
}

func TestScripts(t *testing.T) {
	s := prepare(t)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			e.Setenv("PATH", s.bin+string(os.PathListSeparator)+e.Getenv("PATH"))
			for _, kv := range s.env {
				k, v, _ := strings.Cut(kv, "=")
				e.Setenv(k, v)
			}
			// Every script gets two checkouts of the example and of the
			// loader module its host uses, laid out as in the repository.
			for _, co := range []string{".", "second"} {
				for _, dir := range []string{"examples/greeter", "loader"} {
					if err := copyTree(filepath.Join(repoRoot(t), dir), filepath.Join(e.WorkDir, co, dir)); err != nil {
						return err
					}
				}
			}
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "docker":
				return s.docker, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":   cmdExitCode,
			"leftovers":  cmdLeftovers,
			"waitstep":   cmdWaitStep,
			"noglob":     cmdNoGlob,
			"stamped":    cmdStamped,
			"sameresult": cmdSameResult,
		},
	})
}

// prepare builds pbuild and finds the engine, once for all scripts.
func prepare(t *testing.T) *suite {
	t.Helper()
	s := &suite{bin: t.TempDir()}
	build := exec.Command("go", "build", "-o", filepath.Join(s.bin, "pbuild"), "./cmd/pbuild")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build pbuild: %v\n%s", err, out)
	}
	for _, k := range forwarded() {
		if v, ok := os.LookupEnv(k); ok {
			s.env = append(s.env, k+"="+v)
		}
	}
	if os.Getenv("GOPROXY") == "" {
		// The go command's defaults, as pbuild would find them itself.
		out, err := exec.Command("go", "env", "GOPROXY", "GOSUMDB").Output()
		if err == nil {
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) == 2 {
				s.env = append(s.env, "GOPROXY="+lines[0], "GOSUMDB="+lines[1])
			}
		}
	}
	// Keep downloaded toolchains between scripts and runs.
	s.env = append(s.env, "PBUILD_CACHE="+pbuildCache())

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		defer cli.Close()
		_, err = cli.Ping(ctx)
	}
	s.docker = err == nil
	if !s.docker {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Docker engine, and CI=true: the end-to-end tests must run in CI: %v", err)
		}
		t.Logf("no Docker engine (%v): scripts that need one are skipped", err)
	}
	return s
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the repository")
	}
	return filepath.Dir(filepath.Dir(file))
}

// copyTree copies the regular files of src to dst, leaving out build output.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			if d.Name() == "dist" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
}

// exitcode N PROG ARGS... runs a program and asserts its exit code; its
// output is then checked with stdout and stderr as usual.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %v", err)
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		got = exitErr.ExitCode()
	case err != nil:
		ts.Fatalf("exitcode: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

func dockerClient(ts *testscript.TestScript) *client.Client {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		ts.Fatalf("docker client: %v", err)
	}
	return cli
}

// labelled lists the pbuild containers of this script's projects (scripts
// run in parallel), for one step or all.
func labelled(ts *testscript.TestScript, cli *client.Client, step string) []dcontainer.Summary {
	f := filters.NewArgs(filters.Arg("label", container.Label))
	if step != "" {
		f.Add("label", container.Label+".step="+step)
	}
	list, err := cli.ContainerList(context.Background(), dcontainer.ListOptions{All: true, Filters: f})
	if err != nil {
		ts.Fatalf("list containers: %v", err)
	}
	var mine []dcontainer.Summary
	for _, c := range list {
		if strings.HasPrefix(c.Labels[container.Label+".project"], ts.Getenv("WORK")+string(filepath.Separator)) {
			mine = append(mine, c)
		}
	}
	return mine
}

// leftovers asserts that no container labelled pbuild exists.
func cmdLeftovers(ts *testscript.TestScript, neg bool, args []string) {
	cli := dockerClient(ts)
	defer cli.Close()
	list := labelled(ts, cli, "")
	if neg {
		ts.Fatalf("unsupported: ! leftovers")
	}
	if len(list) > 0 {
		var names []string
		for _, c := range list {
			names = append(names, c.ID[:12]+" "+c.Labels[container.Label+".step"]+" "+c.State)
		}
		ts.Fatalf("%d pbuild containers left: %s", len(list), strings.Join(names, ", "))
	}
}

// waitstep STEP SECONDS waits until a pbuild container for STEP runs.
func cmdWaitStep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitstep STEP SECONDS")
	}
	secs, err := strconv.Atoi(args[1])
	if err != nil {
		ts.Fatalf("waitstep: %v", err)
	}
	cli := dockerClient(ts)
	defer cli.Close()
	for deadline := time.Now().Add(time.Duration(secs) * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		for _, c := range labelled(ts, cli, args[0]) {
			if c.State == "running" {
				return
			}
		}
	}
	ts.Fatalf("no running %s container within %ds", args[0], secs)
}

// noglob PATTERN asserts that nothing matches the pattern.
func cmdNoGlob(ts *testscript.TestScript, neg bool, args []string) {
	for _, pat := range args {
		m, err := filepath.Glob(ts.MkAbs(pat))
		if err != nil {
			ts.Fatalf("noglob: %v", err)
		}
		if len(m) > 0 && !neg {
			ts.Fatalf("unexpected files: %v", m)
		}
	}
}

// stamped DIST asserts that the host in DIST prints the manifest's ABI key.
func cmdStamped(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: stamped DIST")
	}
	m, err := manifests.ReadFile(filepath.Join(ts.MkAbs(args[0]), manifests.FileName))
	if err != nil {
		ts.Fatalf("%v", err)
	}
	for _, a := range m.Artifacts {
		if a.Kind != manifests.KindHost {
			continue
		}
		out, err := exec.Command(filepath.Join(ts.MkAbs(args[0]), a.File), "-version").Output()
		if err != nil {
			ts.Fatalf("%s -version: %v", a.File, err)
		}
		if got, want := strings.TrimSpace(string(out)), "greeter abi "+m.ABIKey; got != want {
			ts.Fatalf("host says %q, manifest has %q", got, want)
		}
		return
	}
	ts.Fatalf("no host in the manifest")
}

// sameresult DIST1 DIST2 asserts that two output directories hold the same
// files with the same bytes.
func cmdSameResult(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: sameresult DIST1 DIST2")
	}
	a, b := snapshot(ts, args[0]), snapshot(ts, args[1])
	if len(a) == 0 {
		ts.Fatalf("%s is empty", args[0])
	}
	for name, sum := range a {
		if b[name] != sum {
			ts.Fatalf("%s differs between %s and %s", name, args[0], args[1])
		}
	}
	if len(a) != len(b) {
		ts.Fatalf("%s holds %d files, %s %d", args[0], len(a), args[1], len(b))
	}
	ts.Logf("%d files identical", len(a))
}

func snapshot(ts *testscript.TestScript, dir string) map[string]string {
	root := ts.MkAbs(dir)
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, _ := d.Info()
		out[rel] = fmt.Sprintf("%s %x", fi.Mode(), sha256.Sum256(data))
		return nil
	})
	if err != nil {
		ts.Fatalf("snapshot %s: %v", dir, err)
	}
	return out
}
