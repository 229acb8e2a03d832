package progress

import (
	"errors"
	"strings"
	"testing"
)

func TestModes(t *testing.T) {
	for _, m := range Modes {
		if _, err := ParseMode(m); err != nil {
			t.Errorf("%s: %v", m, err)
		}
	}
	if m, err := ParseMode(""); err != nil || m != "auto" {
		t.Errorf("empty: %q %v", m, err)
	}
	if _, err := ParseMode("fancy"); err == nil {
		t.Error("an unknown mode accepted")
	}
	var buf strings.Builder
	if _, err := New(&buf, "tty"); err == nil || !strings.Contains(err.Error(), "console") {
		t.Errorf("tty to a buffer: %v", err)
	}
}

// TestSteps: every step is a vertex of the display, its messages its log,
// and a failed command's last step shows the error.
func TestSteps(t *testing.T) {
	var buf strings.Builder
	p, err := New(&buf, "plain")
	if err != nil {
		t.Fatal(err)
	}
	p.Step("plan", "3 artifacts")
	p.Step("plan", "go.work joins 1 more module")
	p.Step("compile", "plugin hello")
	p.Close(errors.New("build plugin hello: exit 1\nsyntax error"))
	p.Step("install", "after the end: not shown")
	out := buf.String()
	for _, want := range []string{"#1 plan", "3 artifacts", "go.work joins 1 more module", "#1 DONE", "#2 compile", "plugin hello", "#2 ERROR: build plugin hello: exit 1"} {
		if !strings.Contains(out, want) {
			t.Errorf("display lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "after the end") {
		t.Errorf("a step after Close was shown:\n%s", out)
	}
}
