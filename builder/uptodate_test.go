package builder

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pbuild/pbuild/manifests"
)

func TestBuildUpToDate(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, s *setup)
		// upToDate: the second build builds nothing; seeded: the build
		// container is given the first build's host to keep.
		upToDate, seeded bool
	}{
		{name: "nothing changed", change: func(*testing.T, *setup) {}, upToDate: true},
		{name: "source edited", change: func(t *testing.T, s *setup) {
			appendFile(t, filepath.Join(s.root, "host", "main.go"), "\n// edited\n")
		}, seeded: true},
		{name: "new file in a module", change: func(t *testing.T, s *setup) {
			appendFile(t, filepath.Join(s.root, "api", "extra.go"), "package api\n")
		}, seeded: true},
		{name: "go.sum edited", change: func(t *testing.T, s *setup) {
			appendFile(t, filepath.Join(s.root, "host", "go.sum"), "\n")
		}, seeded: true},
		{name: "config edited", change: func(t *testing.T, s *setup) {
			s.cfg.Build.Env["CGO_CFLAGS"] = "-O1"
		}, seeded: true},
		{name: "resolve environment changed", change: func(t *testing.T, s *setup) {
			s.opts.ResolveEnv = append(s.opts.ResolveEnv, "GONOSUMDB=example.com")
		}, seeded: true},
		{name: "another pbuild", change: func(t *testing.T, s *setup) {
			s.opts.ToolID = "other"
		}, seeded: true},
		{name: "forced", change: func(t *testing.T, s *setup) {
			s.opts.Force = true
		}},
		{name: "artifact changed", change: func(t *testing.T, s *setup) {
			appendFile(t, filepath.Join(s.root, "dist", "greeter"), "x")
		}},
		{name: "artifact removed", change: func(t *testing.T, s *setup) {
			if err := os.Remove(filepath.Join(s.root, "dist", "greeter")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "manifest edited", change: func(t *testing.T, s *setup) {
			// Its artifacts still match their entries: they are kept.
			appendFile(t, filepath.Join(s.root, "dist", manifests.FileName), " ")
		}, seeded: true},
		{name: "inputs record removed", change: func(t *testing.T, s *setup) {
			if err := os.Remove(filepath.Join(s.root, "dist", InputsFile)); err != nil {
				t.Fatal(err)
			}
		}, seeded: true},
		{name: "inputs record garbled", change: func(t *testing.T, s *setup) {
			if err := os.WriteFile(filepath.Join(s.root, "dist", InputsFile), []byte("{"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, seeded: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := hostOnlySetup(t)
			s.opts.ToolID = "pbuild-test"
			first, err := Build(context.Background(), s.cfg, s.opts)
			if err != nil {
				t.Fatal(err)
			}
			if first.UpToDate {
				t.Fatal("the first build was up to date")
			}
			if _, err := os.Stat(filepath.Join(s.root, "dist", InputsFile)); err != nil {
				t.Fatalf("no inputs record: %v", err)
			}
			if _, seeded := s.be.compiles[0].Previous["greeter"]; seeded {
				t.Error("the first build was given a host to keep")
			}
			containers, compiles := len(s.eng.Created()), len(s.be.compiles)

			tt.change(t, s)
			second, err := Build(context.Background(), s.cfg, s.opts)
			if err != nil {
				t.Fatal(err)
			}
			created := s.eng.Created()[containers:]
			if second.UpToDate != tt.upToDate {
				t.Fatalf("UpToDate = %v, want %v", second.UpToDate, tt.upToDate)
			}
			if tt.upToDate {
				// Not even the toolchain probe runs again: it is kept by
				// image ID.
				if len(created) != 0 || len(s.be.compiles) != compiles || len(s.be.resolves) != 1 {
					t.Errorf("an up-to-date build ran %d containers, %d compiles", len(created), len(s.be.compiles)-compiles)
				}
				if second.Manifest.ABIKey != first.Manifest.ABIKey || !slices.EqualFunc(second.Manifest.Artifacts, first.Manifest.Artifacts, func(a, b manifests.Artifact) bool { return a.SHA256 == b.SHA256 }) {
					t.Error("the up-to-date result differs from the build's")
				}
				if !slices.ContainsFunc(s.events, func(e Event) bool { return e.Step == StepUpToDate && strings.Contains(e.Message, "up to date") }) {
					t.Errorf("no up-to-date event in %v", s.events)
				}
				return
			}
			if len(s.be.compiles) != compiles+1 {
				t.Fatalf("%d compiles, want one more", len(s.be.compiles)-compiles)
			}
			_, seeded := s.be.compiles[compiles].Previous["greeter"]
			if seeded != tt.seeded {
				t.Errorf("build container given the last host: %v, want %v", seeded, tt.seeded)
			}
			p, _, err := planBuild(s.cfg, &s.opts)
			if err != nil {
				t.Fatal(err)
			}
			if m, _ := upToDate(context.Background(), p, "x"); m != nil {
				t.Error("an output directory is up to date for other inputs")
			}
			// The rebuilt directory is up to date again for a third build.
			s.opts.Force = false
			third, err := Build(context.Background(), s.cfg, s.opts)
			if err != nil || !third.UpToDate {
				t.Errorf("third build: UpToDate = %v, %v", third != nil && third.UpToDate, err)
			}
		})
	}
}

func TestPreviousArtifactsOnlyThisBuilds(t *testing.T) {
	s, _ := hostOnlySetup(t)
	if _, err := Build(context.Background(), s.cfg, s.opts); err != nil {
		t.Fatal(err)
	}
	dist := filepath.Join(s.root, "dist")
	p, ws, err := planBuild(s.cfg, &s.opts)
	if err != nil {
		t.Fatal(err)
	}
	pkgs := platformPackages(ws, p.Platforms[0])
	if got := slices.Sorted(maps.Keys(previousArtifacts(context.Background(), dist, pkgs))); !slices.Equal(got, []string{"greeter"}) {
		t.Errorf("previousArtifacts = %q, want [greeter]", got)
	}
	pkgs[0].Name = "renamed"
	if got := previousArtifacts(context.Background(), dist, pkgs); len(got) != 0 {
		t.Errorf("previousArtifacts for a renamed host = %v, want none", slices.Sorted(maps.Keys(got)))
	}
	if got := previousArtifacts(context.Background(), t.TempDir(), pkgs); len(got) != 0 {
		t.Errorf("previousArtifacts of an empty directory = %v", slices.Sorted(maps.Keys(got)))
	}
}

func appendFile(t *testing.T, file, text string) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBuildKeepsUpToDateArtifacts(t *testing.T) {
	s, bin := hostOnlySetup(t)
	first, err := Build(context.Background(), s.cfg, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	// The next link would give other bytes, so the output tells whether
	// the kept file came from the last build's directory.
	s.be.outFile = func(string) []byte { return append(slices.Clone(bin), "relinked"...) }
	s.be.keep = map[string]bool{"greeter": true}
	appendFile(t, filepath.Join(s.root, "host", "main.go"), "\n// edited\n")
	s.events = nil
	second, err := Build(context.Background(), s.cfg, s.opts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(s.events, Event{StepCompile, "kept 1 of 1 artifacts as up to date: greeter"}) {
		t.Errorf("no kept event in %v", s.events)
	}
	got, err := os.ReadFile(filepath.Join(s.root, "dist", "greeter"))
	if err != nil || !slices.Equal(got, bin) {
		t.Errorf("dist/greeter is not the kept file (%d bytes, %v)", len(got), err)
	}
	if second.Manifest.Artifacts[0].SHA256 != first.Manifest.Artifacts[0].SHA256 {
		t.Error("the kept artifact's manifest entry changed")
	}
	last := s.be.compiles[len(s.be.compiles)-1]
	if _, ok := last.Previous["greeter"]; !ok || last.PreviousDir != filepath.Join(s.root, "dist") {
		t.Errorf("the last build's artifacts were not given: %v from %s", last.Previous, last.PreviousDir)
	}

	// Not kept, the new file goes in; with --force nothing is given.
	s.be.keep = nil
	appendFile(t, filepath.Join(s.root, "host", "main.go"), "\n// edited again\n")
	s.events = nil
	if _, err := Build(context.Background(), s.cfg, s.opts); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(s.events, Event{StepCompile, "kept 0 of 1 artifacts as up to date: "}) {
		t.Errorf("no kept event in %v", s.events)
	}
	if got, _ := os.ReadFile(filepath.Join(s.root, "dist", "greeter")); !strings.HasSuffix(string(got), "relinked") {
		t.Error("dist/greeter is not the new file")
	}
	s.opts.Force = true
	if _, err := Build(context.Background(), s.cfg, s.opts); err != nil {
		t.Fatal(err)
	}
	if last := s.be.compiles[len(s.be.compiles)-1]; last.Previous != nil || !last.Force {
		t.Errorf("--force gave the last build's artifacts: %v", last.Previous)
	}
}
