package tests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/pbuild/pbuild/manifests"
)

// cmdInToolchain runs a command in the toolchain image a manifest
// records, as the caller's user, with the script's work directory mounted
// at its own path and the current directory as the working directory, and
// without network: C hosts are built with the C compiler of the toolchain
// that built the libraries.
//
//	intoolchain MANIFEST COMMAND [ARGS...]
func cmdInToolchain(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: intoolchain MANIFEST COMMAND [ARGS...]")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	m, err := manifests.ReadFile(ctx, ts.MkAbs(args[0]))
	if err != nil {
		ts.Fatalf("intoolchain: %v", err)
	}
	cli := dockerClient(ts)
	defer cli.Close()
	work := ts.Getenv("WORK")
	c, err := cli.ContainerCreate(ctx, &dcontainer.Config{
		Image: m.Toolchain.Image, Cmd: args[1:], WorkingDir: ts.MkAbs("."),
		User: fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()), NetworkDisabled: true,
		Labels: map[string]string{"pbuild-test": "intoolchain"},
	}, &dcontainer.HostConfig{Binds: []string{work + ":" + work}, NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		ts.Fatalf("intoolchain: %v", err)
	}
	defer cli.ContainerRemove(context.Background(), c.ID, dcontainer.RemoveOptions{Force: true})
	if err := cli.ContainerStart(ctx, c.ID, dcontainer.StartOptions{}); err != nil {
		ts.Fatalf("intoolchain: %v", err)
	}
	var code int64
	select {
	case res := <-waitC(ctx, cli, c.ID):
		code = res
	case <-ctx.Done():
		ts.Fatalf("intoolchain: %v", ctx.Err())
	}
	logs, err := cli.ContainerLogs(ctx, c.ID, dcontainer.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		ts.Fatalf("intoolchain: %v", err)
	}
	defer logs.Close()
	var stdout, stderr bytes.Buffer
	if _, err := stdcopy.StdCopy(&stdout, &stderr, logs); err != nil {
		ts.Fatalf("intoolchain: %v", err)
	}
	ts.Logf("intoolchain %s: exit %d\n%s%s", m.Toolchain.Image, code, stdout.String(), stderr.String())
	if (code != 0) != neg {
		ts.Fatalf("intoolchain %q: exit %d", args[1:], code)
	}
}

// waitC waits for a container to stop and sends its exit code.
func waitC(ctx context.Context, cli interface {
	ContainerWait(context.Context, string, dcontainer.WaitCondition) (<-chan dcontainer.WaitResponse, <-chan error)
}, id string) <-chan int64 {
	out := make(chan int64, 1)
	res, errc := cli.ContainerWait(ctx, id, dcontainer.WaitConditionNotRunning)
	go func() {
		select {
		case r := <-res:
			out <- r.StatusCode
		case <-errc:
			out <- -1
		}
	}()
	return out
}

// arm64Sysroot is where Debian's libc6-arm64-cross puts the arm64 C
// library and dynamic linker, the sysroot qemu-aarch64-static -L runs
// arm64 programs in.
const arm64Sysroot = "/usr/aarch64-linux-gnu"

// qemuARM64 reports whether this machine can run arm64 programs under
// qemu-user: qemu-aarch64-static and the arm64 C library.
func qemuARM64() error {
	if _, err := exec.LookPath("qemu-aarch64-static"); err != nil {
		return fmt.Errorf("qemu-aarch64-static: %w (apt-get install qemu-user-static)", err)
	}
	if _, err := os.Stat(filepath.Join(arm64Sysroot, "lib", "ld-linux-aarch64.so.1")); err != nil {
		return fmt.Errorf("arm64 C library: %w (apt-get install libc6-arm64-cross)", err)
	}
	return nil
}
