package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Label is set on every container pbuild starts, so that leftovers can be
// found (`docker ps -a --filter label=pbuild`) and tests can prove there are
// none.
const Label = "pbuild"

// OwnerLabel names the pbuild process that started a container (an
// owner.ID), so that a later pbuild removes it if that process was killed.
const OwnerLabel = Label + ".owner"

// Labels are the labels of a container started for spec.
func Labels(spec Spec) map[string]string {
	l := map[string]string{Label: "1", Label + ".step": spec.Step}
	if spec.Project != "" {
		l[Label+".project"] = spec.Project
	}
	if spec.Owner != "" {
		l[OwnerLabel] = spec.Owner
	}
	return l
}

// ErrNotFound is returned (wrapped) by engines for a missing image or container.
var ErrNotFound = errors.New("not found")

// Mount attaches a named volume, which the engine creates on first use, or
// with Tmpfs a file system in memory that lives as long as the container.
type Mount struct {
	Volume string
	Target string
	Tmpfs  bool
}

// Spec describes a container to create. The container's main process only
// keeps it alive; work runs in it through Exec.
type Spec struct {
	Image string
	Step  string // what the container is for, recorded in a label
	// Project is the config file the container works for, recorded in a
	// label so `docker ps --filter label=pbuild.project=FILE` finds it.
	Project string
	// Owner is the pbuild process starting the container (owner.ID's
	// string), recorded in a label.
	Owner  string
	Env    []string
	Mounts []Mount
	// Network allows the container to reach the network; without it the
	// container has none (only loopback).
	Network bool
}

// Exec is one command run inside a started container.
type Exec struct {
	Cmd    []string
	Env    []string
	Dir    string
	Stdout io.Writer // nil discards
	Stderr io.Writer // nil discards
}

// Engine is what pbuild needs of a container engine.
type Engine interface {
	// Create creates (but does not start) a container and returns its ID.
	Create(ctx context.Context, spec Spec) (string, error)
	Start(ctx context.Context, id string) error
	// CopyTo extracts the tar stream into dir inside the container.
	CopyTo(ctx context.Context, id, dir string, tar io.Reader) error
	// CopyFrom returns a tar stream of path inside the container; its
	// entries are named after the last element of path.
	CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error)
	// Exec runs a command to completion and returns its exit code.
	Exec(ctx context.Context, id string, e Exec) (int, error)
	// Remove kills and removes the container.
	Remove(ctx context.Context, id string) error
	// Inspect tells whether the container runs, and how it ended.
	Inspect(ctx context.Context, id string) (State, error)
	// List lists the containers carrying Label.
	List(ctx context.Context) ([]Summary, error)
}

// State is a container's state.
type State struct {
	Running   bool
	ExitCode  int
	OOMKilled bool
	Error     string // the engine's error, if any
}

// Summary is a container carrying Label, as the engine lists it.
type Summary struct {
	ID     string
	Labels map[string]string
	State  string // "running", "exited", ...
}

// removeTimeout bounds the clean-up of a container once its context is gone.
const removeTimeout = 30 * time.Second

// Use creates and starts a container for spec, calls fn with it and removes it
// afterwards, whatever fn returned and also when ctx was cancelled.
func Use(ctx context.Context, eng Engine, spec Spec, fn func(c *Container) error) (err error) {
	id, err := eng.Create(ctx, spec)
	if err != nil {
		return fmt.Errorf("create %s container: %w", spec.Step, err)
	}
	defer func() {
		// The caller's context may be cancelled (Ctrl-C): clean up anyway.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeTimeout)
		defer cancel()
		if rerr := eng.Remove(rctx, id); rerr != nil && err == nil {
			err = fmt.Errorf("remove %s container: %w", spec.Step, rerr)
		}
	}()
	if err := eng.Start(ctx, id); err != nil {
		return fmt.Errorf("start %s container: %w", spec.Step, err)
	}
	return fn(&Container{eng: eng, id: id, step: spec.Step})
}

// Container is a started container handed to the function given to Use.
type Container struct {
	eng  Engine
	id   string
	step string
}

// ID is the engine's ID of the container.
func (c *Container) ID() string { return c.id }

// CopyTo extracts a tar stream into dir in the container.
func (c *Container) CopyTo(ctx context.Context, dir string, tar io.Reader) error {
	if err := c.eng.CopyTo(ctx, c.id, dir, tar); err != nil {
		if se := c.stopped(ctx, 0); se != nil {
			return se
		}
		return fmt.Errorf("copy into %s container: %w", c.step, err)
	}
	return nil
}

// stopped is a *StoppedError when the container no longer runs, else nil.
// A command killed by a signal (exit code above 128) may have died with its
// container, whose state the engine updates a moment later: it is asked
// again for a while.
func (c *Container) stopped(ctx context.Context, code int) error {
	for wait := 0; ; wait++ {
		if ctx.Err() != nil {
			return nil
		}
		st, err := c.eng.Inspect(ctx, c.id)
		if errors.Is(err, ErrNotFound) || err == nil && !st.Running {
			return &StoppedError{Step: c.step, ID: c.id, State: st, Gone: err != nil}
		}
		if code <= 128 || wait == stoppedPolls {
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(stoppedPoll):
		}
	}
}

// How long stopped asks again after a command killed by a signal.
const (
	stoppedPoll  = 200 * time.Millisecond
	stoppedPolls = 15
)

// CopyFrom streams path out of the container as a tar archive.
func (c *Container) CopyFrom(ctx context.Context, path string) (io.ReadCloser, error) {
	rc, err := c.eng.CopyFrom(ctx, c.id, path)
	if err != nil {
		if se := c.stopped(ctx, 0); se != nil {
			return nil, se
		}
		return nil, fmt.Errorf("copy %s out of %s container: %w", path, c.step, err)
	}
	return rc, nil
}

// Exec runs a command and returns its exit code; a non-zero exit code is not
// an error here, so callers can attach their own diagnosis. When the command
// failed because the container itself stopped (docker stop, the kernel's
// OOM killer, an engine restart), the error is a *StoppedError: the command
// is not to blame.
func (c *Container) Exec(ctx context.Context, e Exec) (int, error) {
	code, err := c.eng.Exec(ctx, c.id, e)
	if err != nil || code != 0 {
		if se := c.stopped(ctx, code); se != nil {
			return code, se
		}
	}
	if err != nil {
		return code, fmt.Errorf("exec %q in %s container: %w", e.Cmd, c.step, err)
	}
	return code, nil
}

// StoppedError is a container that stopped while pbuild worked in it.
type StoppedError struct {
	Step  string
	ID    string
	State State
	Gone  bool // removed, not only stopped
}

func (e *StoppedError) Error() string {
	id := e.ID
	if len(id) > 12 {
		id = id[:12]
	}
	switch {
	case e.Gone:
		return fmt.Sprintf("the %s container %s was removed while pbuild worked in it", e.Step, id)
	case e.State.OOMKilled:
		return fmt.Sprintf("the %s container %s ran out of memory and was killed (exit %d)", e.Step, id, e.State.ExitCode)
	}
	return fmt.Sprintf("the %s container %s stopped while pbuild worked in it (exit %d%s)", e.Step, id, e.State.ExitCode, orNothing(", ", e.State.Error))
}

// Hint tells the user what to do.
func (e *StoppedError) Hint() string {
	if e.State.OOMKilled {
		return "give the Docker engine more memory, then build again; the source is not to blame"
	}
	return "something outside pbuild stopped its container (docker stop or rm, an engine restart): build again; the source is not to blame"
}

func orNothing(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}
