package buildkitengine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/client"

	"github.com/pbuild/pbuild/internal/buildkitengine/buildkittest"
)

// TestBuildkitd runs the toolchain on a buildkitd that has neither the
// image nor a registry: as an OCI layout written from the Docker engine's
// image export (pulled by the daemon once, by digest), and as a root
// filesystem sent as a local context; and the compile there gives the same
// bytes as the Docker engine's BuildKit.
func TestBuildkitd(t *testing.T) {
	cli := needDocker(t)
	ref := toolchainImage(t, cli)
	addr := startBuildkitd(t)
	ctx := context.Background()

	start := time.Now()
	c, err := Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	workers, err := c.ListWorkers(ctx)
	if err != nil || len(workers) == 0 {
		t.Fatalf("workers: %v %v", workers, err)
	}
	t.Logf("dialled %s in %v; worker %s", addr, time.Since(start).Round(time.Millisecond), workers[0].ID)
	cache := t.TempDir()
	nonce := fmt.Sprint(time.Now().UnixNano())
	checkVersion := func(what string, tc Toolchain, opt SolveOptions) {
		t.Helper()
		opt.OutputDir = t.TempDir()
		start := time.Now()
		res, err := Solve(ctx, c, goVersionState(tc, nonce), opt)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		t.Logf("%s in %v; steps: %v", what, time.Since(start).Round(time.Millisecond), stepNames(res))
		got, err := os.ReadFile(filepath.Join(opt.OutputDir, "version"))
		if err != nil {
			t.Fatal(err)
		}
		if want := "go version go" + testGo + " linux/"; !strings.HasPrefix(string(got), want) {
			t.Fatalf("%s: version = %q, want %q...", what, got, want)
		}
	}

	// The OCI layout: written once per image, pulled once per daemon.
	start = time.Now()
	layout, manifest, err := OCILayout(ctx, cli, ref, cache)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote the OCI layout of %s (manifest %s) in %v", ref, manifest, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if again, m2, err := OCILayout(ctx, cli, ref, cache); err != nil || again != layout || m2 != manifest {
		t.Fatalf("second OCILayout = %q %s, %v; want %q %s from the cache", again, m2, err, layout, manifest)
	}
	t.Logf("second OCILayout (cached) in %v", time.Since(start).Round(time.Millisecond))
	ociTC := ToolchainOCI(manifest, nil)
	ociOpts := solveOpts(t, "", nil)
	ociOpts.OCIStores = map[string]string{OCIStoreID: layout}
	checkVersion("go version, OCI layout toolchain, first", ociTC, ociOpts)
	checkVersion("go version, OCI layout toolchain, again", ociTC, ociOpts)

	// The same compile on both daemons: identical bytes.
	src := t.TempDir()
	writeFiles(t, src, tinyProject)
	var outs []map[string][]byte
	for _, d := range []struct {
		name string
		c    *client.Client
		tc   Toolchain
	}{
		{"buildkitd", c, ociTC},
		{"docker", dialDockerBK(t, cli), ToolchainImage(ref, nil)},
	} {
		st, err := Compile(d.tc, CompileSpec{Source: Source(), Env: tinyEnv, Artifacts: tinyArtifacts()})
		if err != nil {
			t.Fatal(err)
		}
		opt := solveOpts(t, t.TempDir(), map[string]string{SourceContext: src})
		opt.OCIStores = ociOpts.OCIStores
		start = time.Now()
		res, err := Solve(ctx, d.c, st, opt)
		if err != nil {
			var ee *ExecError
			if errors.As(err, &ee) {
				t.Fatalf("%s compile: %s exit %d\n%s", d.name, ee.Vertex, ee.ExitCode, ee.Output)
			}
			t.Fatalf("%s compile: %v", d.name, err)
		}
		t.Logf("%s compile in %v; steps: %v", d.name, time.Since(start).Round(time.Millisecond), stepNames(res))
		outs = append(outs, readOutputs(t, opt.OutputDir))
	}
	sameOutputs(t, "buildkitd vs docker's buildkit", outs[0], outs[1])
	for name, b := range outs[0] {
		if bytes.Equal(b, outs[1][name]) {
			t.Logf("%s: %d identical bytes", name, len(b))
		}
	}
}

// startBuildkitd runs a real buildkitd on a unix socket for the test.
func startBuildkitd(t *testing.T) string {
	t.Helper()
	return startBuildkitdAt(t, "", nil)
}

// startBuildkitdAt runs it at addr, with more flags, dialled with dialOpts.
func startBuildkitdAt(t *testing.T, addr string, dialOpts []DialOption, flags ...string) string {
	t.Helper()
	return buildkittest.Start(t, addr, func(addr string) error {
		c, err := Dial(context.Background(), addr, append([]DialOption{WithCheckTimeout(2 * time.Second)}, dialOpts...)...)
		if err == nil {
			c.Close()
		}
		return err
	}, flags...)
}
