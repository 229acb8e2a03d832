package dockerbackend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pbuild/pbuild/builder"
	"github.com/pbuild/pbuild/internal/archive"
	"github.com/pbuild/pbuild/internal/container"
	"github.com/pbuild/pbuild/plan"
	"github.com/pbuild/pbuild/resolve"
)

// Backend builds in containers of an engine.
type Backend struct {
	Engine container.Engine
	// Owner labels every container (owner.ID's string), so that a later
	// pbuild can remove them if this one is killed.
	Owner string
	// Log, when set, receives the go command's output.
	Log io.Writer
	// OnEvent, when set, is told what the backend does.
	OnEvent func(msg string)
}

var _ builder.Backend = (*Backend)(nil)

// Name is "docker".
func (b *Backend) Name() string { return "docker" }

func (b *Backend) event(format string, args ...any) {
	if b.OnEvent != nil {
		b.OnEvent(fmt.Sprintf(format, args...))
	}
}

func (b *Backend) spec(image, step, project string, env []string, network bool, mounts ...container.Mount) container.Spec {
	return container.Spec{Image: image, Step: step, Project: project, Owner: b.Owner, Env: env, Network: network, Mounts: mounts}
}

// Resolve runs the resolve in a container with the network.
func (b *Backend) Resolve(ctx context.Context, r builder.ResolveRequest) (*builder.ResolveOutput, error) {
	var out builder.ResolveOutput
	spec := b.spec(r.Toolchain.Image, "resolve", r.Project, r.Env, true, container.Mount{Volume: plan.ModCache, Target: plan.ModDir})
	err := container.Use(ctx, b.Engine, spec, func(c *container.Container) error {
		if err := copyDir(ctx, c, r.Stage); err != nil {
			return err
		}
		if len(r.CABundle) > 0 {
			var ca bytes.Buffer
			bundle := archive.Bytes(strings.TrimPrefix(plan.CABundlePath, "/"), r.CABundle, false, time.Unix(0, 0))
			if err := archive.Write(ctx, &ca, []archive.Entry{bundle}, archive.WriteOptions{}); err != nil {
				return err
			}
			if err := c.CopyTo(ctx, "/", &ca); err != nil {
				return err
			}
		}
		run := func(name string, stdout io.Writer, cmd ...string) error {
			var stderr bytes.Buffer
			code, err := c.Exec(ctx, container.Exec{Cmd: cmd, Dir: plan.SourceDir, Stdout: stdout, Stderr: io.MultiWriter(&stderr, orDiscard(b.Log))})
			if err != nil {
				return err
			}
			if code != 0 {
				return &resolve.Error{Step: name, Code: code, Output: stderr.String()}
			}
			return nil
		}
		for _, d := range r.UseDirs {
			if err := run("go work use", b.Log, "go", "work", "use", "./"+d); err != nil {
				return err
			}
		}
		var list, graph bytes.Buffer
		if err := run("go list -m all", &list, "go", "list", "-mod=readonly", "-m", "-json", "all"); err != nil {
			return err
		}
		if r.Graph {
			if err := run("go mod graph", &graph, "go", "mod", "graph"); err != nil {
				return err
			}
		}
		if err := run("go work vendor", b.Log, "go", "work", "vendor"); err != nil {
			return err
		}
		if err := run("go.work.sum", b.Log, "touch", "go.work.sum"); err != nil {
			return err
		}
		back := []string{"vendor", "go.work.sum"}
		if len(r.UseDirs) > 0 {
			back = append(back, "go.work")
		}
		for _, name := range back {
			if err := copyBack(ctx, c, path.Join(plan.SourceDir, name), r.Stage); err != nil {
				return err
			}
		}
		out.List, out.Graph = list.Bytes(), graph.Bytes()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Compile builds every unit in one container without network.
func (b *Backend) Compile(ctx context.Context, r builder.CompileRequest) (*builder.CompileOutput, error) {
	var kept []string
	spec := b.spec(r.Toolchain.Image, "build", r.Project, r.Env, false,
		container.Mount{Volume: plan.GoCache, Target: plan.GoCacheDir},
		// The go command's work directories in memory, off the
		// container's root file system, whose storage driver may be slow
		// to write (every object and every link passes through $WORK).
		container.Mount{Target: plan.TmpDir, Tmpfs: true})
	err := container.Use(ctx, b.Engine, spec, func(c *container.Container) error {
		if err := copyDir(ctx, c, r.Stage); err != nil {
			return err
		}
		if err := mkdirs(ctx, c, r.Phases); err != nil {
			return err
		}
		given := slices.Sorted(maps.Keys(r.Previous))
		pinned := false
		if len(given) > 0 && !r.Force {
			b.event("%d artifacts of the last build given to the go command, which links only what changed", len(given))
			pr, pw := io.Pipe()
			go func() {
				pw.CloseWithError(archive.WriteFiles(ctx, pw, r.PreviousDir, strings.TrimPrefix(plan.OutDir, "/"), given))
			}()
			err := c.CopyTo(ctx, "/", pr)
			pr.Close()
			if err != nil {
				return err
			}
			pinned = pin(ctx, c, given)
		}
		if err := compilePhases(ctx, c, r.Phases, b); err != nil {
			return err
		}
		if pinned {
			kept = keptFiles(ctx, c, r, given)
		}
		if len(kept) > 0 {
			// What was kept is in the output directory already: only the
			// new links travel.
			rm := append([]string{"rm", "-f", "--"}, prefixed(plan.OutDir+"/", kept)...)
			if code, err := c.Exec(ctx, container.Exec{Cmd: rm}); err != nil || code != 0 {
				kept = nil
			}
		}
		return copyBack(ctx, c, plan.OutDir, r.Out, strings.TrimPrefix(plan.OutDir, "/"))
	})
	if err != nil {
		return nil, err
	}
	return &builder.CompileOutput{Kept: kept}, nil
}

// mkdirs makes the directories the units write into.
func mkdirs(ctx context.Context, c *container.Container, phases [][]builder.Unit) error {
	dirs := map[string]bool{plan.OutDir: true}
	for _, ph := range phases {
		for _, u := range ph {
			dirs[path.Dir(u.Out)] = true
		}
	}
	cmd := append([]string{"mkdir", "-p", "--"}, slices.Sorted(maps.Keys(dirs))...)
	if code, err := c.Exec(ctx, container.Exec{Cmd: cmd}); err != nil || code != 0 {
		return fmt.Errorf("prepare %s: exit %d: %w", plan.OutDir, code, err)
	}
	return nil
}

// compilePhases runs the phases one after the other, the units of a phase
// in parallel. Every failure of a phase is reported.
func compilePhases(ctx context.Context, c *container.Container, phases [][]builder.Unit, b *Backend) error {
	for _, phase := range phases {
		var wg sync.WaitGroup
		errs := make([]error, len(phase))
		for i, u := range phase {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = compile(ctx, c, u, b)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	return nil
}

func compile(ctx context.Context, c *container.Container, u builder.Unit, b *Backend) error {
	start := time.Now()
	b.event("%s", u.Target)
	var out bytes.Buffer
	code, err := c.Exec(ctx, container.Exec{Cmd: u.Args, Dir: u.Dir, Stdout: &out, Stderr: &out})
	if err != nil {
		return err
	}
	if code != 0 {
		return &builder.CompileError{Name: u.Target.Name, Kind: string(u.Target.Kind), Code: code, Output: out.String()}
	}
	b.event("%s done in %.1fs", u.Target, time.Since(start).Seconds())
	return nil
}

// pinDir holds, in the build container, a hard link to each of the last
// build's artifacts given to the go command. A link writes a new file,
// where an up-to-date file the go command keeps keeps its inode (it only
// updates the times); the pin keeps the old inode alive, so that a new
// file cannot get its number (file systems reuse a freed inode at once).
const pinDir = "/pbuild-kept"

// pin links the given artifacts into pinDir; false when it cannot, and
// then nothing is reported kept.
func pin(ctx context.Context, c *container.Container, given []string) bool {
	cmd := []string{"sh", "-c", `mkdir -p "$0" && cd / && cp -l --parents -- "$@" "$0"`, pinDir}
	code, err := c.Exec(ctx, container.Exec{Cmd: append(cmd, prefixed(strings.TrimPrefix(plan.OutDir, "/")+"/", given)...)})
	return err == nil && code == 0
}

// keptFiles are the given artifacts the go command kept: still the pinned
// inode, and still the recorded bytes.
func keptFiles(ctx context.Context, c *container.Container, r builder.CompileRequest, given []string) []string {
	var out bytes.Buffer
	cmd := append([]string{"stat", "-c", "%i %n", "--"}, prefixed(plan.OutDir+"/", given)...)
	cmd = append(cmd, prefixed(pinDir+plan.OutDir+"/", given)...)
	if code, err := c.Exec(ctx, container.Exec{Cmd: cmd, Stdout: &out}); err != nil || code != 0 {
		return nil
	}
	ino := fieldsByFile(out.String())
	var same []string
	for _, f := range given {
		if n := ino[plan.OutDir+"/"+f]; n != "" && n == ino[pinDir+plan.OutDir+"/"+f] {
			same = append(same, f)
		}
	}
	if len(same) == 0 {
		return nil
	}
	out.Reset()
	cmd = append([]string{"sha256sum", "--"}, prefixed(plan.OutDir+"/", same)...)
	if code, err := c.Exec(ctx, container.Exec{Cmd: cmd, Stdout: &out}); err != nil || code != 0 {
		return nil
	}
	sums := fieldsByFile(out.String())
	var kept []string
	for _, f := range same {
		if sums[plan.OutDir+"/"+f] == r.Previous[f].SHA256 {
			kept = append(kept, f)
		}
	}
	return kept
}

// fieldsByFile reads lines of "<value> <file>" (stat -c '%i %n', and
// sha256sum, which puts two spaces or " *" before the name).
func fieldsByFile(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if v, file, ok := strings.Cut(line, " "); ok {
			m[strings.TrimLeft(file, " *")] = v
		}
	}
	return m
}

// copyDir copies the staged workspace to plan.SourceDir.
func copyDir(ctx context.Context, c *container.Container, dir string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.WriteDir(ctx, pw, dir, strings.TrimPrefix(plan.SourceDir, "/"))) }()
	err := c.CopyTo(ctx, "/", pr)
	pr.Close()
	return err
}

// copyBack extracts p of the container into dir, strip removed from the
// entries' names ("" keeps the last element of p, as the engine names
// them); a p that does not exist copies nothing.
func copyBack(ctx context.Context, c *container.Container, p, dir string, strip ...string) error {
	rc, err := c.CopyFrom(ctx, p)
	if errors.Is(err, container.ErrNotFound) {
		return nil // nothing to vendor
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	s := ""
	if len(strip) > 0 {
		s = strip[0]
	}
	if _, err := archive.Extract(ctx, rc, dir, archive.ExtractOptions{Strip: s, Overwrite: true}); err != nil {
		return fmt.Errorf("copy %s out: %w", p, err)
	}
	return nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

func prefixed(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}
