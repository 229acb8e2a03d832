package buildkitengine

import (
	"github.com/distribution/reference"

	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/solver/pb"
	digest "github.com/opencontainers/go-digest"

	"github.com/pbuild/pbuild/plan"
)

// graph is a marshalled LLB definition, its ops by digest.
type graph struct {
	ops   map[digest.Digest]*pb.Op
	names map[digest.Digest]string
	order []digest.Digest
}

func marshal(t *testing.T, st llb.State) *graph {
	t.Helper()
	def, err := st.Marshal(context.Background(), llb.LinuxAmd64)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	g := &graph{ops: map[digest.Digest]*pb.Op{}, names: map[digest.Digest]string{}}
	for _, dt := range def.Def {
		var op pb.Op
		if err := op.UnmarshalVT(dt); err != nil {
			t.Fatalf("unmarshal op: %v", err)
		}
		d := digest.FromBytes(dt)
		g.ops[d] = &op
		g.order = append(g.order, d)
	}
	for d, m := range def.Metadata {
		g.names[d] = m.Description["llb.customname"]
	}
	return g
}

// execs are the exec ops by their custom name.
func (g *graph) execs() map[string]*pb.ExecOp {
	out := map[string]*pb.ExecOp{}
	for _, d := range g.order {
		if e := g.ops[d].GetExec(); e != nil {
			out[g.names[d]] = e
		}
	}
	return out
}

// input is the op feeding input i of op.
func (g *graph) input(op *pb.Op, i int64) *pb.Op {
	return g.ops[digest.Digest(op.Inputs[i].Digest)]
}

func (g *graph) opOf(e *pb.ExecOp) *pb.Op {
	for _, op := range g.ops {
		if op.GetExec() == e {
			return op
		}
	}
	return nil
}

func mountAt(e *pb.ExecOp, dest string) *pb.Mount {
	for _, m := range e.Mounts {
		if m.Dest == dest {
			return m
		}
	}
	return nil
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

var testArtifacts = []Artifact{
	{Name: "host greeter", Dir: "/src/host", Out: "/out/greeter",
		Args: []string{"go", "build", "-mod=vendor", "-trimpath", "-buildvcs=false", "-ldflags=-X main.pbuildABIKey=sha256:ab", "-o", "/out/greeter", "."}},
	{Name: "plugin hello", Dir: "/src/plugins/hello", Out: "/out/plugins/hello.so",
		Args: []string{"go", "build", "-mod=vendor", "-trimpath", "-buildvcs=false", "-tags=a,b", "-ldflags=-X main.pbuildABIKey=sha256:ab", "-buildmode=plugin", "-o", "/out/plugins/hello.so", "."}},
	{Name: "plugin shout", Dir: "/src/plugins/shout", Out: "/out/plugins/shout.so",
		Args: []string{"go", "build", "-mod=vendor", "-trimpath", "-buildvcs=false", "-ldflags=-X main.pbuildABIKey=sha256:ab", "-buildmode=plugin", "-o", "/out/plugins/shout.so", "."}},
}

var testBuildEnv = []string{"GOWORK=/src/go.work", "GOTOOLCHAIN=local", "GOFLAGS=", "GOPROXY=off", "GOTELEMETRY=off", "HOME=/root", "GOCACHE=/root/.cache/go-build", "CGO_CFLAGS=-O2", "GOAMD64=v1"}

func TestCompileGraph(t *testing.T) {
	tc := ToolchainImage("pbuild/toolchain:go1.24.4-test", nil)
	st, err := Compile(tc, CompileSpec{Source: Source(), Env: testBuildEnv, Artifacts: testArtifacts})
	if err != nil {
		t.Fatal(err)
	}
	g := marshal(t, st)
	execs := g.execs()
	if len(execs) != len(testArtifacts) {
		t.Fatalf("%d execs, want %d: %v", len(execs), len(testArtifacts), execs)
	}
	for _, a := range testArtifacts {
		e := execs[a.VertexName()]
		if e == nil {
			t.Fatalf("no exec named %q", a.VertexName())
		}
		if e.Network != pb.NetMode_NONE {
			t.Errorf("%s: network %v, want none", a.Name, e.Network)
		}
		if !slices.Equal(e.Meta.Args, a.Args) {
			t.Errorf("%s: argv %q, want %q", a.Name, e.Meta.Args, a.Args)
		}
		if e.Meta.Cwd != a.Dir {
			t.Errorf("%s: cwd %q, want %q", a.Name, e.Meta.Cwd, a.Dir)
		}
		env := envMap(e.Meta.Env)
		for k, want := range map[string]string{
			"PATH":        "/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"GOTOOLCHAIN": "local", "GOCACHE": GoCacheDir, "GOMODCACHE": GoModCacheDir, "GOFLAGS": "", "HOME": "/root",
			"GOWORK": "/src/go.work", "GOPROXY": "off", "CGO_CFLAGS": "-O2", "GOAMD64": "v1", "GOPATH": "/go", "GOTELEMETRY": "off",
		} {
			if got, ok := env[k]; !ok || got != want {
				t.Errorf("%s: %s=%q (set %v), want %q", a.Name, k, got, ok, want)
			}
		}
		if len(env) != len(e.Meta.Env) {
			t.Errorf("%s: duplicate keys in env %q", a.Name, e.Meta.Env)
		}
		cache := mountAt(e, GoCacheDir)
		if cache == nil || cache.MountType != pb.MountType_CACHE || cache.CacheOpt.ID != GoCacheID || cache.CacheOpt.Sharing != pb.CacheSharingOpt_SHARED {
			t.Errorf("%s: cache mount %v, want shared cache %s at %s", a.Name, cache, GoCacheID, GoCacheDir)
		}
		src := mountAt(e, SourceDir)
		if src == nil || !src.Readonly {
			t.Errorf("%s: source mount %v, want read-only at %s", a.Name, src, SourceDir)
		} else if in := g.input(g.opOf(e), src.Input); in.GetSource() == nil || in.GetSource().Identifier != "local://"+SourceContext {
			t.Errorf("%s: source mount from %v, want local://%s", a.Name, in, SourceContext)
		}
		if tmp := mountAt(e, TmpDir); tmp == nil || tmp.MountType != pb.MountType_TMPFS {
			t.Errorf("%s: %s mount %v, want a tmpfs", a.Name, TmpDir, tmp)
		}
		out := mountAt(e, OutDir)
		if out == nil || out.Readonly || out.Output < 0 {
			t.Errorf("%s: out mount %v, want a writable output at %s", a.Name, out, OutDir)
		}
		root := mountAt(e, "/")
		if in := g.input(g.opOf(e), root.Input); in.GetSource() == nil || in.GetSource().Identifier != "docker-image://"+normalized("pbuild/toolchain:go1.24.4-test") {
			t.Errorf("%s: root from %v, want the toolchain image", a.Name, in)
		}
	}
	// The result gathers every artifact by copies (no MergeOp for old daemons).
	var copies []string
	for _, op := range g.ops {
		if op.GetMerge() != nil {
			t.Errorf("merge op in graph; Docker 20.10's BuildKit has none")
		}
		if f := op.GetFile(); f != nil {
			for _, a := range f.Actions {
				if c := a.GetCopy(); c != nil {
					copies = append(copies, c.Src+"->"+c.Dest)
				}
			}
		}
	}
	if len(copies) != len(testArtifacts) {
		t.Errorf("copies %v, want one per artifact", copies)
	}
}

func TestCompileGraphNoCacheSharingBetweenIDs(t *testing.T) {
	tc := ToolchainImage("img", nil)
	st, err := Compile(tc, CompileSpec{Source: llb.Scratch(), Artifacts: testArtifacts[:1], CacheID: "other", Env: []string{"GOCACHE=/cache"}})
	if err != nil {
		t.Fatal(err)
	}
	e := marshal(t, st).execs()[testArtifacts[0].VertexName()]
	if m := mountAt(e, "/cache"); m == nil || m.CacheOpt.ID != "other" {
		t.Fatalf("cache mount follows GOCACHE and CacheID: %v", e.Mounts)
	}
	if envMap(e.Meta.Env)["GOCACHE"] != "/cache" {
		t.Errorf("the Run's GOCACHE overrides the toolchain's: %q", e.Meta.Env)
	}
}

func TestCompileRejects(t *testing.T) {
	tc := ToolchainImage("img", nil)
	a := testArtifacts[0]
	for name, arts := range map[string][]Artifact{
		"none":         nil,
		"outside /out": {{Name: "x", Dir: "/src", Args: a.Args, Out: "/tmp/x"}},
		"unclean":      {{Name: "x", Dir: "/src", Args: a.Args, Out: "/out/../x"}},
		"twice":        {a, a},
		"no command":   {{Name: "x", Dir: "/src", Out: "/out/x"}},
		"relative dir": {{Name: "x", Dir: "src", Args: a.Args, Out: "/out/x"}},
	} {
		if _, err := Compile(tc, CompileSpec{Source: Source(), Artifacts: arts}); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestResolveGraph(t *testing.T) {
	tc := ToolchainImage("pbuild/toolchain:go1.24.4-test", nil)
	ca := []byte("-----BEGIN CERTIFICATE-----\nxx\n-----END CERTIFICATE-----\n")
	spec := ResolveSpec{
		Source:   Source(),
		Env:      plan.ResolveEnv([]string{"GOPROXY=https://proxy.example", "GOFLAGS=-x", "HTTPS_PROXY=http://proxy:3128", "no_proxy=localhost"}, true),
		CABundle: ca,
	}
	st, err := Resolve(tc, spec)
	if err != nil {
		t.Fatal(err)
	}
	g := marshal(t, st)
	e := g.execs()[StepList]
	if e == nil {
		t.Fatalf("no go list exec: %v", g.execs())
	}
	if e.Network != pb.NetMode_UNSET {
		t.Errorf("network %v, want the sandbox's (unset)", e.Network)
	}
	if !slices.Equal(e.Meta.Args, []string{"/bin/sh", "-c", "go list -mod=readonly -m -json all > /out/buildlist.json"}) {
		t.Errorf("argv %q", e.Meta.Args)
	}
	if e.Meta.Cwd != SourceDir {
		t.Errorf("cwd %q", e.Meta.Cwd)
	}
	env := envMap(e.Meta.Env)
	for k, want := range map[string]string{
		"GOPROXY": "https://proxy.example", "GOFLAGS": "-x", "GOWORK": "/src/go.work", "GOTOOLCHAIN": "local",
		"SSL_CERT_FILE": "/etc/pbuild/ca-certificates.crt", "PATH": "/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"GOMODCACHE": GoModCacheDir, "HOME": "/root",
	} {
		if env[k] != want {
			t.Errorf("%s=%q, want %q", k, env[k], want)
		}
	}
	if _, ok := env["HTTPS_PROXY"]; ok {
		t.Errorf("proxy in env (and in the cache key): %q", e.Meta.Env)
	}
	if p := e.Meta.ProxyEnv; p == nil || p.HttpsProxy != "http://proxy:3128" || p.NoProxy != "localhost" {
		t.Errorf("proxy env %v", p)
	}
	mc := mountAt(e, GoModCacheDir)
	if mc == nil || mc.MountType != pb.MountType_CACHE || mc.CacheOpt.ID != GoModCacheID {
		t.Errorf("module cache mount %v", mc)
	}
	src := mountAt(e, SourceDir)
	if src == nil || src.Readonly {
		t.Errorf("source mount %v, want writable (go work vendor writes)", src)
	}
	op := g.opOf(e)
	if in := g.input(op, mountAt(e, "/").Input); in.GetSource().GetIdentifier() != "docker-image://"+normalized("pbuild/toolchain:go1.24.4-test") {
		t.Errorf("root from %v", in)
	}
	camount := mountAt(e, CABundleDir)
	if camount == nil || !camount.Readonly {
		t.Fatalf("CA mount %v", camount)
	}
	mk := g.input(op, camount.Input).GetFile().GetActions()[0].GetMkfile()
	if mk == nil || mk.Path != "/"+CABundleFile || string(mk.Data) != string(ca) {
		t.Errorf("CA file %v", mk)
	}
	out := mountAt(e, OutDir)
	if out == nil || out.Output < 0 {
		t.Errorf("out mount %v", out)
	}
}

// TestResolveSteps: one Run per command, so that a failure names its
// command by the Run's name, not by markers in its output.
func TestResolveSteps(t *testing.T) {
	g := marshal(t, must(Resolve(ToolchainImage("img", nil), ResolveSpec{Source: Source()})))
	execs := g.execs()
	for name, cmd := range map[string]string{
		StepList:   "go list -mod=readonly -m -json all > /out/buildlist.json",
		StepVendor: "go work vendor && touch go.work.sum",
	} {
		e := execs[name]
		if e == nil || !slices.Equal(e.Meta.Args, []string{"/bin/sh", "-c", cmd}) {
			t.Errorf("%s: %v, want %q", name, e, cmd)
		}
	}
	if _, ok := execs[StepGraph]; ok {
		t.Error("a plain resolve lists the module graph")
	}
	if _, ok := execs[StepWorkUse]; ok {
		t.Error("a plain resolve runs go work use")
	}
}

func TestResolveRejectsBadEnv(t *testing.T) {
	if _, err := Resolve(ToolchainImage("img", nil), ResolveSpec{Source: Source(), Env: []string{"NOEQUALS"}}); err == nil {
		t.Fatal("no error")
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"A=1", "B=2", "C=3"}, []string{"B=20", "D=4", "A="})
	want := []string{"A=", "B=20", "C=3", "D=4"}
	if !slices.Equal(got, want) {
		t.Errorf("mergeEnv = %q, want %q", got, want)
	}
}

func TestAddrKind(t *testing.T) {
	for addr, want := range map[string]kind{
		"": kindDocker, "docker": kindDocker, "docker://": kindDocker, "docker://unix:///x.sock": kindDocker,
		"unix:///run/buildkit/buildkitd.sock": kindUnix, "tcp://h:1234": kindTCP, "docker-container://bk": kindDockerContainer,
		"ssh://h": -1,
	} {
		if got, _ := addrKind(addr); got != want {
			t.Errorf("addrKind(%q) = %v, want %v", addr, got, want)
		}
	}
	if _, h := addrKind("docker://tcp://h:2376"); h != "tcp://h:2376" {
		t.Errorf("docker host %q", h)
	}
	_, err := Dial(context.Background(), "ssh://h")
	var de *DialError
	if !errors.As(err, &de) || de.Hint() == "" {
		t.Errorf("Dial(ssh://) = %v, want a DialError with a hint", err)
	}
	if _, err := Dial(context.Background(), "tcp://h:1", WithTLS("", "cert.pem", "", "")); err == nil {
		t.Error("a certificate without its key accepted")
	}
}

func TestBlame(t *testing.T) {
	r := newRecorder(0)
	r.record(clientStatus{
		vertex("a", "build plugin hello", `process "go build" did not complete successfully: exit code: 1`),
		vertex("b", "build plugin shout", "context canceled"),
		vertex("c", "build host greeter", ""),
	}.status("a", "hello.go:3: undefined: x\n"))
	err := r.blame(errors.New("solve failed"))
	var ee *ExecError
	if !errors.As(err, &ee) || ee.Vertex != "build plugin hello" || ee.ExitCode != 1 || !strings.Contains(ee.Output, "undefined: x") {
		t.Fatalf("blame = %#v", err)
	}

	r = newRecorder(0)
	r.record(clientStatus{vertex("i", "toolchain img", "img: not found")}.status("", ""))
	var se *SolveError
	if err := r.blame(errors.New("x")); !errors.As(err, &se) || se.Vertex != "toolchain img" {
		t.Errorf("blame = %#v", err)
	}
}

type clientStatus []*client.Vertex

func vertex(d, name, err string) *client.Vertex {
	return &client.Vertex{Digest: digest.FromString(d), Name: name, Error: err}
}

func (c clientStatus) status(logVertex, data string) *client.SolveStatus {
	ss := &client.SolveStatus{Vertexes: c}
	if data != "" {
		ss.Logs = []*client.VertexLog{{Vertex: digest.FromString(logVertex), Data: []byte(data)}}
	}
	return ss
}

func TestNoCache(t *testing.T) {
	tc := ToolchainImage("img", nil)
	for _, noCache := range []bool{false, true} {
		st, err := Compile(tc, CompileSpec{Source: Source(), Artifacts: testArtifacts[:1], NoCache: noCache})
		if err != nil {
			t.Fatal(err)
		}
		def, err := st.Marshal(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ignored := false
		for _, m := range def.Metadata {
			if m.Description["llb.customname"] == testArtifacts[0].VertexName() {
				ignored = m.IgnoreCache
			}
		}
		if ignored != noCache {
			t.Errorf("NoCache %v: ignore_cache %v", noCache, ignored)
		}
	}
}

func TestDialUnreachableDocker(t *testing.T) {
	start := time.Now()
	_, err := Dial(context.Background(), DockerAddr, WithDockerHost("unix://"+t.TempDir()+"/no-docker.sock"), WithCheckTimeout(5*time.Second))
	var de *DialError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "no-docker.sock") || !strings.Contains(de.Hint(), "Docker engine") {
		t.Fatalf("Dial = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
}

// normalized is an image reference as BuildKit spells it, with the default
// registry it implies (computed, not written down).
func normalized(ref string) string {
	n, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		panic(err)
	}
	return n.String()
}

func TestCompilePhases(t *testing.T) {
	tc := ToolchainImage("img", nil)
	for _, first := range []int{0, 2, 3} {
		st, err := Compile(tc, CompileSpec{Source: Source(), Artifacts: testArtifacts, First: first})
		if err != nil {
			t.Fatal(err)
		}
		g := marshal(t, st)
		execs := g.execs()
		for i, a := range testArtifacts {
			e := execs[a.VertexName()]
			stamp := mountAt(e, StampDir)
			leaves := first > 0 && first < len(testArtifacts) && i < first
			if leaves != (stamp != nil) {
				t.Errorf("first %d: %s: stamp mount %v, want one: %v", first, a.Name, stamp, leaves)
			}
			if stamp != nil && (stamp.Readonly || stamp.Output < 0 || stamp.Input >= 0) {
				t.Errorf("first %d: %s: stamp %v, want a writable empty output", first, a.Name, stamp)
			}
			waits := first > 0 && i >= first
			for j := 0; j < first && j < len(testArtifacts); j++ {
				m := mountAt(e, StampDir+"/"+strconv.Itoa(j))
				if waits != (m != nil) {
					t.Fatalf("first %d: %s: mount of stamp %d %v, want one: %v", first, a.Name, j, m, waits)
				}
				if m == nil {
					continue
				}
				if !m.Readonly || m.Output >= 0 {
					t.Errorf("first %d: %s: stamp %d mounted %v, want read-only (content-keyed)", first, a.Name, j, m)
				}
				if in := g.input(g.opOf(e), m.Input); in.GetExec() != execs[testArtifacts[j].VertexName()] {
					t.Errorf("first %d: %s: stamp %d from %v, want %s", first, a.Name, j, in, testArtifacts[j].Name)
				}
			}
		}
	}
	if _, err := Compile(tc, CompileSpec{Source: Source(), Artifacts: testArtifacts, First: 4}); err == nil {
		t.Error("First beyond the artifacts: no error")
	}
}

func TestCompileInputs(t *testing.T) {
	tc := ToolchainImage("img", nil)
	a := testArtifacts[1]
	a.Inputs = []string{"vendor", "plugins/hello", "go.work", "plugins/hello/go.mod", "api", "plugins/shout/go.mod", "plugins/hello-x"}
	st, err := Compile(tc, CompileSpec{Source: Source(), Artifacts: []Artifact{a}})
	if err != nil {
		t.Fatal(err)
	}
	g := marshal(t, st)
	e := g.execs()[a.VertexName()]
	if m := mountAt(e, SourceDir); m != nil {
		t.Errorf("the whole source mounted: %v", m)
	}
	var got []string
	for _, m := range e.Mounts {
		rel, ok := strings.CutPrefix(m.Dest, SourceDir+"/")
		if !ok {
			continue
		}
		got = append(got, rel)
		if !m.Readonly || m.Selector != "/"+rel {
			t.Errorf("%s mounted %v, want read-only from /%s", m.Dest, m, rel)
		}
		if in := g.input(g.opOf(e), m.Input); in.GetSource().GetIdentifier() != "local://"+SourceContext {
			t.Errorf("%s from %v, want the source", m.Dest, in)
		}
	}
	want := []string{"api", "go.work", "plugins/hello", "plugins/hello-x", "plugins/shout/go.mod", "vendor"}
	if !slices.Equal(got, want) {
		t.Errorf("source mounts %q, want %q", got, want)
	}
	for _, bad := range []string{"/etc", "../x", "a/../b", ".", ""} {
		b := a
		b.Inputs = []string{bad}
		if _, err := Compile(tc, CompileSpec{Source: Source(), Artifacts: []Artifact{b}}); err == nil {
			t.Errorf("input %q: no error", bad)
		}
	}
}

func TestResolveRounds(t *testing.T) {
	g := marshal(t, must(Resolve(ToolchainImage("img", nil), ResolveSpec{Source: Source(), UseDirs: []string{".pbuild-pins"}, Graph: true})))
	execs := g.execs()
	if e := execs[StepWorkUse]; e == nil || !slices.Equal(e.Meta.Args, []string{"/bin/sh", "-c", "go work use './.pbuild-pins'"}) {
		t.Errorf("go work use: %v", e)
	}
	if e := execs[StepGraph]; e == nil || !slices.Equal(e.Meta.Args, []string{"/bin/sh", "-c", "go mod graph > /out/graph.txt"}) {
		t.Errorf("go mod graph: %v", e)
	}
	// Each command runs on the workspace the one before left.
	for _, pair := range [][2]string{{StepWorkUse, StepList}, {StepList, StepGraph}, {StepGraph, StepVendor}} {
		before, after := execs[pair[0]], execs[pair[1]]
		in := g.input(g.opOf(after), mountAt(after, SourceDir).Input)
		if in == nil || in.GetExec() != before {
			t.Errorf("%s does not run on what %s left", pair[1], pair[0])
		}
	}
	if _, err := Resolve(ToolchainImage("img", nil), ResolveSpec{Source: Source(), UseDirs: []string{"../up"}}); err == nil {
		t.Error("UseDirs outside the workspace: no error")
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestTransient(t *testing.T) {
	flight := errors.New("failed to compute cache key: flightcontrol: exceeded retry timeout")
	if !Transient(&SolveError{Vertex: "build plugin p23", Err: flight}) {
		t.Error("the flight control retry timeout is not transient")
	}
	if h := (&SolveError{Err: flight}).Hint(); !strings.Contains(h, "build again") {
		t.Errorf("hint %q", h)
	}
	for _, err := range []error{
		&SolveError{Err: errors.New("pull access denied")},
		&ExecError{Vertex: "build plugin a", Output: "flightcontrol: exceeded retry timeout", Err: errors.New("exit code: 1")},
		flight,
	} {
		if Transient(err) {
			t.Errorf("%v is transient", err)
		}
	}
}
