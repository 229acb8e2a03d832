package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeEngine records the calls made to it and fails where told.
type fakeEngine struct {
	mu    sync.Mutex
	calls []string

	createErr, startErr, removeErr, copyErr, execErr error
	execCode                                         int

	// removeCtxErr and removeDeadline are what Remove saw of its context.
	removeCtxErr   error
	removeDeadline time.Time
	removeCalled   bool

	// stopped, when set, answers Inspect (else the container runs);
	// list answers List.
	stopped  *State
	stateErr error
	list     []Summary
}

func (f *fakeEngine) Inspect(ctx context.Context, id string) (State, error) {
	if f.stopped != nil {
		return *f.stopped, f.stateErr
	}
	return State{Running: true}, f.stateErr
}

func (f *fakeEngine) List(ctx context.Context) ([]Summary, error) { return f.list, nil }

func (f *fakeEngine) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeEngine) Create(ctx context.Context, spec Spec) (string, error) {
	f.record("create %s", spec.Step)
	if f.createErr != nil {
		return "", f.createErr
	}
	return "c1", nil
}

func (f *fakeEngine) Start(ctx context.Context, id string) error {
	f.record("start %s", id)
	return f.startErr
}

func (f *fakeEngine) CopyTo(ctx context.Context, id, dir string, tar io.Reader) error {
	data, _ := io.ReadAll(tar)
	f.record("copyto %s %s %s", id, dir, data)
	return f.copyErr
}

func (f *fakeEngine) CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error) {
	f.record("copyfrom %s %s", id, path)
	if f.copyErr != nil {
		return nil, f.copyErr
	}
	return io.NopCloser(strings.NewReader("data")), nil
}

func (f *fakeEngine) Exec(ctx context.Context, id string, e Exec) (int, error) {
	f.record("exec %s %s", id, strings.Join(e.Cmd, " "))
	return f.execCode, f.execErr
}

func (f *fakeEngine) Remove(ctx context.Context, id string) error {
	f.mu.Lock()
	f.removeCalled = true
	f.removeCtxErr = ctx.Err()
	f.removeDeadline, _ = ctx.Deadline()
	f.mu.Unlock()
	f.record("remove %s", id)
	return f.removeErr
}

func (f *fakeEngine) log() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, "; ")
}

func TestUse(t *testing.T) {
	errFn := errors.New("fn failed")
	errStart := errors.New("no such image")
	errCreate := errors.New("engine unreachable")
	errRemove := errors.New("remove refused")

	tests := []struct {
		name      string
		eng       *fakeEngine
		fn        func(c *Container) error
		wantCalls string
		wantErr   error  // errors.Is target; nil for success
		wantMsg   string // exact Error() text when set
	}{
		{
			name:      "fn succeeds",
			eng:       &fakeEngine{},
			fn:        func(c *Container) error { return nil },
			wantCalls: "create build; start c1; remove c1",
		},
		{
			name:      "fn fails",
			eng:       &fakeEngine{},
			fn:        func(c *Container) error { return errFn },
			wantCalls: "create build; start c1; remove c1",
			wantErr:   errFn,
			wantMsg:   "fn failed",
		},
		{
			name:      "start fails",
			eng:       &fakeEngine{startErr: errStart},
			fn:        func(c *Container) error { t.Error("fn called after a failed start"); return nil },
			wantCalls: "create build; start c1; remove c1",
			wantErr:   errStart,
			wantMsg:   "start build container: no such image",
		},
		{
			name:      "create fails",
			eng:       &fakeEngine{createErr: errCreate},
			fn:        func(c *Container) error { t.Error("fn called after a failed create"); return nil },
			wantCalls: "create build",
			wantErr:   errCreate,
			wantMsg:   "create build container: engine unreachable",
		},
		{
			name:      "remove fails after success",
			eng:       &fakeEngine{removeErr: errRemove},
			fn:        func(c *Container) error { return nil },
			wantCalls: "create build; start c1; remove c1",
			wantErr:   errRemove,
			wantMsg:   "remove build container: remove refused",
		},
		{
			// fn's error is the one worth reporting.
			name:      "remove fails after fn failed",
			eng:       &fakeEngine{removeErr: errRemove},
			fn:        func(c *Container) error { return errFn },
			wantCalls: "create build; start c1; remove c1",
			wantErr:   errFn,
			wantMsg:   "fn failed",
		},
		{
			name: "fn uses the container",
			eng:  &fakeEngine{},
			fn: func(c *Container) error {
				if c.ID() != "c1" {
					return fmt.Errorf("ID() = %q", c.ID())
				}
				ctx := context.Background()
				if err := c.CopyTo(ctx, "/", strings.NewReader("tar")); err != nil {
					return err
				}
				rc, err := c.CopyFrom(ctx, "/out")
				if err != nil {
					return err
				}
				rc.Close()
				_, err = c.Exec(ctx, Exec{Cmd: []string{"go", "version"}})
				return err
			},
			wantCalls: "create build; start c1; copyto c1 / tar; copyfrom c1 /out; exec c1 go version; remove c1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Use(context.Background(), tt.eng, Spec{Image: "img", Step: "build"}, tt.fn)
			if got := tt.eng.log(); got != tt.wantCalls {
				t.Errorf("calls = %q, want %q", got, tt.wantCalls)
			}
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Use = %v, want success", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Use = %v, want an error wrapping %v", err, tt.wantErr)
			}
			if tt.wantMsg != "" && err.Error() != tt.wantMsg {
				t.Errorf("Use error = %q, want %q", err, tt.wantMsg)
			}
		})
	}
}

func TestUseRemovesAfterCancel(t *testing.T) {
	eng := &fakeEngine{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := Use(ctx, eng, Spec{Image: "img", Step: "build"}, func(c *Container) error {
		cancel() // Ctrl-C while the build runs
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Use = %v, want context.Canceled", err)
	}
	if !eng.removeCalled {
		t.Fatal("Remove was not called after the context was cancelled")
	}
	if eng.removeCtxErr != nil {
		t.Errorf("Remove got a context that is already done: %v", eng.removeCtxErr)
	}
	if eng.removeDeadline.IsZero() {
		t.Error("Remove got a context without a deadline; clean-up could hang forever")
	} else if d := time.Until(eng.removeDeadline); d <= 0 || d > removeTimeout {
		t.Errorf("Remove deadline is %v away, want within (0, %v]", d, removeTimeout)
	}
	if got, want := eng.log(), "create build; start c1; remove c1"; got != want {
		t.Errorf("calls = %q, want %q", got, want)
	}
}

func TestUseRemovesWhenCancelledBeforeStart(t *testing.T) {
	// A context cancelled before Use is called: the engine's Start fails
	// with the context's error and the created container is still removed.
	eng := &fakeEngine{startErr: context.Canceled}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Use(ctx, eng, Spec{Image: "img", Step: "resolve"}, func(c *Container) error {
		t.Error("fn called")
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Use = %v, want context.Canceled", err)
	}
	if eng.removeCtxErr != nil {
		t.Errorf("Remove got a done context: %v", eng.removeCtxErr)
	}
	if got, want := eng.log(), "create resolve; start c1; remove c1"; got != want {
		t.Errorf("calls = %q, want %q", got, want)
	}
}

func TestContainerErrorsNameTheStep(t *testing.T) {
	boom := errors.New("boom")
	eng := &fakeEngine{copyErr: boom, execErr: boom, execCode: -1}
	var copyTo, copyFrom, execErr error
	var code int
	err := Use(context.Background(), eng, Spec{Image: "img", Step: "resolve"}, func(c *Container) error {
		ctx := context.Background()
		copyTo = c.CopyTo(ctx, "/", bytes.NewReader(nil))
		_, copyFrom = c.CopyFrom(ctx, "/src/vendor")
		code, execErr = c.Exec(ctx, Exec{Cmd: []string{"go", "work", "vendor"}})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{copyTo, "copy into resolve container: boom"},
		{copyFrom, "copy /src/vendor out of resolve container: boom"},
		{execErr, `exec ["go" "work" "vendor"] in resolve container: boom`},
	} {
		if tt.err == nil || tt.err.Error() != tt.want || !errors.Is(tt.err, boom) {
			t.Errorf("error = %v, want %q wrapping boom", tt.err, tt.want)
		}
	}
	if code != -1 {
		t.Errorf("Exec code = %d, want the engine's -1", code)
	}
}

func TestExecNonZeroIsNotAnError(t *testing.T) {
	eng := &fakeEngine{execCode: 2}
	err := Use(context.Background(), eng, Spec{Step: "build"}, func(c *Container) error {
		code, err := c.Exec(context.Background(), Exec{Cmd: []string{"false"}})
		if err != nil {
			return err
		}
		if code != 2 {
			return fmt.Errorf("code = %d, want 2", code)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLabels(t *testing.T) {
	tests := []struct {
		spec Spec
		want map[string]string
	}{
		{Spec{Step: "build"}, map[string]string{"pbuild": "1", "pbuild.step": "build"}},
		{Spec{Step: "resolve", Project: "/p/pbuild.yaml"}, map[string]string{"pbuild": "1", "pbuild.step": "resolve", "pbuild.project": "/p/pbuild.yaml"}},
	}
	for _, tt := range tests {
		got := Labels(tt.spec)
		if len(got) != len(tt.want) {
			t.Errorf("Labels(%+v) = %v, want %v", tt.spec, got, tt.want)
			continue
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("Labels(%+v) = %v, want %v", tt.spec, got, tt.want)
				break
			}
		}
	}
}

// TestStoppedContainerIsNamed: a command that fails because its container
// was stopped (docker stop, the OOM killer) is not blamed on the command.
func TestStoppedContainerIsNamed(t *testing.T) {
	for _, c := range []struct {
		name    string
		eng     *fakeEngine
		want    string
		wantHnt string
	}{
		{"docker stop", &fakeEngine{execCode: 137, stopped: &State{ExitCode: 137}}, "the build container c1 stopped while pbuild worked in it (exit 137)", "something outside pbuild stopped"},
		{"oom", &fakeEngine{execCode: 137, stopped: &State{ExitCode: 137, OOMKilled: true}}, "ran out of memory", "more memory"},
		{"removed", &fakeEngine{execErr: errors.New("no such container"), stopped: &State{}, stateErr: fmt.Errorf("x: %w", ErrNotFound)}, "was removed while", "docker stop or rm"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Use(context.Background(), c.eng, Spec{Step: "build"}, func(ct *Container) error {
				_, err := ct.Exec(context.Background(), Exec{Cmd: []string{"go", "build"}})
				return err
			})
			var se *StoppedError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), c.want) || !strings.Contains(se.Hint(), c.wantHnt) {
				t.Fatalf("got %v, want a StoppedError saying %q", err, c.want)
			}
		})
	}
}
