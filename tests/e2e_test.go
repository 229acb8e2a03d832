package tests

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/pbuild/pbuild/internal/container"
	"github.com/pbuild/pbuild/internal/owner"
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
	env    []string
	docker bool
}

func TestScripts(t *testing.T) {
	s := prepare(t)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			for _, kv := range s.env {
				k, v, _ := strings.Cut(kv, "=")
				e.Setenv(k, v)
			}
			// Every script gets two checkouts of the example and of the
			// loader module its host uses, laid out as in the repository,
			// and the image recipes.
			for _, co := range []string{".", "second"} {
				for _, dir := range []string{"examples/greeter", "examples/clib", "loader", "images"} {
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
			case "qemu":
				// Arm64 programs under qemu-user: in CI a machine without
				// it fails, never skips.
				err := qemuARM64()
				if err != nil && os.Getenv("CI") == "true" {
					return false, fmt.Errorf("CI=true and no qemu-user for arm64: %v", err)
				}
				return err == nil, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":    cmdExitCode,
			"leftovers":   cmdLeftovers,
			"waitstep":    cmdWaitStep,
			"noglob":      cmdNoGlob,
			"stamped":     cmdStamped,
			"sameresult":  cmdSameResult,
			"hangsock":    cmdHangSock,
			"notengine":   cmdNotEngine,
			"mkfifo":      cmdMkfifo,
			"stopstep":    cmdStopStep,
			"deadowner":   cmdDeadOwner,
			"gone":        cmdGone,
			"intoolchain": cmdInToolchain,
		},
	})
}

// prepare finds the engine, once for all scripts. pbuild itself is this
// test binary (TestMain).
func prepare(t *testing.T) *suite {
	t.Helper()
	s := &suite{}
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
	m, err := manifests.ReadFile(context.Background(), filepath.Join(ts.MkAbs(args[0]), manifests.FileName))
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
		// The marker records where the directory is (its inode), not what
		// the build made.
		if err != nil || d.IsDir() || d.Name() == owner.MarkerFile {
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

// hangsock VAR listens on a unix socket in $WORK that accepts connections
// and never answers, and sets VAR to its address (DOCKER_HOST form).
func cmdHangSock(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: hangsock VAR")
	}
	sock := ts.MkAbs("hang.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		ts.Fatalf("hangsock: %v", err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read or answered
			mu.Unlock()
		}
	}()
	ts.Defer(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	ts.Setenv(args[0], "unix://"+sock)
}

// notengine VAR serves HTTP on 127.0.0.1 answering 404 to everything (a
// web server, not a Docker engine) and sets VAR to its address.
func cmdNotEngine(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: notengine VAR")
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	ts.Defer(srv.Close)
	ts.Setenv(args[0], "tcp://"+strings.TrimPrefix(srv.URL, "http://"))
}

// mkfifo PATH makes a named pipe.
func cmdMkfifo(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: mkfifo PATH")
	}
	if err := syscall.Mkfifo(ts.MkAbs(args[0]), 0o644); err != nil {
		ts.Fatalf("mkfifo: %v", err)
	}
}

// stopstep STEP stops (docker stop) the running pbuild container of this
// script's project for STEP, as a user or another tool might.
func cmdStopStep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: stopstep STEP")
	}
	cli := dockerClient(ts)
	defer cli.Close()
	for _, c := range labelled(ts, cli, args[0]) {
		if c.State == "running" {
			timeout := 0
			if err := cli.ContainerStop(context.Background(), c.ID, dcontainer.StopOptions{Timeout: &timeout}); err != nil {
				ts.Fatalf("stop %s: %v", c.ID, err)
			}
			return
		}
	}
	ts.Fatalf("no running %s container", args[0])
}

// deadowner NAME OWNERSTATE creates (does not start) a container labelled
// as pbuild's for this script's project, owned by a process of this
// machine that has exited (dead), by this test process (alive), or by a
// process of another machine (elsewhere). $NAME_ID is its short ID, as
// doctor prints it.
func cmdDeadOwner(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: deadowner NAME dead|alive|elsewhere")
	}
	self, err := owner.Self()
	if err != nil {
		ts.Fatalf("%v", err)
	}
	var id owner.ID
	switch args[1] {
	case "dead":
		cmd := exec.Command("true")
		if err := cmd.Run(); err != nil {
			ts.Fatalf("%v", err)
		}
		id = owner.ID{Machine: self.Machine, PID: cmd.Process.Pid, Start: 1}
	case "alive":
		id = self
	case "elsewhere":
		id = owner.ID{Machine: "000000000000", PID: 1, Start: 1}
	default:
		ts.Fatalf("deadowner: unknown state %q", args[1])
	}
	cli := dockerClient(ts)
	defer cli.Close()
	labels := container.Labels(container.Spec{Step: "build", Project: ts.MkAbs("pbuild.yaml"), Owner: id.String()})
	created, err := cli.ContainerCreate(context.Background(), &dcontainer.Config{Image: "pbuild/base:bookworm", Cmd: []string{"true"}, Labels: labels},
		&dcontainer.HostConfig{NetworkMode: "none"}, nil, nil, scriptContainer(ts, args[0]))
	if err != nil {
		ts.Fatalf("create container: %v", err)
	}
	ts.Setenv(args[0]+"_ID", created.ID[:12])
	ts.Defer(func() {
		c := dockerClient(ts)
		defer c.Close()
		c.ContainerRemove(context.Background(), scriptContainer(ts, args[0]), dcontainer.RemoveOptions{Force: true})
	})
}

// gone NAME asserts that the container NAME (made by deadowner) no longer
// exists; ! gone NAME that it does.
func cmdGone(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: gone NAME")
	}
	cli := dockerClient(ts)
	defer cli.Close()
	_, err := cli.ContainerInspect(context.Background(), scriptContainer(ts, args[0]))
	exists := err == nil
	if exists && !neg {
		ts.Fatalf("container %s exists", args[0])
	}
	if !exists && neg {
		ts.Fatalf("container %s is gone: %v", args[0], err)
	}
}

// scriptContainer is the engine-wide name of a container a script made.
func scriptContainer(ts *testscript.TestScript, name string) string {
	return fmt.Sprintf("pbuild-test-%x-%s", sha256.Sum256([]byte(ts.Getenv("WORK"))), name)[:len("pbuild-test-")+16] + "-" + name
}
