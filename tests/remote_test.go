package tests

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pbuild/pbuild/internal/buildkitengine"
	"github.com/pbuild/pbuild/internal/buildkitengine/buildkittest"
	"github.com/pbuild/pbuild/internal/digest"
	"github.com/pbuild/pbuild/internal/owner"
)

// TestRemoteBuildKit builds examples/greeter with the real pbuild on a
// buildkitd of its own (no registry, an empty store: the toolchain travels
// as an OCI layout) and on the Docker backend, from two checkouts, and
// requires the same bytes for every file.
func TestRemoteBuildKit(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	ctx := context.Background()
	requireEngine(t)
	addr := buildkittest.Start(t, "", func(addr string) error {
		c, err := buildkitengine.Dial(ctx, addr, buildkitengine.WithCheckTimeout(2*time.Second))
		if err == nil {
			c.Close()
		}
		return err
	})

	bin := buildPbuild(t)
	work := t.TempDir()
	dists := map[string]string{}
	for _, backend := range [][]string{{"docker", "--backend", "docker"}, {"remote", "--backend", "buildkit", "--buildkit-addr", addr}} {
		co := filepath.Join(work, backend[0])
		for _, dir := range []string{"examples/greeter", "loader"} {
			if err := copyTree(filepath.Join(repoRoot(t), dir), filepath.Join(co, dir)); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		cmd := exec.Command(bin, append([]string{"build", "--progress=plain"}, backend[1:]...)...)
		cmd.Dir = filepath.Join(co, "examples/greeter")
		cmd.Env = append(os.Environ(), "PBUILD_CACHE="+pbuildCache())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pbuild build %v: %v\n%s", backend[1:], err, out)
		}
		t.Logf("%s backend: %v", backend[0], time.Since(start).Round(time.Second))
		dists[backend[0]] = filepath.Join(co, "examples/greeter/dist")
	}
	a, b := digests(t, dists["docker"]), digests(t, dists["remote"])
	// The host, three plugins, the manifest and the inputs record.
	if len(a) != 6 {
		t.Fatalf("docker backend made %d files: %v", len(a), a)
	}
	for name, sum := range a {
		if b[name] != sum {
			t.Errorf("%s: docker backend %s, remote buildkitd %s", name, sum, b[name])
		}
	}
	if len(a) != len(b) {
		t.Errorf("docker backend made %d files, remote buildkitd %d", len(a), len(b))
	}
}

// pbuildCache is where downloaded toolchains are kept between the tests
// of one run (see TestMain).
func pbuildCache() string { return os.Getenv("PBUILD_CACHE") }

// digests maps every file below dir to its sha256.
func digests(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == owner.MarkerFile {
			return err
		}
		sum, err := digest.File(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = sum
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
