package buildkitengine

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	contentlocal "github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	gwpb "github.com/moby/buildkit/frontend/gateway/pb"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/fsutil"
)

// SolveOptions say what a Solve reads, writes and shows.
type SolveOptions struct {
	// LocalDirs are the local contexts the graph uses, by name
	// (SourceContext): directories on this machine.
	LocalDirs map[string]string
	// OCIStores are OCI image layouts on this machine the graph reads
	// (OCIStoreID for ToolchainOCI), by store ID.
	OCIStores map[string]string
	// OutputDir, when set, receives the result through the local exporter.
	OutputDir string
	// Status, when set, is given the solve's progress (a progress.Printer
	// shows it).
	Status func(*client.SolveStatus)
	// SharedKey scopes BuildKit's reuse of transferred local contexts;
	// "pbuild" when empty. Keep it stable between builds.
	SharedKey string
	// Platform is the default platform of the graph; the client's when nil.
	Platform *ocispecs.Platform
	// MaxLog bounds the output kept per step for errors (default 1 MiB).
	MaxLog int
}

// SolveResult is a successful Solve.
type SolveResult struct {
	Steps    []Step // in the order they started
	Duration time.Duration
}

// Step is a vertex of the solved graph.
type Step struct {
	Name     string
	Cached   bool
	Duration time.Duration // zero when cached or not reported
	Error    string
	// Output is what the step wrote (stdout and stderr), up to MaxLog.
	Output string
}

// Step returns the step named name.
func (r *SolveResult) Step(name string) (Step, bool) {
	for _, s := range r.Steps {
		if s.Name == name {
			return s, true
		}
	}
	return Step{}, false
}

// ExecError is a Run that failed.
type ExecError struct {
	Vertex   string // the Run's name: ResolveName, Artifact.VertexName()
	ExitCode int    // -1 when BuildKit did not say
	Output   string // what the Run wrote, stdout and stderr interleaved
	Err      error  // BuildKit's error
}

func (e *ExecError) Error() string {
	msg := fmt.Sprintf("%s: %v", e.Vertex, e.Err)
	if out := strings.TrimSpace(e.Output); out != "" {
		msg += "\n" + out
	}
	return msg
}

func (e *ExecError) Unwrap() error { return e.Err }

// SolveError is a Solve that failed without a Run to blame (an unknown
// image, an unreachable daemon, a failed transfer or export).
type SolveError struct {
	Vertex string // the step that failed, when known
	Err    error
}

func (e *SolveError) Error() string {
	if e.Vertex != "" {
		return fmt.Sprintf("buildkit: %s: %v", e.Vertex, e.Err)
	}
	return "buildkit: " + e.Err.Error()
}
func (e *SolveError) Unwrap() error { return e.Err }

// Hint tells the user what to do.
func (e *SolveError) Hint() string {
	if isRetryTimeout(e.Err) {
		return "the BuildKit daemon (before v0.9, as in Docker 20.10) lost a race between Runs that start at once; build again, or use a newer buildkitd (--buildkit-addr) or --backend docker"
	}
	return "BuildKit failed outside the go command: check the daemon (`pbuild doctor`), or build with --backend docker"
}

// retryTimeout is how BuildKit's flight control (util/flightcontrol)
// fails when a caller keeps finding a call that has just finished: before
// v0.9, as in Docker 20.10, many Runs sharing an input hit it when they
// compute their cache keys at once, the more so on a busy machine.
const retryTimeout = "flightcontrol: exceeded retry timeout"

func isRetryTimeout(err error) bool {
	return err != nil && strings.Contains(err.Error(), retryTimeout)
}

// Transient reports whether a Solve failed in the daemon in a way another
// Solve of the same graph gets past (the flight control retry timeout),
// not in a Run: what finished is in BuildKit's cache, so another Solve
// resumes where this one stopped.
func Transient(err error) bool {
	var se *SolveError
	return errors.As(err, &se) && isRetryTimeout(se.Err)
}

// Solve builds st and, when opt.OutputDir is set, exports it there with the
// local exporter, giving its progress to opt.Status. A failed Run comes
// back as an *ExecError (several as errors.Join of them), with its output.
func Solve(ctx context.Context, c *client.Client, st llb.State, opt SolveOptions) (*SolveResult, error) {
	start := time.Now()
	var mopts []llb.ConstraintsOpt
	if opt.Platform != nil {
		mopts = append(mopts, llb.Platform(*opt.Platform))
	}
	def, err := st.Marshal(ctx, mopts...)
	if err != nil {
		return nil, fmt.Errorf("marshal build graph: %w", err)
	}
	so := client.SolveOpt{SharedKey: opt.SharedKey, LocalMounts: map[string]fsutil.FS{}}
	if so.SharedKey == "" {
		so.SharedKey = "pbuild"
	}
	for name, dir := range opt.LocalDirs {
		fs, err := fsutil.NewFS(dir)
		if err != nil {
			return nil, fmt.Errorf("local context %s: %w", name, err)
		}
		so.LocalMounts[name] = fs
	}
	for id, dir := range opt.OCIStores {
		store, err := contentlocal.NewStore(dir)
		if err != nil {
			return nil, fmt.Errorf("OCI layout %s: %w", id, err)
		}
		if so.OCIStores == nil {
			so.OCIStores = map[string]content.Store{}
		}
		so.OCIStores[id] = store
	}
	if opt.OutputDir != "" {
		so.Exports = []client.ExportEntry{{Type: client.ExporterLocal, OutputDir: opt.OutputDir}}
	}

	rec := newRecorder(opt.MaxLog)
	statusCh := make(chan *client.SolveStatus)
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		for ss := range statusCh {
			rec.record(ss)
			if opt.Status != nil {
				opt.Status(ss)
			}
		}
	}()
	_, serr := c.Solve(ctx, def, so, statusCh)
	<-recorded

	res := &SolveResult{Steps: rec.steps(), Duration: time.Since(start)}
	if serr != nil {
		if ctx.Err() != nil {
			return res, fmt.Errorf("buildkit: %w", context.Cause(ctx))
		}
		return res, rec.blame(serr)
	}
	return res, nil
}

// recorder keeps what the status stream says about every vertex.
type recorder struct {
	mu     sync.Mutex
	max    int
	order  []digest.Digest
	vs     map[digest.Digest]*client.Vertex
	logs   map[digest.Digest]*strings.Builder
	capped map[digest.Digest]bool
}

func newRecorder(max int) *recorder {
	if max <= 0 {
		max = 1 << 20
	}
	return &recorder{max: max, vs: map[digest.Digest]*client.Vertex{}, logs: map[digest.Digest]*strings.Builder{}, capped: map[digest.Digest]bool{}}
}

func (r *recorder) record(ss *client.SolveStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range ss.Vertexes {
		if _, ok := r.vs[v.Digest]; !ok {
			r.order = append(r.order, v.Digest)
		}
		cp := *v
		r.vs[v.Digest] = &cp
	}
	for _, l := range ss.Logs {
		b := r.logs[l.Vertex]
		if b == nil {
			b = &strings.Builder{}
			r.logs[l.Vertex] = b
		}
		if b.Len()+len(l.Data) > r.max {
			r.capped[l.Vertex] = true
			continue
		}
		b.Write(l.Data)
	}
}

func (r *recorder) output(d digest.Digest) string {
	b := r.logs[d]
	if b == nil {
		return ""
	}
	s := b.String()
	if r.capped[d] {
		s += "\n[output truncated]"
	}
	return s
}

func (r *recorder) steps() []Step {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Step
	for _, d := range r.order {
		v := r.vs[d]
		s := Step{Name: v.Name, Cached: v.Cached, Error: v.Error, Output: r.output(d)}
		if v.Started != nil && v.Completed != nil && !v.Cached {
			s.Duration = v.Completed.Sub(*v.Started)
		}
		out = append(out, s)
	}
	return out
}

var exitCodeRE = regexp.MustCompile(`exit code: (\d+)`)

// blame turns a failed Solve into ExecErrors for the vertices that failed
// by themselves (not cancelled because another one did).
func (r *recorder) blame(err error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var failed []*ExecError
	other := ""
	for _, d := range r.order {
		v := r.vs[d]
		if v.Error == "" || isCancel(v.Error) {
			continue
		}
		if !isExecFailure(v.Error) {
			if other == "" {
				other = v.Name
			}
			continue
		}
		e := &ExecError{Vertex: v.Name, ExitCode: -1, Output: r.output(d), Err: errors.New(v.Error)}
		if m := exitCodeRE.FindStringSubmatch(v.Error); m != nil {
			e.ExitCode, _ = strconv.Atoi(m[1])
		}
		failed = append(failed, e)
	}
	var exit *gwpb.ExitError
	if len(failed) == 1 {
		failed[0].Err = err
		if errors.As(err, &exit) {
			failed[0].ExitCode = int(exit.ExitCode)
		}
		return failed[0]
	}
	if len(failed) > 1 {
		sort.SliceStable(failed, func(i, j int) bool { return failed[i].Vertex < failed[j].Vertex })
		errs := make([]error, len(failed))
		for i, f := range failed {
			errs[i] = f
		}
		return errors.Join(errs...)
	}
	return &SolveError{Vertex: other, Err: err}
}

func isExecFailure(s string) bool {
	return strings.Contains(s, "did not complete successfully") || exitCodeRE.MatchString(s)
}

func isCancel(s string) bool {
	return strings.Contains(s, "context canceled") || strings.HasSuffix(s, "canceled")
}
