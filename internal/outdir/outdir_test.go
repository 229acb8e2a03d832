package outdir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pbuild/pbuild/internal/owner"
)

func self(t *testing.T) owner.ID {
	t.Helper()
	id, err := owner.Self()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// tree is a directory's regular files: slash path -> content.
type tree map[string]string

func write(t *testing.T, dir string, files tree) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// read returns dir's regular files but the marker.
func read(t *testing.T, dir string) tree {
	t.Helper()
	out := tree{}
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() && e.Name() != owner.MarkerFile {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			out[filepath.ToSlash(rel)] = string(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func same(a, b tree) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// build installs files as the output at out.
func build(t *testing.T, out string, opts Options, files tree) error {
	t.Helper()
	d, err := Open(context.Background(), out, opts)
	if err != nil {
		return err
	}
	defer d.Close()
	tmp, err := d.Temp()
	if err != nil {
		t.Fatal(err)
	}
	write(t, tmp, files)
	return d.Install(tmp)
}

// siblings lists what lies beside out, but out.
func siblings(t *testing.T, out string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(out))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() != filepath.Base(out) {
			names = append(names, e.Name())
		}
	}
	return names
}

var (
	oldFiles = tree{"host": "old host", "plugins/a.so": "old a", "pbuild.manifest.json": "old"}
	newFiles = tree{"host": "new host", "plugins/b.so": "new b", "pbuild.manifest.json": "new"}
)

func TestInstall(t *testing.T) {
	opts := Options{Self: self(t)}
	out := filepath.Join(t.TempDir(), "dist")
	if err := build(t, out, opts, oldFiles); err != nil {
		t.Fatal(err)
	}
	if got := read(t, out); !same(got, oldFiles) {
		t.Fatalf("first output %v", got)
	}
	if err := build(t, out, opts, newFiles); err != nil {
		t.Fatal(err)
	}
	if got := read(t, out); !same(got, newFiles) {
		t.Fatalf("second output %v", got)
	}
	if s := siblings(t, out); len(s) != 0 {
		t.Errorf("left beside the output: %v", s)
	}
	// The exchange-less path gives the same.
	d, err := Open(context.Background(), out, opts)
	if err != nil {
		t.Fatal(err)
	}
	d.noExchange = true
	tmp, _ := d.Temp()
	write(t, tmp, oldFiles)
	if err := d.Install(tmp); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if got := read(t, out); !same(got, oldFiles) {
		t.Fatalf("output without exchange %v", got)
	}
	if s := siblings(t, out); len(s) != 0 {
		t.Errorf("left beside the output: %v", s)
	}
}

// TestRefuses: nothing pbuild did not make is replaced, whatever its name.
func TestRefuses(t *testing.T) {
	me := self(t)
	user := tree{".ssh/id_ed25519": "secret", "notes.txt": "mine"}
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, out string)
		// clean: whether --output-clean replaces it.
		clean bool
		what  string
	}{
		{"home directory", func(t *testing.T, out string) { write(t, out, user) }, true, "is a directory pbuild did not make"},
		{"regular file", func(t *testing.T, out string) { os.WriteFile(out, []byte("passwd"), 0o644) }, false, "is a file"},
		{"symlink to a directory", func(t *testing.T, out string) {
			target := filepath.Join(filepath.Dir(out), "target")
			write(t, target, user)
			os.Symlink(target, out)
		}, false, "is a symbolic link"},
		{"symlink to an output pbuild made", func(t *testing.T, out string) {
			target := filepath.Join(filepath.Dir(out), "realdist")
			if err := build(t, target, Options{Self: me}, oldFiles); err != nil {
				t.Fatal(err)
			}
			os.Symlink(target, out)
		}, false, "is a symbolic link"},
		{"a copy of an output pbuild made", func(t *testing.T, out string) {
			orig := filepath.Join(filepath.Dir(out), "orig")
			if err := build(t, orig, Options{Self: me}, oldFiles); err != nil {
				t.Fatal(err)
			}
			if err := exec.Command("cp", "-a", orig, out).Run(); err != nil {
				t.Fatal(err)
			}
		}, true, "is a directory pbuild did not make"},
		{"a user's file in an output pbuild made", func(t *testing.T, out string) {
			if err := build(t, out, Options{Self: me}, oldFiles); err != nil {
				t.Fatal(err)
			}
			write(t, out, tree{"plugins/notes.txt": "mine"})
		}, true, "holds files pbuild did not write"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "dist")
			c.setup(t, out)
			before := snapshot(t, filepath.Dir(out))
			err := build(t, out, Options{Self: me}, newFiles)
			var no *NotOwnedError
			if !errors.As(err, &no) || !strings.Contains(err.Error(), c.what) {
				t.Fatalf("got %v, want a NotOwnedError saying %q", err, c.what)
			}
			if after := snapshot(t, filepath.Dir(out)); after != before {
				t.Fatalf("the refused build changed the directory:\nbefore %s\nafter  %s", before, after)
			}
			err = build(t, out, Options{Self: me, Clean: true}, newFiles)
			switch {
			case c.clean && err != nil:
				t.Fatalf("with Clean: %v", err)
			case c.clean:
				if got := read(t, out); !same(got, newFiles) {
					t.Fatalf("with Clean: output %v", got)
				}
			case !errors.As(err, &no):
				t.Fatalf("with Clean: %v, want a NotOwnedError", err)
			}
		})
	}
}

// snapshot describes every entry below dir, links unfollowed.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, _ := e.Info()
		fmt.Fprintf(&b, "%s %v", p, fi.Mode())
		if fi.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %q", data)
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			fmt.Fprintf(&b, " -> %s", l)
		}
		b.WriteString("\n")
		return nil
	})
	return b.String()
}

// TestSymlinkedParent: `ln -s . lnk` and output lnk/plugins: the output is
// the plugins' sources, reached through a link; pbuild sees through it.
func TestSymlinkedParent(t *testing.T) {
	root := t.TempDir()
	write(t, root, tree{"plugins/hello/main.go": "package main"})
	os.Symlink(".", filepath.Join(root, "lnk"))
	out := filepath.Join(root, "lnk", "plugins")
	err := build(t, out, Options{Self: self(t)}, newFiles)
	var no *NotOwnedError
	if !errors.As(err, &no) {
		t.Fatalf("got %v, want a NotOwnedError", err)
	}
	if got := read(t, filepath.Join(root, "plugins")); got["hello/main.go"] != "package main" {
		t.Fatalf("sources changed: %v", got)
	}
	d := &Dir{parent: root, name: "dist"}
	for p, want := range map[string]bool{
		filepath.Join(root, "lnk", "dist"):                   true,
		filepath.Join(root, "dist"):                          true,
		filepath.Join(root, ".dist.pbuild-123"):              true,
		filepath.Join(root, ".dist.pbuild-lock"):             true,
		filepath.Join(root, "plugins", "dist"):               false,
		filepath.Join(root, "distx"):                         false,
		filepath.Join(root, "lnk", "plugins", "hello", "go"): false,
	} {
		if got := d.Skips(p); got != want {
			t.Errorf("Skips(%s) = %v, want %v", p, got, want)
		}
	}
}

// TestLock: a second build of one output waits for the first, says so,
// and gives up when cancelled.
func TestLock(t *testing.T) {
	me := self(t)
	out := filepath.Join(t.TempDir(), "dist")
	first, err := Open(context.Background(), out, Options{Self: me})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var told []string
	_, err = Open(ctx, out, Options{Self: me, OnWait: func(h string) { told = append(told, h) }})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Open while the first holds the lock: %v", err)
	}
	if want := []string{fmt.Sprintf("pbuild process %d", os.Getpid())}; !slices.Equal(told, want) {
		t.Errorf("told %q, want %q", told, want)
	}
	done := make(chan error, 1)
	go func() {
		d, err := Open(context.Background(), out, Options{Self: me})
		if err == nil {
			err = d.Close()
		}
		done <- err
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("second Open returned while the first holds the lock: %v", err)
	default:
	}
	first.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second Open still waits after the first released the lock")
	}
	if s := siblings(t, out); len(s) != 0 {
		t.Errorf("left beside the output: %v", s)
	}
}

// killEnv names the step at which the helper process kills itself.
const killEnv = "OUTDIR_TEST_KILL_AT"

// TestKilledAtEveryStep kills a build (SIGKILL, in a child process) at
// every step of installing its output; the next Open must find the old
// output or the new one, whole, and leave nothing beside it.
func TestKilledAtEveryStep(t *testing.T) {
	if at := os.Getenv(killEnv); at != "" {
		killedBuild(t, at)
		return
	}
	steps := []string{"temp", "marked", "claimed", "swapped", "removing", "removed"}
	for _, noExchange := range []bool{false, true} {
		all := steps
		if noExchange {
			all = append(slices.Clone(steps), "aside")
		}
		for _, step := range all {
			t.Run(fmt.Sprintf("%s/exchange=%v", step, !noExchange), func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "dist")
				if err := build(t, out, Options{Self: self(t)}, oldFiles); err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command(os.Args[0], "-test.run=^TestKilledAtEveryStep$")
				cmd.Env = append(os.Environ(), killEnv+"="+step, "OUTDIR_TEST_OUT="+out, fmt.Sprintf("OUTDIR_TEST_NOEXCHANGE=%v", noExchange))
				outp, err := cmd.CombinedOutput()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
					t.Fatalf("the child was not killed at %s: %v\n%s", step, err, outp)
				}
				// The next build's Open recovers and sweeps.
				d, err := Open(context.Background(), out, Options{Self: self(t)})
				if err != nil {
					t.Fatal(err)
				}
				got := read(t, out)
				d.Close()
				if !same(got, oldFiles) && !same(got, newFiles) {
					t.Fatalf("after a kill at %s the output is %v", step, got)
				}
				if s := siblings(t, out); len(s) != 0 {
					t.Errorf("left beside the output: %v", s)
				}
				if err := build(t, out, Options{Self: self(t)}, newFiles); err != nil {
					t.Fatalf("a build after the kill: %v", err)
				}
			})
		}
	}
}

// killedBuild is the child of TestKilledAtEveryStep.
func killedBuild(t *testing.T, at string) {
	kill := func() { syscall.Kill(os.Getpid(), syscall.SIGKILL); select {} }
	out := os.Getenv("OUTDIR_TEST_OUT")
	d, err := Open(context.Background(), out, Options{Self: self(t)})
	if err != nil {
		t.Fatal(err)
	}
	d.noExchange = os.Getenv("OUTDIR_TEST_NOEXCHANGE") == "true"
	tmp, err := d.Temp()
	if err != nil {
		t.Fatal(err)
	}
	write(t, tmp, tree{"host": "new host"})
	if at == "temp" {
		kill() // a partial new output
	}
	write(t, tmp, newFiles)
	d.hook = func(step string) {
		if step != at {
			return
		}
		if step == "removing" {
			// Part of the old output is gone already: it lies at a
			// temporary name now.
			matches, _ := filepath.Glob(filepath.Join(d.parent, ".dist.pbuild-*"))
			for _, m := range matches {
				os.RemoveAll(filepath.Join(m, "plugins"))
			}
		}
		kill()
	}
	d.Install(tmp)
	t.Fatalf("not killed at %s", at)
}
