package builder

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pbuild/pbuild/config"
	"github.com/pbuild/pbuild/internal/container"
	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/plan"
)

// crossProbeOutput is the probe of a toolchain image with the arm64 cross
// compiler.
const crossProbeOutput = probeOutput + "cross linux/arm64 aarch64-linux-gnu-gcc aarch64-linux-gnu-gcc (Debian 12.2.0-14) 12.2.0\n" +
	"package gcc-aarch64-linux-gnu=4:12.2.0-3\npackage libc6-dev-arm64-cross=2.36-8cross1\n"

// platformsSetup is the host-only project built for linux/amd64 and
// linux/arm64.
func platformsSetup(t *testing.T) *setup {
	t.Helper()
	s, _ := hostOnlySetup(t)
	s.eng.OnExec = func(ctx context.Context, id string, e container.Exec) (int, error) {
		if len(e.Cmd) == 3 && strings.HasPrefix(e.Cmd[2], "go version") {
			io.WriteString(e.Stdout, crossProbeOutput)
			return 0, nil
		}
		return 127, nil
	}
	data, err := os.ReadFile(s.cfg.File)
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, "platforms: [linux/amd64, linux/arm64]\n"...)
	if s.cfg, err = config.Parse(s.cfg.File, data); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBuildPlatforms(t *testing.T) {
	s := platformsSetup(t)
	res, err := Build(context.Background(), s.cfg, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	// One compile per platform, the arm64 one with its cross compiler.
	if len(s.be.compiles) != 2 {
		t.Fatalf("%d compiles, want one per platform", len(s.be.compiles))
	}
	amd, arm := s.be.compiles[0], s.be.compiles[1]
	if !slices.Contains(amd.Env, "GOARCH=amd64") || slices.ContainsFunc(amd.Env, func(kv string) bool { return strings.HasPrefix(kv, "CC=") }) {
		t.Errorf("amd64 compile env %q", amd.Env)
	}
	if !slices.Contains(arm.Env, "GOARCH=arm64") || !slices.Contains(arm.Env, "CC=aarch64-linux-gnu-gcc") {
		t.Errorf("arm64 compile env %q", arm.Env)
	}
	// Each platform's files and manifest in its own directory.
	dist := filepath.Join(s.root, "dist")
	if len(res.Manifests) != 2 || res.Manifests[1].File() != "linux_arm64/pbuild.manifest.json" || res.Manifest != res.Manifests[0].Manifest {
		t.Fatalf("manifests %+v", res.Manifests)
	}
	for _, pm := range res.Manifests {
		m, err := manifests.ReadFile(context.Background(), filepath.Join(dist, filepath.FromSlash(pm.File())))
		if err != nil {
			t.Fatal(err)
		}
		if m.Toolchain.GOARCH != pm.Platform.Arch || m.ABIKey != pm.Manifest.ABIKey {
			t.Errorf("%s: manifest for %s, key %s", pm.Platform, m.Toolchain.GOARCH, m.ABIKey)
		}
		if _, err := os.Stat(filepath.Join(dist, pm.Platform.Dir(), "greeter")); err != nil {
			t.Error(err)
		}
	}
	arm64 := res.Manifests[1].Manifest.Toolchain
	if arm64.CC != "aarch64-linux-gnu-gcc (Debian 12.2.0-14) 12.2.0" || arm64.GOAMD64 != "" {
		t.Errorf("arm64 toolchain %+v", arm64)
	}
	if res.Manifests[0].Manifest.ABIKey == res.Manifests[1].Manifest.ABIKey {
		t.Error("the two platforms share an ABI key")
	}
	if _, err := os.Stat(filepath.Join(dist, manifests.FileName)); !os.IsNotExist(err) {
		t.Errorf("a top-level manifest in a multi-platform output: %v", err)
	}

	// The same inputs again: up to date, every platform's manifest back.
	again, err := Build(context.Background(), s.cfg, s.opts)
	if err != nil || !again.UpToDate || len(again.Manifests) != 2 || again.Manifests[1].Manifest.ABIKey != res.Manifests[1].Manifest.ABIKey {
		t.Fatalf("second build: %+v, %v", again, err)
	}
	// One platform's artifact changed on disk: built again.
	if err := os.WriteFile(filepath.Join(dist, "linux_arm64", "greeter"), []byte("tampered"), 0o755); err != nil {
		t.Fatal(err)
	}
	third, err := Build(context.Background(), s.cfg, s.opts)
	if err != nil || third.UpToDate {
		t.Fatalf("build after tampering: up to date %v, %v", third != nil && third.UpToDate, err)
	}
}

func TestRebuildPinsOnePlatform(t *testing.T) {
	s := platformsSetup(t)
	res, err := Build(context.Background(), s.cfg, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	pm := res.Manifests[1]
	s.opts.Pin = &Pin{Manifest: pm.Manifest, Source: pm.File()}
	s.opts.Output = filepath.Join(s.root, "rebuilt")
	compiles := len(s.be.compiles)
	again, err := Build(context.Background(), s.cfg, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Manifests) != 1 || again.Manifests[0].Platform != (plan.Platform{OS: "linux", Arch: "arm64"}) || again.Manifests[0].Dir != "" {
		t.Fatalf("rebuild manifests %+v", again.Manifests)
	}
	if n := len(s.be.compiles) - compiles; n != 1 || !slices.Contains(s.be.compiles[compiles].Env, "GOARCH=arm64") {
		t.Errorf("rebuild compiled %d times, env %q", n, s.be.compiles[compiles].Env)
	}
	if _, err := os.Stat(filepath.Join(s.root, "rebuilt", manifests.FileName)); err != nil {
		t.Error(err)
	}
	if diffs := CompareArtifacts(pm.Manifest, again.Manifest); len(diffs) != 0 {
		t.Errorf("rebuild differs: %+v", diffs)
	}
}

func TestPlanLibrariesNeedNoHost(t *testing.T) {
	s, _ := hostOnlySetup(t)
	for _, tc := range []struct {
		yaml   string
		wantOK bool
	}{
		{"libraries:\n  - { name: greet, path: ./host }\n", true},
		{"libraries:\n  - { name: greet, path: ./host, buildmode: c-archive }\n", true},
		{"plugins:\n  - { name: hello, path: ./plugins/hello }\n", false},
	} {
		cfg, err := config.Parse(s.cfg.File, []byte("version: 1\ntoolchain: {go: 1.24.4}\n"+tc.yaml))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = planBuild(cfg, &s.opts)
		var pe *PinError
		if tc.wantOK != (err == nil) || (!tc.wantOK && !errors.As(err, &pe)) {
			t.Errorf("%s: planBuild = %v", tc.yaml, err)
		}
	}
}
