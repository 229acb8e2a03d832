package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"
)

// stream writes what pbuild's rawjson progress writes for vertices given
// as "name start end [cached]" (seconds after t0; end -1: not completed)
// with their logs as "vertex-name at message".
func stream(t *testing.T, vertices []string, logs []string) string {
	t.Helper()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s string) time.Time {
		var f float64
		json.Unmarshal([]byte(s), &f)
		return t0.Add(time.Duration(f * float64(time.Second)))
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	byName := map[string]digest.Digest{}
	for _, v := range vertices {
		f := strings.Fields(v)
		name := strings.ReplaceAll(f[0], "_", " ")
		d := digest.FromString(name)
		byName[name] = d
		start := at(f[1])
		vx := &client.Vertex{Digest: d, Name: name, Started: &start, Cached: len(f) > 3}
		if f[2] != "-1" {
			end := at(f[2])
			vx.Completed = &end
		}
		enc.Encode(client.SolveStatus{Vertexes: []*client.Vertex{vx}})
	}
	for _, l := range logs {
		f := strings.SplitN(l, " ", 3)
		enc.Encode(client.SolveStatus{Logs: []*client.VertexLog{{Vertex: byName[strings.ReplaceAll(f[0], "_", " ")], Timestamp: at(f[1]), Data: []byte(f[2] + "\n")}}})
	}
	return b.String()
}

func TestParseDocker(t *testing.T) {
	out := stream(t, []string{
		"plan 0 0.1", "toolchain 0.1 0.8", "stage 0.8 0.8", "resolve 0.8 4.0", "compile 4.0 10.1", "inspect 10.1 10.5", "check 10.5 10.6", "install 10.6 10.7",
	}, []string{
		"toolchain 0.7 go1.24.4 in pbuild/toolchain:go1.24.4-c6fb798b3da7 (cc (Debian 12.2.0-14+deb12u1) 12.2.0)",
		"compile 4.9 host host", "compile 4.9 plugin p00",
		"compile 9.0 plugin p00 done in 4.1s", "compile 10.0 host host done in 5.1s",
	})
	run := parseJSON(out, 11)
	if run.Image != "pbuild/toolchain:go1.24.4-c6fb798b3da7" {
		t.Errorf("image %q", run.Image)
	}
	if run.Artifacts["p00"] != 4.1 || run.Artifacts["host"] != 5.1 {
		t.Errorf("artifacts %v", run.Artifacts)
	}
	want := steps{Toolchain: 0.8, Resolve: 3.2, BuildSetup: 0.9, Compile: 5.1, Collect: 0.5, Finish: 0.2, Exit: 0.3}
	if !near(run.Steps, want) {
		t.Errorf("steps %+v, want %+v", run.Steps, want)
	}
}

func TestParseBuildKit(t *testing.T) {
	out := stream(t, []string{
		"plan 0 0.1", "resolve 0.7 4.3", "go_list_-m_all 1.0 4.0", "compile 4.3 13.2", "build_plugin_p00 5.0 12.4", "build_host_host 5.0 5.0 cached",
		"inspect 13.2 13.2", "check 13.2 13.3", "install 13.3 13.4",
	}, nil)
	run := parseJSON(out, 13.5)
	if !nearf(run.Artifacts["p00"], 7.4) || run.Artifacts["host"] != 0 || len(run.Artifacts) != 2 {
		t.Errorf("artifacts %v", run.Artifacts)
	}
	want := steps{Toolchain: 0.7, Resolve: 3.6, Compile: 8.1, Collect: 0.8, Finish: 0.2, Exit: 0.1}
	if !near(run.Steps, want) {
		t.Errorf("steps %+v, want %+v", run.Steps, want)
	}
	if len(run.Linked) != 1 || run.Linked[0] != "p00" {
		t.Errorf("BuildKit linked %q, want [p00]", run.Linked)
	}
}

func nearf(x, y float64) bool { return x-y < 1e-6 && y-x < 1e-6 }

func near(a, b steps) bool {
	return nearf(a.Toolchain, b.Toolchain) && nearf(a.Resolve, b.Resolve) && nearf(a.BuildSetup, b.BuildSetup) && nearf(a.Compile, b.Compile) && nearf(a.Collect, b.Collect) && nearf(a.Finish, b.Finish) && nearf(a.Exit, b.Exit)
}

func TestAttribute(t *testing.T) {
	pkgs, other := attribute(map[string][]string{
		"a": {"example.com/bench/api/api.go", "example.com/bench/plugins/p04/main.go"},
		"b": {"example.com/bench/api/api.go"},
	}, 5)
	if len(pkgs) != 2 || pkgs[0] != "api" || pkgs[1] != "plugins/p04" || other != 3 {
		t.Errorf("got %v, %d", pkgs, other)
	}
}

func TestParseKept(t *testing.T) {
	out := stream(t, []string{"resolve 0.8 4.0", "compile 4.0 7.2", "check 7.5 7.6", "install 7.6 7.7"}, []string{
		"compile 4.1 3 artifacts of the last build given to the go command, which links only what changed",
		"compile 4.9 host host", "compile 4.9 plugin p00", "compile 4.9 plugin p01",
		"compile 6.0 plugin p00 done in 1.1s", "compile 6.0 host host done in 1.1s", "compile 7.0 plugin p01 done in 2.1s",
		"compile 7.1 kept 2 of 3 artifacts as up to date: host plugins/p00.so",
	})
	run := parseJSON(out, 8)
	if len(run.Linked) != 1 || run.Linked[0] != "p01" || run.UpToDate {
		t.Errorf("linked %q, up to date %v; want [p01], false", run.Linked, run.UpToDate)
	}
	run = parseJSON(stream(t, []string{"up-to-date 0.2 0.3"}, []string{"up-to-date 0.3 /x/dist is up to date (inputs sha256:0123456789abcdef)"}), 0.4)
	if !run.UpToDate || run.Linked != nil {
		t.Errorf("up to date %v, linked %q", run.UpToDate, run.Linked)
	}
}
