package owner

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func self(t *testing.T) ID {
	t.Helper()
	id, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// deadProcess is the ID of a process that ran on this machine and exited.
func deadProcess(t *testing.T) ID {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	start, _ := startTime(pid) // may be gone already: then any start time
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	return ID{Machine: self(t).Machine, PID: pid, Start: start}
}

func TestParseRoundTrip(t *testing.T) {
	id := self(t)
	got, err := Parse(id.String())
	if err != nil || got != id {
		t.Fatalf("Parse(%q) = %v, %v; want %v", id.String(), got, err, id)
	}
	for _, bad := range []string{"", "a.b", "m.0.1", "m.x.1", "m.1.-1", ".1.1", "m.1.1.1"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestJudge(t *testing.T) {
	me := self(t)
	parent := ID{Machine: me.Machine, PID: os.Getppid()}
	if start, err := startTime(parent.PID); err == nil {
		parent.Start = start
	}
	reused := me
	reused.Start++ // our PID, another start time: an earlier process
	other := me
	other.Machine = "000000000000"
	for _, c := range []struct {
		name string
		id   ID
		want State
	}{
		{"self", me, Alive},
		{"parent", parent, Alive},
		{"exited", deadProcess(t), Dead},
		{"reused pid", reused, Dead},
		{"another machine", other, Unknown},
	} {
		if got := me.Judge(c.id); got != c.want {
			t.Errorf("%s: Judge(%v) = %v, want %v", c.name, c.id, got, c.want)
		}
	}
}

func TestMarker(t *testing.T) {
	me := self(t)
	root := t.TempDir()
	made := filepath.Join(root, "made")
	if err := os.Mkdir(made, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Mark(made, me, []string{"a", "b/c"}); err != nil {
		t.Fatal(err)
	}
	m, err := ReadMarker(made)
	if err != nil {
		t.Fatal(err)
	}
	if m.Owner != me.String() || !slices.Equal(m.Files, []string{"a", "b/c"}) {
		t.Errorf("marker %+v", m)
	}

	// A copy of the marker in another directory is not that directory's.
	copied := filepath.Join(root, "copy")
	os.Mkdir(copied, 0o755)
	data, _ := os.ReadFile(filepath.Join(made, MarkerFile))
	os.WriteFile(filepath.Join(copied, MarkerFile), data, 0o644)
	// A symbolic link to a marked directory is not it.
	link := filepath.Join(root, "link")
	os.Symlink(made, link)
	// A marker that is a symbolic link to the real one.
	linked := filepath.Join(root, "linkedmarker")
	os.Mkdir(linked, 0o755)
	os.Symlink(filepath.Join(made, MarkerFile), filepath.Join(linked, MarkerFile))
	// A regular file, a directory without a marker, garbage in a marker.
	file := filepath.Join(root, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	plain := filepath.Join(root, "plain")
	os.Mkdir(plain, 0o755)
	garbage := filepath.Join(root, "garbage")
	os.Mkdir(garbage, 0o755)
	os.WriteFile(filepath.Join(garbage, MarkerFile), []byte("{\"owner\":1}"), 0o644)
	for _, dir := range []string{copied, link, linked, file, plain, garbage, filepath.Join(root, "missing")} {
		_, err := ReadMarker(dir)
		var nm *NotMarkedError
		if !errors.As(err, &nm) {
			t.Errorf("ReadMarker(%s) = %v, want a NotMarkedError", filepath.Base(dir), err)
		}
	}
}

func TestSweep(t *testing.T) {
	me := self(t)
	dead := deadProcess(t)
	other := me
	other.Machine = "000000000000"
	root := t.TempDir()
	mk := func(name string, id ID) string {
		p := filepath.Join(root, name)
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(p, "file"), []byte("x"), 0o644)
		os.MkdirAll(filepath.Join(p, "sub", "deeper"), 0o755)
		if id != (ID{}) {
			if err := Mark(p, id, nil); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	deadDir := mk("pbuild-dead", dead)
	liveDir := mk("pbuild-live", me)
	otherDir := mk("pbuild-other", other)
	unmarked := mk("pbuild-unmarked", ID{})
	notOurs := mk("other-dead", dead) // another prefix
	emptyOld := filepath.Join(root, "pbuild-emptyold")
	os.Mkdir(emptyOld, 0o755)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(emptyOld, old, old)
	emptyNew := filepath.Join(root, "pbuild-emptynew")
	os.Mkdir(emptyNew, 0o755)
	// A symbolic link named like ours, to a dead owner's directory
	// elsewhere: never followed.
	elsewhere := filepath.Join(t.TempDir(), "target")
	os.Mkdir(elsewhere, 0o755)
	Mark(elsewhere, dead, nil)
	os.Symlink(elsewhere, filepath.Join(root, "pbuild-link"))

	removed, err := Sweep(root, "pbuild-", me)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if want := []string{deadDir, emptyOld}; !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	for _, p := range []string{liveDir, otherDir, unmarked, notOurs, emptyNew, elsewhere, filepath.Join(unmarked, "file")} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
	for _, p := range []string{deadDir, emptyOld} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there", p)
		}
	}
}

func TestRemoveMarkedRefusesUnmarked(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "keep"), []byte("x"), 0o644)
	if err := RemoveMarked(dir); err == nil {
		t.Fatal("removed an unmarked directory")
	}
	if _, err := os.Stat(filepath.Join(dir, "keep")); err != nil {
		t.Fatal(err)
	}
}
