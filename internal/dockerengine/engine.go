package dockerengine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/pbuild/pbuild/internal/container"
)

// Engine talks to a Docker engine. Every call has a deadline (Timeouts).
type Engine struct {
	cli *client.Client
	t   Timeouts
}

// Timeouts bound the calls to the engine, so that an engine that accepts
// connections but never answers fails a build instead of hanging it.
type Timeouts struct {
	// Ping bounds the first call, which tells whether an engine answers.
	Ping time.Duration
	// Call bounds a control call: inspect, create, start, remove, list.
	Call time.Duration
	// Transfer bounds a copy into or out of a container and an image build.
	Transfer time.Duration
	// Exec bounds one command in a container: a compile, a resolve.
	Exec time.Duration
}

// DefaultTimeouts are generous: they end hangs, not slow builds.
func DefaultTimeouts() Timeouts {
	return Timeouts{Ping: 15 * time.Second, Call: 2 * time.Minute, Transfer: 30 * time.Minute, Exec: 2 * time.Hour}
}

// New returns an Engine using the given client options; cmd/pbuild passes
// client.FromEnv. API version negotiation is always on. It does not talk
// to the engine: Connect does.
func New(opts ...client.Opt) (*Engine, error) {
	opts = append(opts, client.WithAPIVersionNegotiation())
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return &Engine{cli: cli, t: DefaultTimeouts()}, nil
}

// Connect returns an Engine once a Docker engine answered at the address
// the options name, within t.Ping: an *UnreachableError otherwise.
func Connect(ctx context.Context, t Timeouts, opts ...client.Opt) (*Engine, error) {
	e, err := New(opts...)
	if err != nil {
		return nil, err
	}
	e.t = t
	if err := e.ping(ctx); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// ping checks that a Docker engine answers.
func (e *Engine) ping(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, e.t.Ping)
	defer cancel()
	p, err := e.cli.Ping(pctx)
	host := e.cli.DaemonHost()
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case pctx.Err() != nil:
		return &UnreachableError{Host: host, Reason: NoAnswer, Err: fmt.Errorf("no answer within %s", e.t.Ping)}
	case err != nil && client.IsErrConnectionFailed(err):
		return &UnreachableError{Host: host, Reason: Refused, Err: err}
	case err != nil:
		return &UnreachableError{Host: host, Reason: NotAnEngine, Err: err}
	case p.APIVersion == "":
		return &UnreachableError{Host: host, Reason: NotAnEngine, Err: errors.New("its answer to /_ping names no API version")}
	}
	return nil
}

// call runs fn with a deadline d and names a deadline it hit.
func (e *Engine) call(ctx context.Context, d time.Duration, what string, fn func(ctx context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return e.timedOut(ctx, cctx, d, what, fn(cctx))
}

// timedOut turns err into a *TimeoutError when cctx, derived from ctx
// with deadline d, ran out while ctx did not.
func (e *Engine) timedOut(ctx, cctx context.Context, d time.Duration, what string, err error) error {
	if err != nil && ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
		return &TimeoutError{Host: e.cli.DaemonHost(), Call: what, After: d, Err: err}
	}
	return err
}

// Client is the Docker client, for the BuildKit backend's dialer and
// image export.
func (e *Engine) Client() *client.Client { return e.cli }

// Close releases the client's connections.
func (e *Engine) Close() error { return e.cli.Close() }

// Info describes the engine, for `pbuild doctor`.
type Info struct {
	Host          string
	ServerVersion string
	APIVersion    string // negotiated version in use
	OS, Arch      string
}

// Info pings the engine and reports its version and the negotiated API version.
func (e *Engine) Info(ctx context.Context) (Info, error) {
	var v types.Version
	err := e.call(ctx, e.t.Call, "version", func(ctx context.Context) (err error) {
		v, err = e.cli.ServerVersion(ctx)
		return err
	})
	if err != nil {
		return Info{Host: e.cli.DaemonHost()}, fmt.Errorf("reach docker engine at %s: %w", e.cli.DaemonHost(), err)
	}
	return Info{
		Host:          e.cli.DaemonHost(),
		ServerVersion: v.Version,
		APIVersion:    e.cli.ClientVersion(),
		OS:            v.Os,
		Arch:          v.Arch,
	}, nil
}

// ImageID returns the ID of a local image, or an error wrapping
// container.ErrNotFound.
func (e *Engine) ImageID(ctx context.Context, ref string) (string, error) {
	var img image.InspectResponse
	err := e.call(ctx, e.t.Call, "inspect image", func(ctx context.Context) (err error) {
		img, err = e.cli.ImageInspect(ctx, ref)
		return err
	})
	if err != nil {
		if client.IsErrNotFound(err) {
			return "", fmt.Errorf("image %s: %w", ref, container.ErrNotFound)
		}
		return "", fmt.Errorf("inspect image %s: %w", ref, err)
	}
	return img.ID, nil
}

// BuildImage builds an image from a tar build context holding a Dockerfile,
// with the engine's classic builder (BuildKit is not needed for the toolchain
// image and the classic builder works on every engine), and returns its ID.
func (e *Engine) BuildImage(ctx context.Context, tag string, buildContext io.Reader, args, labels map[string]string) (string, error) {
	buildArgs := make(map[string]*string, len(args))
	for k, v := range args {
		buildArgs[k] = &v
	}
	err := e.call(ctx, e.t.Transfer, "build image", func(ctx context.Context) error {
		return e.buildImage(ctx, tag, buildContext, buildArgs, labels)
	})
	if err != nil {
		return "", err
	}
	return e.ImageID(ctx, tag)
}

func (e *Engine) buildImage(ctx context.Context, tag string, buildContext io.Reader, buildArgs map[string]*string, labels map[string]string) error {
	resp, err := e.cli.ImageBuild(ctx, buildContext, build.ImageBuildOptions{
		Tags:        []string{tag},
		Dockerfile:  "Dockerfile",
		BuildArgs:   buildArgs,
		Labels:      labels,
		Remove:      true,
		ForceRemove: true,
		PullParent:  false,
		Version:     build.BuilderV1,
	})
	if err != nil {
		return fmt.Errorf("build image %s: %w", tag, err)
	}
	defer resp.Body.Close()
	if err := drainBuildOutput(resp.Body); err != nil {
		return fmt.Errorf("build image %s: %w", tag, err)
	}
	return nil
}

// drainBuildOutput reads the classic builder's JSON message stream and
// returns the first error it reports, with the last lines of output.
func drainBuildOutput(r io.Reader) error {
	var tail []string
	dec := json.NewDecoder(bufio.NewReader(r))
	for {
		var msg struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read build output: %w", err)
		}
		if s := strings.TrimSpace(msg.Stream); s != "" {
			tail = append(tail, s)
			if len(tail) > 10 {
				tail = tail[1:]
			}
		}
		if msg.Error != "" {
			return fmt.Errorf("%s\n%s", msg.Error, strings.Join(tail, "\n"))
		}
	}
}

// Create creates a labelled container whose main process only idles.
func (e *Engine) Create(ctx context.Context, spec container.Spec) (string, error) {
	network := "none"
	if spec.Network {
		network = "bridge"
	}
	var mounts []mount.Mount
	for _, m := range spec.Mounts {
		if m.Tmpfs {
			mounts = append(mounts, mount.Mount{Type: mount.TypeTmpfs, Target: m.Target, TmpfsOptions: &mount.TmpfsOptions{Mode: 0o1777}})
			continue
		}
		mounts = append(mounts, mount.Mount{Type: mount.TypeVolume, Source: m.Volume, Target: m.Target})
	}
	var resp dcontainer.CreateResponse
	err := e.call(ctx, e.t.Call, "create container", func(ctx context.Context) (err error) {
		resp, err = e.cli.ContainerCreate(ctx,
			&dcontainer.Config{
				Image:      spec.Image,
				Env:        spec.Env,
				Entrypoint: []string{"sleep"},
				Cmd:        []string{"infinity"},
				Labels:     container.Labels(spec),
				WorkingDir: "/",
			},
			&dcontainer.HostConfig{
				NetworkMode: dcontainer.NetworkMode(network),
				Mounts:      mounts,
				Init:        boolPtr(true),
			},
			nil, nil, "")
		return err
	})
	if err != nil {
		if client.IsErrNotFound(err) {
			return "", fmt.Errorf("image %s: %w", spec.Image, container.ErrNotFound)
		}
		return "", err
	}
	return resp.ID, nil
}

func boolPtr(b bool) *bool { return &b }

// Start starts a created container.
func (e *Engine) Start(ctx context.Context, id string) error {
	return e.call(ctx, e.t.Call, "start container", func(ctx context.Context) error {
		return e.cli.ContainerStart(ctx, id, dcontainer.StartOptions{})
	})
}

// CopyTo extracts a tar stream into dir inside the container.
func (e *Engine) CopyTo(ctx context.Context, id, dir string, tar io.Reader) error {
	return e.call(ctx, e.t.Transfer, "copy into container", func(ctx context.Context) error {
		return e.cli.CopyToContainer(ctx, id, dir, tar, dcontainer.CopyToContainerOptions{})
	})
}

// CopyFrom streams path out of the container as tar.
func (e *Engine) CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error) {
	cctx, cancel := context.WithTimeout(ctx, e.t.Transfer)
	rc, _, err := e.cli.CopyFromContainer(cctx, id, path)
	if err != nil {
		cancel()
		if client.IsErrNotFound(err) {
			return nil, fmt.Errorf("%s: %w", path, container.ErrNotFound)
		}
		return nil, e.timedOut(ctx, cctx, e.t.Transfer, "copy out of container", err)
	}
	return &timedReader{ReadCloser: rc, cancel: cancel, timedOut: func(err error) error {
		return e.timedOut(ctx, cctx, e.t.Transfer, "copy out of container", err)
	}}, nil
}

// timedReader is a stream whose deadline ends when it is closed.
type timedReader struct {
	io.ReadCloser
	cancel   context.CancelFunc
	timedOut func(error) error
}

func (r *timedReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = r.timedOut(err)
	}
	return n, err
}

func (r *timedReader) Close() error {
	defer r.cancel()
	return r.ReadCloser.Close()
}

// Exec runs a command in the container, streaming its output, and returns
// its exit code.
func (e *Engine) Exec(ctx context.Context, id string, x container.Exec) (int, error) {
	var code int
	err := e.call(ctx, e.t.Exec, fmt.Sprintf("exec %q", x.Cmd), func(ctx context.Context) (err error) {
		code, err = e.exec(ctx, id, x)
		return err
	})
	return code, err
}

func (e *Engine) exec(ctx context.Context, id string, x container.Exec) (int, error) {
	created, err := e.cli.ContainerExecCreate(ctx, id, dcontainer.ExecOptions{
		Cmd:          x.Cmd,
		Env:          x.Env,
		WorkingDir:   x.Dir,
		AttachStdout: true,
		AttachStderr: true,
	})
	if err != nil {
		return -1, err
	}
	att, err := e.cli.ContainerExecAttach(ctx, created.ID, dcontainer.ExecAttachOptions{})
	if err != nil {
		return -1, err
	}
	defer att.Close()
	stdout, stderr := orDiscard(x.Stdout), orDiscard(x.Stderr)
	copied := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(stdout, stderr, att.Reader)
		copied <- err
	}()
	select {
	case <-ctx.Done():
		return -1, ctx.Err()
	case err := <-copied:
		if err != nil {
			return -1, fmt.Errorf("read output: %w", err)
		}
	}
	ins, err := e.cli.ContainerExecInspect(ctx, created.ID)
	if err != nil {
		return -1, err
	}
	return ins.ExitCode, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// Remove kills and removes the container and its anonymous volumes.
func (e *Engine) Remove(ctx context.Context, id string) error {
	err := e.call(ctx, e.t.Call, "remove container", func(ctx context.Context) error {
		return e.cli.ContainerRemove(ctx, id, dcontainer.RemoveOptions{Force: true, RemoveVolumes: true})
	})
	if err != nil && client.IsErrNotFound(err) {
		return nil
	}
	return err
}

// List lists the containers carrying pbuild's label.
func (e *Engine) List(ctx context.Context) ([]container.Summary, error) {
	var list []dcontainer.Summary
	err := e.call(ctx, e.t.Call, "list containers", func(ctx context.Context) (err error) {
		list, err = e.cli.ContainerList(ctx, dcontainer.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", container.Label))})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]container.Summary, 0, len(list))
	for _, c := range list {
		out = append(out, container.Summary{ID: c.ID, Labels: c.Labels, State: string(c.State)})
	}
	return out, nil
}

// Inspect tells whether a container runs, and how it ended.
func (e *Engine) Inspect(ctx context.Context, id string) (container.State, error) {
	var ins dcontainer.InspectResponse
	err := e.call(ctx, e.t.Call, "inspect container", func(ctx context.Context) (err error) {
		ins, err = e.cli.ContainerInspect(ctx, id)
		return err
	})
	if err != nil {
		if client.IsErrNotFound(err) {
			return container.State{}, fmt.Errorf("container %s: %w", id, container.ErrNotFound)
		}
		return container.State{}, err
	}
	if ins.State == nil {
		return container.State{}, fmt.Errorf("container %s: no state", id)
	}
	return container.State{Running: ins.State.Running, ExitCode: ins.State.ExitCode, OOMKilled: ins.State.OOMKilled, Error: ins.State.Error}, nil
}
