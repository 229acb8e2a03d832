package buildkitengine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	dcontainer "github.com/docker/docker/api/types/container"
	dockerclient "github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/moby/buildkit/client"
)

// DockerAddr is the address naming the BuildKit inside the Docker engine.
const DockerAddr = "docker"

// DialOption configures Dial.
type DialOption func(*dialConfig)

type dialConfig struct {
	dockerHost   string
	dockerOpts   []dockerclient.Opt
	dockerClient *dockerclient.Client

	caCert, cert, key, serverName string

	checkTimeout time.Duration
	noCheck      bool
}

// WithDockerHost names the Docker engine (a DOCKER_HOST value) for the
// "docker" and "docker-container://" addresses. The library reads no
// environment: pass DOCKER_HOST here, or client.FromEnv through WithDockerOpts.
func WithDockerHost(host string) DialOption {
	return func(c *dialConfig) { c.dockerHost = host }
}

// WithDockerOpts adds Docker client options (client.FromEnv, TLS, ...) for
// the "docker" and "docker-container://" addresses.
func WithDockerOpts(opts ...dockerclient.Opt) DialOption {
	return func(c *dialConfig) { c.dockerOpts = append(c.dockerOpts, opts...) }
}

// WithDockerClient uses an existing Docker client for the "docker" and
// "docker-container://" addresses; the caller keeps ownership of it.
func WithDockerClient(cli *dockerclient.Client) DialOption {
	return func(c *dialConfig) { c.dockerClient = cli }
}

// WithTLS sets up mutual TLS for a tcp:// daemon: the CA certificate that
// signed the daemon's certificate, the client's certificate and key (both
// or neither), and the server name to verify (the address's host when
// empty). All are file paths, as buildctl's --tlscacert, --tlscert, --tlskey.
func WithTLS(caCert, cert, key, serverName string) DialOption {
	return func(c *dialConfig) { c.caCert, c.cert, c.key, c.serverName = caCert, cert, key, serverName }
}

// WithoutCheck skips the ListWorkers round trip Dial makes to prove the
// daemon answers.
func WithoutCheck() DialOption {
	return func(c *dialConfig) { c.noCheck = true }
}

// WithCheckTimeout bounds the check Dial makes (default 20s).
func WithCheckTimeout(d time.Duration) DialOption {
	return func(c *dialConfig) { c.checkTimeout = d }
}

// DialError is a daemon that could not be reached.
type DialError struct {
	Addr string
	Err  error
}

func (e *DialError) Error() string { return fmt.Sprintf("buildkit at %s: %v", e.Addr, e.Err) }
func (e *DialError) Unwrap() error { return e.Err }

// Hint tells the user what to try.
func (e *DialError) Hint() string {
	switch kind, _ := addrKind(e.Addr); kind {
	case kindDocker:
		return "check that the Docker engine runs and DOCKER_HOST names it (pbuild doctor), or use --backend docker"
	case kindDockerContainer:
		return "check that the container runs a buildkitd with buildctl in its PATH (docker ps)"
	default:
		return "check that buildkitd listens at that address (BUILDKIT_HOST / --buildkit-addr) and, for tcp://, the TLS options"
	}
}

type kind int

const (
	kindDocker kind = iota
	kindDockerContainer
	kindUnix
	kindTCP
)

// addrKind classifies an address; for "docker://HOST" it returns HOST.
func addrKind(addr string) (kind, string) {
	switch {
	case addr == "" || addr == DockerAddr || addr == "docker://":
		return kindDocker, ""
	case strings.HasPrefix(addr, "docker-container://"):
		return kindDockerContainer, ""
	case strings.HasPrefix(addr, "docker://"):
		return kindDocker, strings.TrimPrefix(addr, "docker://")
	case strings.HasPrefix(addr, "unix://"):
		return kindUnix, ""
	case strings.HasPrefix(addr, "tcp://"):
		return kindTCP, ""
	}
	return -1, ""
}

// Dial connects to a BuildKit daemon:
//
//   - "docker", "docker://" or "": the BuildKit inside the Docker engine named
//     by WithDockerHost / WithDockerOpts / WithDockerClient (the local socket
//     by default), through the engine's /grpc and /session endpoints;
//     "docker://HOST" names the engine in the address (docker://unix:///x.sock,
//     docker://tcp://host:2376);
//   - "unix:///path/buildkitd.sock", "tcp://host:port" (WithTLS for mutual
//     TLS): a buildkitd;
//   - "docker-container://NAME": a buildkitd in a container of the Docker
//     engine, reached through `buildctl dial-stdio` run in it.
//
// Dial proves the daemon answers (ListWorkers) unless WithoutCheck is given.
// Close the client when done. A Docker client Dial makes for itself lives as
// long as the process (it holds only idle HTTP connections once the BuildKit
// client is closed); pass WithDockerClient to own it instead.
func Dial(ctx context.Context, addr string, opts ...DialOption) (*client.Client, error) {
	cfg := &dialConfig{checkTimeout: 20 * time.Second}
	for _, o := range opts {
		o(cfg)
	}
	k, dockerHost := addrKind(addr)
	if dockerHost != "" {
		cfg.dockerHost = dockerHost
	}
	var (
		c       *client.Client
		cleanup func()
		err     error
	)
	switch k {
	case kindDocker:
		c, cleanup, err = dialDocker(ctx, cfg)
	case kindDockerContainer:
		c, cleanup, err = dialDockerContainer(ctx, addr, cfg)
	case kindUnix, kindTCP:
		c, err = dialDaemon(ctx, addr, k, cfg)
	default:
		err = fmt.Errorf("unsupported address %q: want docker, unix://PATH, tcp://HOST:PORT or docker-container://NAME", addr)
	}
	if err != nil {
		return nil, &DialError{Addr: addr, Err: err}
	}
	if !cfg.noCheck {
		cctx, cancel := context.WithTimeout(ctx, cfg.checkTimeout)
		defer cancel()
		if _, err := c.ListWorkers(cctx); err != nil {
			c.Close()
			if cleanup != nil {
				cleanup()
			}
			return nil, &DialError{Addr: addr, Err: fmt.Errorf("no answer: %w", err)}
		}
	}
	return c, nil
}

func dockerClient(ctx context.Context, cfg *dialConfig) (*dockerclient.Client, func(), error) {
	if cfg.dockerClient != nil {
		return cfg.dockerClient, func() {}, nil
	}
	opts := append([]dockerclient.Opt{}, cfg.dockerOpts...)
	if cfg.dockerHost != "" {
		opts = append(opts, dockerclient.WithHost(cfg.dockerHost))
	}
	opts = append(opts, dockerclient.WithAPIVersionNegotiation())
	cli, err := dockerclient.NewClientWithOpts(opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("docker client: %w", err)
	}
	return cli, func() { cli.Close() }, nil
}

// dialDocker connects to the BuildKit the Docker engine embeds: gRPC runs
// over a connection upgraded to h2c at /grpc, and every session BuildKit
// calls back (local contexts, the local exporter) over one upgraded at
// /session.
func dialDocker(ctx context.Context, cfg *dialConfig) (*client.Client, func(), error) {
	cli, cleanup, err := dockerClient(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.checkTimeout)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("reach docker engine at %s: %w", cli.DaemonHost(), err)
	}
	c, err := client.New(ctx, "",
		client.WithContextDialer(func(dctx context.Context, _ string) (net.Conn, error) {
			return cli.DialHijack(dctx, "/grpc", "h2c", nil)
		}),
		client.WithSessionDialer(func(sctx context.Context, proto string, meta map[string][]string) (net.Conn, error) {
			return cli.DialHijack(sctx, "/session", proto, meta)
		}))
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return c, cleanup, nil
}

// dialDaemon connects to a buildkitd listening on a socket.
func dialDaemon(ctx context.Context, addr string, k kind, cfg *dialConfig) (*client.Client, error) {
	var opts []client.ClientOpt
	if k == kindTCP && (cfg.caCert != "" || cfg.cert != "" || cfg.key != "" || cfg.serverName != "") {
		if (cfg.cert == "") != (cfg.key == "") {
			return nil, errors.New("TLS needs both a client certificate and its key")
		}
		serverName := cfg.serverName
		if serverName == "" {
			u, err := url.Parse(addr)
			if err != nil {
				return nil, err
			}
			serverName = u.Hostname()
		}
		if cfg.caCert != "" {
			opts = append(opts, client.WithServerConfig(serverName, cfg.caCert))
		} else {
			opts = append(opts, client.WithServerConfigSystem(serverName))
		}
		if cfg.cert != "" {
			opts = append(opts, client.WithCredentials(cfg.cert, cfg.key))
		}
	} else if k == kindUnix && (cfg.caCert != "" || cfg.cert != "" || cfg.key != "") {
		return nil, errors.New("TLS options apply to tcp:// addresses only")
	}
	return client.New(ctx, addr, opts...)
}

// dialDockerContainer connects to a buildkitd in a container through
// `buildctl dial-stdio` exec'd in it with the Docker API (no docker CLI):
// stdin carries the client's bytes, the multiplexed stdout the daemon's.
func dialDockerContainer(ctx context.Context, addr string, cfg *dialConfig) (*client.Client, func(), error) {
	u, err := url.Parse(addr)
	if err != nil {
		return nil, nil, err
	}
	name := u.Hostname()
	if name == "" {
		return nil, nil, errors.New("docker-container:// needs a container name")
	}
	if u.Query().Get("context") != "" {
		return nil, nil, errors.New("docker-container://?context= is not supported: pass the engine as DOCKER_HOST")
	}
	cli, cleanup, err := dockerClient(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	if _, err := cli.ContainerInspect(ctx, name); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("container %s: %w", name, err)
	}
	c, err := client.New(ctx, "", client.WithContextDialer(func(dctx context.Context, _ string) (net.Conn, error) {
		return execConn(dctx, cli, name, []string{"buildctl", "dial-stdio"})
	}))
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return c, cleanup, nil
}

// execConn runs cmd in a container and returns its stdin and stdout as a
// connection; what it writes to stderr is kept for the error when the
// stream ends early.
func execConn(ctx context.Context, cli *dockerclient.Client, ctr string, cmd []string) (net.Conn, error) {
	created, err := cli.ContainerExecCreate(ctx, ctr, dcontainer.ExecOptions{
		Cmd: cmd, AttachStdin: true, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return nil, fmt.Errorf("exec %v in %s: %w", cmd, ctr, err)
	}
	att, err := cli.ContainerExecAttach(ctx, created.ID, dcontainer.ExecAttachOptions{})
	if err != nil {
		return nil, fmt.Errorf("attach to %v in %s: %w", cmd, ctr, err)
	}
	pr, pw := io.Pipe()
	ec := &execStreamConn{Conn: att.Conn, r: pr}
	go func() {
		_, err := stdcopy.StdCopy(pw, &ec.stderr, att.Reader)
		if err == nil {
			err = io.EOF
		}
		if s := ec.stderrText(); s != "" {
			err = fmt.Errorf("%w: %s", err, s)
		}
		pw.CloseWithError(err)
	}()
	return ec, nil
}

type execStreamConn struct {
	net.Conn
	r      *io.PipeReader
	stderr lockedBuffer
}

func (c *execStreamConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *execStreamConn) Close() error {
	c.r.Close()
	return c.Conn.Close()
}

func (c *execStreamConn) stderrText() string { return strings.TrimSpace(c.stderr.String()) }

type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.b) < 64<<10 {
		b.b = append(b.b, p...)
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b)
}
