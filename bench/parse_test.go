package main

import "testing"

func TestParsePlainDocker(t *testing.T) {
	out := `[   0.0s] plan      2 artifacts in 3 local modules under /x
[   0.1s] toolchain reuse image pbuild/toolchain:go1.24.4-c6fb798b3da7
[   0.7s] toolchain go1.24.4 in pbuild/toolchain:go1.24.4-c6fb798b3da7 (cc (Debian 12.2.0-14+deb12u1) 12.2.0)
[   0.8s] resolve   go work vendor over 3 modules
[   4.0s] resolve   7 modules in the build list
[   4.9s] build     host host
[   4.9s] build     plugin p00
[   9.0s] build     plugin p00 done in 4.1s
[  10.0s] build     host host done in 5.1s
[  10.5s] check     every plugin against the host and each other
[  10.7s] output    /x/dist
`
	run := parsePlain(out, 11)
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

func TestParsePlainBuildKit(t *testing.T) {
	out := `[   0.7s] resolve   go work vendor over 3 modules
#4 resolve: go list -m all, go work vendor
#4 DONE 3.3s
[   4.3s] resolve   7 modules in the build list
[   4.3s] build     2 artifacts on BuildKit
#4 build plugin p00
#4 DONE 7.4s

#5 build host host
#5 CACHED
[  13.2s] check     every plugin against the host and each other
[  13.4s] output    /x/dist
`
	run := parsePlain(out, 13.5)
	if run.Artifacts["p00"] != 7.4 || run.Artifacts["host"] != 0 || len(run.Artifacts) != 2 {
		t.Errorf("artifacts %v", run.Artifacts)
	}
	want := steps{Toolchain: 0.7, Resolve: 3.6, Compile: 8.9, Finish: 0.2, Exit: 0.1}
	if !near(run.Steps, want) {
		t.Errorf("steps %+v, want %+v", run.Steps, want)
	}
}

func near(a, b steps) bool {
	d := func(x, y float64) bool { return x-y < 1e-9 && y-x < 1e-9 }
	return d(a.Toolchain, b.Toolchain) && d(a.Resolve, b.Resolve) && d(a.BuildSetup, b.BuildSetup) && d(a.Compile, b.Compile) && d(a.Collect, b.Collect) && d(a.Finish, b.Finish) && d(a.Exit, b.Exit)
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

func TestParsePlainKept(t *testing.T) {
	out := `[   0.8s] resolve   go work vendor over 3 modules
[   4.0s] resolve   7 modules in the build list
[   4.1s] build     3 artifacts of the last build given to the go command, which links only what changed
[   4.9s] build     host host
[   4.9s] build     plugin p00
[   4.9s] build     plugin p01
[   6.0s] build     plugin p00 done in 1.1s
[   6.0s] build     host host done in 1.1s
[   7.0s] build     plugin p01 done in 2.1s
[   7.1s] build     kept 2 of 3 artifacts as up to date: host plugins/p00.so
[   7.5s] check     every plugin against the host and each other
[   7.7s] output    /x/dist
`
	run := parsePlain(out, 8)
	if len(run.Linked) != 1 || run.Linked[0] != "p01" || run.UpToDate {
		t.Errorf("linked %q, up to date %v; want [p01], false", run.Linked, run.UpToDate)
	}
	run = parsePlain("[   0.3s] output    /x/dist is up to date (inputs sha256:0123456789abcdef)\n", 0.4)
	if !run.UpToDate || run.Linked != nil {
		t.Errorf("up to date %v, linked %q", run.UpToDate, run.Linked)
	}
	run = parsePlain(`[   4.3s] build     2 artifacts on BuildKit
#4 build plugin p00
#4 CACHED
#5 build host host
#5 DONE 1.0s
`, 5)
	if len(run.Linked) != 1 || run.Linked[0] != "host" {
		t.Errorf("BuildKit linked %q, want [host]", run.Linked)
	}
}
