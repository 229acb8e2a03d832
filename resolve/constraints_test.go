package resolve

import (
	"strings"
	"testing"

	"github.com/pbuild/pbuild/manifests"
)

func TestConstraints(t *testing.T) {
	host := &manifests.Manifest{Modules: []manifests.Module{
		{Path: "example.com/api", Local: true, Sum: "h1:api"},
		{Path: "golang.org/x/text", Version: "v0.21.0", Sum: "h1:text21"},
		{Path: "golang.org/x/net", Version: "v0.30.0", Sum: "h1:net30"},
		{Path: "example.com/forked", Version: "v1.0.0", Replace: "example.com/forked@v1.0.1", Sum: "h1:fork101"},
	}}
	c := HostConstraints(host)
	if c.Versions["example.com/forked"] != "v1.0.1" || c.Versions["golang.org/x/text"] != "v0.21.0" {
		t.Fatalf("versions %v", c.Versions)
	}
	if _, ok := c.Versions["example.com/api"]; ok {
		t.Error("local module among the version constraints")
	}
	listed := []Listed{
		{Path: "example.com/plugin", Main: true},
		{Path: "golang.org/x/text", Version: "v0.20.0"},
		{Path: "golang.org/x/net", Version: "v0.31.0"},
		{Path: "golang.org/x/exp", Version: "v0.0.0-2024"},
	}
	ceil := c.ceilings(listed)
	if len(ceil) != 1 || ceil[0].Module != "golang.org/x/net" || ceil[0].Host != "v0.30.0" || ceil[0].Requested != "v0.31.0" {
		t.Fatalf("ceilings %+v", ceil)
	}
	whoRequires(ceil, []byte("example.com/plugin golang.org/x/net@v0.31.0\nexample.com/plugin golang.org/x/text@v0.20.0\ngolang.org/x/text@v0.20.0 golang.org/x/net@v0.31.0\n"))
	err := &CeilingError{Ceilings: ceil}
	want := "the plugins need newer versions of 1 modules than the released host links:\n  golang.org/x/net: host has v0.30.0, plugins request v0.31.0 (required by example.com/plugin, golang.org/x/text@v0.20.0)"
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err.Error(), want)
	}
	if !strings.Contains(err.Hint(), "golang.org/x/net v0.30.0") {
		t.Errorf("hint %q", err.Hint())
	}
	pins := map[string]string{}
	if !c.raises(listed, pins) || len(pins) != 1 || pins["golang.org/x/text"] != "v0.21.0" {
		t.Errorf("pins %v", pins)
	}
	if c.raises(listed, pins) {
		t.Error("the same raise twice")
	}
	if got, want := string(pinsGoMod(pins)), "// Added by pbuild: the released host's versions.\n\nmodule pbuild.invalid/pins\n\ngo 1.21\n\nrequire golang.org/x/text v0.21.0\n"; got != want {
		t.Errorf("pins go.mod:\n%s", got)
	}
	// A module already at the host's version (replaced or not) is not raised.
	raised := []Listed{{Path: "golang.org/x/text", Version: "v0.20.0", Replace: &Listed{Path: "golang.org/x/text", Version: "v0.21.0"}}, {Path: "golang.org/x/net", Version: "v0.30.0"}}
	if c.raises(raised, map[string]string{}) {
		t.Error("raised a module at the host's version")
	}
	if err := c.checkSums([]manifests.Module{{Path: "golang.org/x/text", Version: "v0.20.0", Replace: "golang.org/x/text@v0.21.0", Sum: "h1:text21"}}); err != nil {
		t.Error(err)
	}
	err2 := c.checkSums([]manifests.Module{{Path: "golang.org/x/text", Version: "v0.21.0", Sum: "h1:other"}})
	if se, ok := err2.(*SumError); !ok || se.Host != "h1:text21" {
		t.Errorf("tampered sum: %v", err2)
	}
}

// TestCeilingHintNamesTheOwnRequirement: a plugin asks for a newer x/text
// than the host has, and that x/text asks for a newer x/sync: the hint
// named x/sync (first in order); it must name the requirement the
// plugin's own go.mod makes.
func TestCeilingHintNamesTheOwnRequirement(t *testing.T) {
	c := &Constraints{Versions: map[string]string{"golang.org/x/text": "v0.21.0", "golang.org/x/sync": "v0.10.0"}}
	listed := []Listed{
		{Path: "example.com/plugin", Main: true},
		{Path: "golang.org/x/sync", Version: "v0.11.0"},
		{Path: "golang.org/x/text", Version: "v0.22.0"},
	}
	ceil := c.ceilings(listed)
	whoRequires(ceil, []byte("example.com/plugin golang.org/x/text@v0.22.0\ngolang.org/x/text@v0.22.0 golang.org/x/sync@v0.11.0\n"))
	err := &CeilingError{Ceilings: ceil}
	want := "a released host cannot change: in example.com/plugin's go.mod, require golang.org/x/text v0.21.0 (the host's) instead of v0.22.0, or build against a newer host release"
	if err.Hint() != want {
		t.Errorf("hint %q\nwant %q", err.Hint(), want)
	}
	if !strings.Contains(err.Error(), "golang.org/x/sync: host has v0.10.0, plugins request v0.11.0 (required by golang.org/x/text@v0.22.0), pulled in by another module's requirement") {
		t.Errorf("error:\n%s", err)
	}
}
