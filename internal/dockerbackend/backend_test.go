package dockerbackend

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pbuild/pbuild/builder"
	"github.com/pbuild/pbuild/internal/container"
	"github.com/pbuild/pbuild/internal/container/containertest"
	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/plan"
	"github.com/pbuild/pbuild/resolve"
	"github.com/pbuild/pbuild/toolchain"
)

var tc = &toolchain.Toolchain{Image: "pbuild/toolchain:go1.24.4-test", ImageID: "sha256:tc"}

// stage is a small staged workspace.
func stage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	containertest.WriteFiles(t, dir, map[string]string{
		"go.work":          "go 1.24.4\n\nuse ./host\n",
		"host/go.mod":      "module example.com/host\n",
		"host/main.go":     "package main\n",
		"plugins/p/p.go":   "package main\n",
		"plugins/p/go.mod": "module example.com/p\n",
	})
	return dir
}

// resolveEngine answers the resolve's commands from canned output.
type resolveEngine struct {
	*containertest.Fake
	listCode, vendorCode int
	vendorStderr         string
}

func newResolveEngine() *resolveEngine {
	f := &resolveEngine{Fake: &containertest.Fake{Tars: map[string][]byte{
		"/src/vendor": containertest.Tar(map[string]string{
			"vendor/modules.txt":                  "# golang.org/x/text v0.21.0\n",
			"vendor/golang.org/x/text/cases/x.go": "package cases\n",
		}),
		"/src/go.work.sum": containertest.Tar(map[string]string{"go.work.sum": "sums\n"}),
		"/src/go.work":     containertest.Tar(map[string]string{"go.work": "go 1.24.4\n\nuse (\n\t./host\n\t./.pbuild-pins\n)\n"}),
	}}}
	f.OnExec = func(ctx context.Context, id string, e container.Exec) (int, error) {
		switch strings.Join(e.Cmd, " ") {
		case "go list -mod=readonly -m -json all":
			io.WriteString(e.Stdout, `{"Path": "example.com/host", "Main": true}`)
			return f.listCode, nil
		case "go mod graph":
			io.WriteString(e.Stdout, "example.com/host golang.org/x/text@v0.21.0\n")
			return 0, nil
		case "go work vendor":
			io.WriteString(e.Stderr, f.vendorStderr)
			return f.vendorCode, nil
		case "touch go.work.sum", "go work use ./.pbuild-pins":
			return 0, nil
		}
		return 127, nil
	}
	return f
}

func TestResolve(t *testing.T) {
	for _, rounds := range []bool{false, true} {
		t.Run(fmt.Sprintf("rounds=%v", rounds), func(t *testing.T) {
			eng := newResolveEngine()
			var log bytes.Buffer
			b := &Backend{Engine: eng, Owner: "m.1.2", Log: &log}
			dir := stage(t)
			req := builder.ResolveRequest{Toolchain: tc, Stage: dir, Project: "/p/pbuild.yaml",
				Env: plan.ResolveEnv([]string{"GOPROXY=https://proxy.example", "HTTPS_PROXY=http://proxy:3128"}, true), CABundle: []byte("CA")}
			if rounds {
				req.UseDirs, req.Graph = []string{".pbuild-pins"}, true
			}
			out, err := b.Resolve(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			specs := eng.Specs()
			if len(specs) != 1 {
				t.Fatalf("%d containers", len(specs))
			}
			sp := specs[0]
			if sp.Image != tc.Image || sp.Step != "resolve" || !sp.Network || sp.Project != req.Project || sp.Owner != "m.1.2" || !reflect.DeepEqual(sp.Env, req.Env) {
				t.Errorf("spec %+v", sp)
			}
			if want := []container.Mount{{Volume: plan.ModCache, Target: plan.ModDir}}; !reflect.DeepEqual(sp.Mounts, want) {
				t.Errorf("mounts %v", sp.Mounts)
			}
			copied := eng.Copied("c1")
			if copied["/src/host/main.go"] != "package main\n" || copied[plan.CABundlePath] != "CA" {
				t.Errorf("copied in %v", slices.Sorted(maps.Keys(copied)))
			}
			var cmds []string
			for _, e := range eng.Execs() {
				cmds = append(cmds, strings.Join(e.Cmd, " "))
				if e.Dir != plan.SourceDir {
					t.Errorf("%q ran in %s", e.Cmd, e.Dir)
				}
			}
			want := []string{"go list -mod=readonly -m -json all", "go work vendor", "touch go.work.sum"}
			if rounds {
				want = []string{"go work use ./.pbuild-pins", "go list -mod=readonly -m -json all", "go mod graph", "go work vendor", "touch go.work.sum"}
			}
			if !reflect.DeepEqual(cmds, want) {
				t.Errorf("commands %q\nwant     %q", cmds, want)
			}
			if !strings.Contains(string(out.List), "example.com/host") || rounds != (len(out.Graph) > 0) {
				t.Errorf("list %q graph %q", out.List, out.Graph)
			}
			// vendor/, go.work.sum and, in rounds, go.work came back.
			for f, wantIt := range map[string]bool{"vendor/golang.org/x/text/cases/x.go": true, "go.work.sum": true} {
				if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f))); (err == nil) != wantIt {
					t.Errorf("%s came back: %v", f, err == nil)
				}
			}
			work, _ := os.ReadFile(filepath.Join(dir, "go.work"))
			if strings.Contains(string(work), ".pbuild-pins") != rounds {
				t.Errorf("go.work:\n%s", work)
			}
			eng.CheckAllRemoved(t)
		})
	}
}

func TestResolveFailures(t *testing.T) {
	missingSum := "go: missing go.sum entry for module providing package golang.org/x/text/cases\n"
	for _, c := range []struct {
		name     string
		setup    func(f *resolveEngine)
		step     string
		commands int
	}{
		{"go work vendor", func(f *resolveEngine) { f.vendorCode, f.vendorStderr = 1, missingSum }, "go work vendor", 2},
		{"go list", func(f *resolveEngine) { f.listCode = 1 }, "go list -m all", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			eng := newResolveEngine()
			c.setup(eng)
			var log bytes.Buffer
			dir := stage(t)
			_, err := (&Backend{Engine: eng, Log: &log}).Resolve(context.Background(), builder.ResolveRequest{Toolchain: tc, Stage: dir})
			var re *resolve.Error
			if !errors.As(err, &re) || re.Step != c.step || re.Code != 1 {
				t.Fatalf("got %v, want a resolve.Error of %s", err, c.step)
			}
			if n := len(eng.Execs()); n != c.commands {
				t.Errorf("%d commands ran, want %d: nothing after the failure", n, c.commands)
			}
			if _, err := os.Stat(filepath.Join(dir, "vendor")); err == nil {
				t.Error("vendor copied out after a failure")
			}
			if c.name == "go work vendor" && (!strings.Contains(log.String(), "missing go.sum entry") || !strings.Contains(re.Hint(), "go mod tidy")) {
				t.Errorf("log %q, hint %q", log.String(), re.Hint())
			}
			eng.CheckAllRemoved(t)
		})
	}
	// An archive entry that would leave the staging directory.
	eng := newResolveEngine()
	eng.Tars["/src/vendor"] = containertest.Tar(map[string]string{"../escape": "x"})
	parent := t.TempDir()
	dir := filepath.Join(parent, "stage")
	os.Mkdir(dir, 0o755)
	if _, err := (&Backend{Engine: eng}).Resolve(context.Background(), builder.ResolveRequest{Toolchain: tc, Stage: dir}); err == nil || !strings.Contains(err.Error(), "copy /src/vendor out") {
		t.Errorf("got %v, want the unsafe archive refused", err)
	}
	if _, err := os.Stat(filepath.Join(parent, "escape")); err == nil {
		t.Error("an entry escaped the staging directory")
	}
}

// buildEngine emulates the compile container: go build writes its -o
// (unless told to fail), cp -l pins, stat tells inodes, sha256sum sums.
type buildEngine struct {
	*containertest.Fake
	fail    map[string]int  // -o -> exit code
	keep    map[string]bool // -o the go command finds up to date
	tamper  map[string]bool // -o whose bytes changed in place
	onBuild func(ctx context.Context, out string) error

	mu      sync.Mutex
	built   []string // -o of every go build, in order
	linked  map[string]bool
	removed map[string]bool
}

func newBuildEngine() *buildEngine {
	f := &buildEngine{Fake: &containertest.Fake{}, fail: map[string]int{}, linked: map[string]bool{}, removed: map[string]bool{}}
	f.OnCopyFrom = func(id, p string) ([]byte, error) {
		if p != plan.OutDir {
			return nil, fmt.Errorf("%s: %w", p, container.ErrNotFound)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		out := map[string]string{}
		for _, o := range f.built {
			if !f.removed[o] {
				out[strings.TrimPrefix(o, "/")] = "linked " + o
			}
		}
		return containertest.Tar(out), nil
	}
	f.OnExec = func(ctx context.Context, id string, e container.Exec) (int, error) {
		switch {
		case e.Cmd[0] == "mkdir", e.Cmd[0] == "sh": // the pins
			return 0, nil
		case e.Cmd[0] == "stat":
			f.mu.Lock()
			defer f.mu.Unlock()
			for _, o := range e.Cmd[4:] {
				ino := "1"
				if f.linked[o] {
					ino = "2"
				}
				fmt.Fprintf(e.Stdout, "%s %s\n", ino, o)
			}
			return 0, nil
		case e.Cmd[0] == "sha256sum":
			copied := f.Copied(id)
			for _, o := range e.Cmd[2:] {
				sum := sha256.Sum256([]byte(copied[o]))
				if f.tamper[o] {
					sum[0] ^= 1
				}
				fmt.Fprintf(e.Stdout, "%s  %s\n", hex.EncodeToString(sum[:]), o)
			}
			return 0, nil
		case e.Cmd[0] == "rm":
			f.mu.Lock()
			defer f.mu.Unlock()
			for _, o := range e.Cmd[3:] {
				f.removed[o] = true
			}
			return 0, nil
		case e.Cmd[0] == "go" && e.Cmd[1] == "build":
			o := e.Cmd[len(e.Cmd)-2]
			if f.onBuild != nil {
				if err := f.onBuild(ctx, o); err != nil {
					return -1, err
				}
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if code, ok := f.fail[o]; ok {
				io.WriteString(e.Stdout, o+" broke")
				return code, nil
			}
			f.built = append(f.built, o)
			if !f.keep[o] {
				f.linked[o] = true
			}
			return 0, nil
		}
		return 127, nil
	}
	return f
}

func unit(kind plan.Kind, name string) builder.Unit {
	t := plan.Target{Name: name, Kind: kind}
	out := plan.OutDir + "/" + t.File()
	return builder.Unit{Target: t, Args: (plan.Settings{}).GoBuildArgs(t, "sha256:k", out), Dir: "/src/" + name, Out: out}
}

func compileRequest(t *testing.T) builder.CompileRequest {
	return builder.CompileRequest{Toolchain: tc, Stage: stage(t), Out: t.TempDir(), Env: (plan.Settings{}).CompileEnv(plan.Platform{OS: "linux", Arch: "amd64"}, ""), Project: "/p/pbuild.yaml",
		Phases: [][]builder.Unit{{unit(plan.Host, "h"), unit(plan.Plugin, "a")}, {unit(plan.Plugin, "b"), unit(plan.Plugin, "c")}}}
}

func TestCompile(t *testing.T) {
	eng := newBuildEngine()
	b := &Backend{Engine: eng, Owner: "m.1.2"}
	r := compileRequest(t)
	out, err := b.Compile(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Kept) != 0 {
		t.Errorf("kept %v without a last build", out.Kept)
	}
	sp := eng.Specs()[0]
	if sp.Step != "build" || sp.Network || sp.Owner != "m.1.2" || !reflect.DeepEqual(sp.Env, r.Env) {
		t.Errorf("spec %+v", sp)
	}
	if want := []container.Mount{{Volume: plan.GoCache, Target: plan.GoCacheDir}, {Target: plan.TmpDir, Tmpfs: true}}; !reflect.DeepEqual(sp.Mounts, want) {
		t.Errorf("mounts %v", sp.Mounts)
	}
	// The host and a first, b and c after both; every unit in its Dir.
	first := slices.Clone(eng.built[:2])
	slices.Sort(first)
	if !slices.Equal(first, []string{"/out/h", "/out/plugins/a.so"}) || len(eng.built) != 4 {
		t.Errorf("build order %v", eng.built)
	}
	for _, e := range eng.Execs() {
		if e.Cmd[0] == "go" && e.Dir != "/src/"+strings.TrimSuffix(filepath.Base(e.Cmd[len(e.Cmd)-2]), ".so") {
			t.Errorf("%q ran in %s", e.Cmd, e.Dir)
		}
	}
	if e := eng.Execs()[0]; e.Cmd[0] != "mkdir" || !slices.Contains(e.Cmd, "/out/plugins") {
		t.Errorf("first command %q, want the output directories made", e.Cmd)
	}
	for _, f := range []string{"h", "plugins/a.so", "plugins/b.so", "plugins/c.so"} {
		if data, err := os.ReadFile(filepath.Join(r.Out, filepath.FromSlash(f))); err != nil || string(data) != "linked /out/"+f {
			t.Errorf("%s = %q, %v", f, data, err)
		}
	}
	eng.CheckAllRemoved(t)
}

func TestCompileFailures(t *testing.T) {
	for _, c := range []struct {
		name string
		fail map[string]int
		want []string // failed units
		ran  int      // go builds that ran
	}{
		{"second phase: both reported", map[string]int{"/out/plugins/b.so": 1, "/out/plugins/c.so": 2}, []string{"plugin b", "plugin c"}, 4},
		{"first phase: the second does not run", map[string]int{"/out/h": 1}, []string{"host h"}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			eng := newBuildEngine()
			eng.fail = c.fail
			r := compileRequest(t)
			_, err := (&Backend{Engine: eng}).Compile(context.Background(), r)
			var got []string
			for _, e := range unwrapAll(err) {
				if ce, ok := e.(*builder.CompileError); ok {
					got = append(got, ce.Kind+" "+ce.Name)
					if !strings.Contains(ce.Output, "broke") || ce.Code == 0 {
						t.Errorf("%v", ce)
					}
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Fatalf("failed %v, want %v (%v)", got, c.want, err)
			}
			if n := len(eng.Execs()) - 1; n != c.ran {
				t.Errorf("%d go builds, want %d", n, c.ran)
			}
			if len(eng.CopiesOut()) != 0 {
				t.Error("artifacts copied out after a failure")
			}
			eng.CheckAllRemoved(t)
		})
	}
}

func unwrapAll(err error) []error {
	out := []error{err}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, unwrapAll(e)...)
		}
	case interface{ Unwrap() error }:
		if e := u.Unwrap(); e != nil {
			out = append(out, unwrapAll(e)...)
		}
	}
	return out
}

func TestCompileCancelled(t *testing.T) {
	eng := newBuildEngine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	eng.onBuild = func(bctx context.Context, out string) error {
		if out != "/out/plugins/a.so" {
			return nil
		}
		cancel() // Ctrl-C while go build runs
		select {
		case <-bctx.Done():
			return bctx.Err()
		case <-time.After(30 * time.Second):
			return errors.New("go build was not cancelled")
		}
	}
	_, err := (&Backend{Engine: eng}).Compile(ctx, compileRequest(t))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	for _, o := range eng.built {
		if o == "/out/plugins/b.so" || o == "/out/plugins/c.so" {
			t.Errorf("%s built after the cancellation", o)
		}
	}
	eng.CheckAllRemoved(t)
}

// TestCompileKeeps: the last build's artifacts are given to the go
// command; one it kept (the pinned inode, the recorded bytes) is not copied
// out again; one linked again, or changed in place, is.
func TestCompileKeeps(t *testing.T) {
	prevDir := t.TempDir()
	prev := map[string]manifests.Artifact{}
	for _, f := range []string{"h", "plugins/a.so", "plugins/b.so"} {
		content := "old " + f
		containertest.WriteFiles(t, prevDir, map[string]string{f: content})
		sum := sha256.Sum256([]byte(content))
		prev[f] = manifests.Artifact{File: f, SHA256: hex.EncodeToString(sum[:])}
	}
	eng := newBuildEngine()
	eng.keep = map[string]bool{"/out/h": true, "/out/plugins/a.so": true}
	eng.tamper = map[string]bool{"/out/plugins/a.so": true}
	r := compileRequest(t)
	r.Previous, r.PreviousDir = prev, prevDir
	var mu sync.Mutex
	var events []string
	out, err := (&Backend{Engine: eng, OnEvent: func(m string) { mu.Lock(); defer mu.Unlock(); events = append(events, m) }}).Compile(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.Kept, []string{"h"}) {
		t.Errorf("kept %v, want [h]", out.Kept)
	}
	if copied := eng.Copied("c1"); copied["/out/plugins/b.so"] != "old plugins/b.so" {
		t.Errorf("the last build's artifacts were not given: %v", slices.Sorted(maps.Keys(copied)))
	}
	if _, err := os.Stat(filepath.Join(r.Out, "h")); err == nil {
		t.Error("the kept host was copied out")
	}
	if data, _ := os.ReadFile(filepath.Join(r.Out, "plugins", "a.so")); string(data) != "linked /out/plugins/a.so" {
		t.Errorf("a tampered artifact was kept: %q", data)
	}
	if !slices.Contains(events, "3 artifacts of the last build given to the go command, which links only what changed") {
		t.Errorf("events %q", events)
	}
	// Forced: nothing is given.
	eng = newBuildEngine()
	r.Force = true
	out, err = (&Backend{Engine: eng}).Compile(context.Background(), r)
	if err != nil || len(out.Kept) != 0 {
		t.Fatalf("forced: kept %v, %v", out.Kept, err)
	}
	if _, given := eng.Copied("c1")["/out/h"]; given {
		t.Error("forced, the last build's host was given")
	}
}
