package dockerengine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/api/types/build"
	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/pbuild/pbuild/internal/container"
)

// Engine talks to a Docker engine.
type Engine struct {
	cli *client.Client
}

// New returns an Engine using the given client options; cmd/pbuild passes
// client.FromEnv. API version negotiation is always on.
func New(opts ...client.Opt) (*Engine, error) {
	opts = append(opts, client.WithAPIVersionNegotiation())
	cli, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return &Engine{cli: cli}, nil
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
	v, err := e.cli.ServerVersion(ctx)
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
	img, err := e.cli.ImageInspect(ctx, ref)
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
		return "", fmt.Errorf("build image %s: %w", tag, err)
	}
	defer resp.Body.Close()
	if err := drainBuildOutput(resp.Body); err != nil {
		return "", fmt.Errorf("build image %s: %w", tag, err)
	}
	return e.ImageID(ctx, tag)
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
	resp, err := e.cli.ContainerCreate(ctx,
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
	return e.cli.ContainerStart(ctx, id, dcontainer.StartOptions{})
}

// CopyTo extracts a tar stream into dir inside the container.
func (e *Engine) CopyTo(ctx context.Context, id, dir string, tar io.Reader) error {
	return e.cli.CopyToContainer(ctx, id, dir, tar, dcontainer.CopyToContainerOptions{})
}

// CopyFrom streams path out of the container as tar.
func (e *Engine) CopyFrom(ctx context.Context, id, path string) (io.ReadCloser, error) {
	rc, _, err := e.cli.CopyFromContainer(ctx, id, path)
	if err != nil && client.IsErrNotFound(err) {
		return nil, fmt.Errorf("%s: %w", path, container.ErrNotFound)
	}
	return rc, err
}

// Exec runs a command in the container, streaming its output, and returns
// its exit code.
func (e *Engine) Exec(ctx context.Context, id string, x container.Exec) (int, error) {
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
	err := e.cli.ContainerRemove(ctx, id, dcontainer.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && client.IsErrNotFound(err) {
		return nil
	}
	return err
}

// Leftovers lists the IDs of containers carrying pbuild's label, for doctor
// and tests.
func (e *Engine) Leftovers(ctx context.Context) ([]string, error) {
	list, err := e.cli.ContainerList(ctx, dcontainer.ListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var ids []string
	for _, c := range list {
		if _, ok := c.Labels[container.Label]; ok {
			ids = append(ids, c.ID)
		}
	}
	return ids, nil
}
