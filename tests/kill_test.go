package tests

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	bkclient "github.com/moby/buildkit/client"

	dcontainer "github.com/docker/docker/api/types/container"

	"github.com/pbuild/pbuild/internal/container"
	"github.com/pbuild/pbuild/internal/digest"
	"github.com/pbuild/pbuild/internal/owner"
)

// TestKilledAtEveryStep kills `pbuild build` (SIGKILL: no clean-up runs)
// as each step of a build starts, and then runs a normal build. Right after
// the kill the output directory must be the last good build's or the new
// one, whole; after the next build it is the new one, and nothing is left:
// no container of the project, nothing in TMPDIR, nothing beside dist/.
func TestKilledAtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	requireEngine(t)
	bin := buildPbuild(t)
	work := t.TempDir()
	for _, dir := range []string{"examples/greeter", "loader"} {
		if err := copyTree(filepath.Join(repoRoot(t), dir), filepath.Join(work, dir)); err != nil {
			t.Fatal(err)
		}
	}
	project := filepath.Join(work, "examples/greeter")
	tmp := filepath.Join(work, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "TMPDIR="+tmp)
	dist := filepath.Join(project, "dist")
	pbuild := func(ctx context.Context) *exec.Cmd {
		cmd := exec.CommandContext(ctx, bin, "build", "--progress=rawjson")
		cmd.Dir, cmd.Env = project, env
		return cmd
	}
	if out, err := pbuild(context.Background()).CombinedOutput(); err != nil {
		t.Fatalf("first build: %v\n%s", err, out)
	}
	last := outputOf(t, dist)
	hello := filepath.Join(project, "plugins/hello/main.go")
	text := "Hello, "
	for i, step := range []string{"plan", "toolchain", "stage", "resolve", "compile", "inspect", "check", "install"} {
		// Every killed build has something new to make.
		src, err := os.ReadFile(hello)
		if err != nil {
			t.Fatal(err)
		}
		next := strings.Repeat("Hi", i+1) + ", "
		if err := os.WriteFile(hello, []byte(strings.Replace(string(src), text, next, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		text = next

		killAt(t, pbuild(context.Background()), step)
		after := outputOf(t, dist)

		start := time.Now()
		if out, err := pbuild(context.Background()).CombinedOutput(); err != nil {
			t.Fatalf("build after a kill at %s: %v\n%s", step, err, out)
		}
		built := outputOf(t, dist)
		if after != last && after != built {
			t.Fatalf("after a kill at %s the output is neither the last build's nor the new one:\n%s", step, after)
		}
		t.Logf("killed at %s: the output was the %s one; the next build took %v", step, map[bool]string{true: "old", false: "new"}[after == last], time.Since(start).Round(100*time.Millisecond))
		if left := entries(t, tmp); len(left) > 0 {
			t.Errorf("after a kill at %s and a build, TMPDIR holds %v", step, left)
		}
		for _, e := range entries(t, project) {
			if strings.HasPrefix(e, ".dist.") {
				t.Errorf("after a kill at %s and a build, %s is left beside dist/", step, e)
			}
		}
		if n := projectContainers(t, filepath.Join(project, "pbuild.yaml")); n > 0 {
			t.Errorf("after a kill at %s and a build, %d containers of the project are left", step, n)
		}
		last = built
	}
}

// killAt starts cmd and kills it (SIGKILL) when it reports that step
// started.
func killAt(t *testing.T, cmd *exec.Cmd, step string) {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The rawjson display writes every status as it comes: a step's vertex
	// appears, started, when the step starts.
	var seen []string
	dec := json.NewDecoder(stderr)
	for {
		var ss bkclient.SolveStatus
		if err := dec.Decode(&ss); err != nil {
			break
		}
		started := false
		for _, v := range ss.Vertexes {
			seen = append(seen, v.Name)
			started = started || v.Name == step && v.Started != nil && v.Completed == nil
		}
		if started {
			cmd.Process.Signal(syscall.SIGKILL)
			break
		}
	}
	go io.Copy(io.Discard, stderr)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("pbuild was not killed at %s (%v):\n%s", step, err, strings.Join(seen, "\n"))
	}
}

// outputOf describes the output directory: every file pbuild wrote and its
// sha256 ("" when there is no output).
func outputOf(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if errors.Is(err, os.ErrNotExist) && p == dir {
			return filepath.SkipAll
		}
		if err != nil || d.IsDir() || d.Name() == owner.MarkerFile {
			return err
		}
		sum, err := digest.File(p)
		rel, _ := filepath.Rel(dir, p)
		b.WriteString(rel + " " + sum + "\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	list, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range list {
		names = append(names, e.Name())
	}
	return names
}

// projectContainers counts the engine's pbuild containers of one project.
func projectContainers(t *testing.T, project string) int {
	t.Helper()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	list, err := cli.ContainerList(context.Background(), dcontainer.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", container.Label+".project="+project))})
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// requireEngine skips the test without a Docker engine, but fails it under
// CI=true.
func requireEngine(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		defer cli.Close()
		_, err = cli.Ping(ctx)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Docker engine, and CI=true: %v", err)
		}
		t.Skipf("no Docker engine: %v", err)
	}
}

// buildPbuild is the pbuild command: this test binary, put on PATH as
// pbuild by TestMain.
func buildPbuild(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("pbuild")
	if err != nil {
		t.Fatalf("no pbuild on PATH: %v", err)
	}
	return bin
}
