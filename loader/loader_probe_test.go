package loader

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// testProbe: plugins whose init panics, exits or hangs kill or block a
// host without WithProbe; with it the host refuses them and loads the
// others.
func testProbe(t *testing.T, f *fixture) {
	t.Run("WithoutProbeAPanicKillsTheHost", func(t *testing.T) {
		lines, stderr, code := runHostEnv(t, nil, f.host, f.good, f.panicInit, f.goodV2)
		if code != 2 || !strings.Contains(stderr, "panic: boom in init") || len(lines) != 1 || lines[0] != "ok good: hello from good" {
			t.Errorf("host without the probe: exit %d, stdout %q, stderr:\n%s\nwant it killed by the panic after loading good", code, lines, stderr)
		}
	})
	t.Run("WithoutProbeAnExitEndsTheHost", func(t *testing.T) {
		lines, _, code := runHostEnv(t, nil, f.host, f.good, f.exitInit, f.goodV2)
		if code != 3 || len(lines) != 1 {
			t.Errorf("host without the probe: exit %d, stdout %q, want exit 3 after loading good", code, lines)
		}
	})
	t.Run("WithProbe", func(t *testing.T) {
		env := []string{"LT_LOADER=probe=3s"}
		lines, stderr, code := runHostEnv(t, env, f.host, f.good, f.panicInit, f.exitInit, f.hangInit, f.broken, f.goodV2, f.good)
		pre := func(p string) string {
			return "refused " + strings.TrimSuffix(filepath.Base(p), ".so") + ": refuse " + p + ": in a probe process (the host started again), "
		}
		want := []string{
			"ok good: hello from good",
			pre(f.panicInit) + "an init function panicked (exit status 2): panic: boom in init | goroutine 1 [running]:",
			pre(f.exitInit) + "loading it ended the process (exit status 3)",
			pre(f.hangInit) + "loading it timed out after 3s (an init function that does not return?)",
			// A plugin plugin.Open fails on is refused too, without
			// poisoning the loader: the host never opened it.
			pre(f.broken) + "plugin.Open failed: plugin.Open(\"" + f.broken + "\"): libltmissing.so: cannot open shared object file: No such file or directory",
			"ok goodv2: hello from good v2",
			"ok good: hello from good",
		}
		if code != 1 || stderr != "" || len(lines) != len(want) {
			t.Fatalf("exit %d, stderr %q, got %d lines, want %d:\n%s", code, stderr, len(lines), len(want), strings.Join(lines, "\n"))
		}
		for i := range want {
			// The panic's trace goes on after the lines compared.
			if !strings.HasPrefix(lines[i], want[i]) {
				t.Errorf("line %d:\n got: %s\nwant: %s", i+1, lines[i], want[i])
			}
		}
	})
	t.Run("InProcess", func(t *testing.T) {
		// The test binary is no host the fixture's plugins fit, and does
		// not act as a probe for them: WithExecutable names the fixture's
		// host, which links the loader.
		l := newLoader(t, WithExecutable(f.host), WithoutManifest(), WithProbe(0))
		if l.probe != DefaultProbeTimeout {
			t.Errorf("WithProbe(0): timeout %s", l.probe)
		}
		// runProbe on its own: the fixture host opens good, then panics.
		l.order = []string{f.good}
		err := l.runProbe(f.panicInit, f.panicInit)
		var re *RefusedError
		var pe *ProbeError
		if !errors.As(err, &re) || !errors.As(err, &pe) || pe.State != "exit status 2" || pe.Replay || !strings.Contains(pe.Output, "boom in init") {
			t.Errorf("runProbe(panicinit) = %v (%+v)", err, pe)
		}
		if err := l.runProbe(f.goodV2, f.goodV2); err != nil {
			t.Errorf("runProbe(goodv2) = %v", err)
		}
		// A plugin opened before that the probe cannot open again.
		l.order = []string{f.broken}
		if err := l.runProbe(f.good, f.good); !errors.As(err, &pe) || !pe.Replay || pe.Path != f.broken || pe.OpenErr == "" {
			t.Errorf("runProbe after broken = %v (%+v), want a replay failure", err, pe)
		}
		// A host that does not link the loader cannot probe.
		if _, err := New(WithExecutable(f.notPlugin), WithProbe(0)); err == nil || !strings.Contains(err.Error(), "does not link github.com/pbuild/pbuild/loader") {
			t.Errorf("New(WithProbe) with a host without the loader = %v", err)
		}
	})
}
