package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/pbuild/pbuild/builder"
	"github.com/pbuild/pbuild/internal/buildkitengine"
	"github.com/pbuild/pbuild/internal/dockerengine"
	"github.com/pbuild/pbuild/internal/progress"
)

// backendOptions choose where resolve and compile run.
type backendOptions struct {
	backend    string
	addr       string
	caCert     string
	cert       string
	key        string
	serverName string
}

func (o *backendOptions) flags(cmd *cobra.Command, d *deps) {
	f := cmd.Flags()
	f.StringVar(&o.backend, "backend", "auto", "docker, buildkit, or auto (buildkit when --buildkit-addr or BUILDKIT_HOST is set)")
	f.StringVar(&o.addr, "buildkit-addr", d.env.BuildKitHost, `BuildKit daemon: "docker" (the engine's own), unix://, tcp://, docker-container://NAME (default BUILDKIT_HOST, else "docker")`)
	f.StringVar(&o.caCert, "buildkit-tlscacert", "", "CA certificate of a tcp:// BuildKit daemon")
	f.StringVar(&o.cert, "buildkit-tlscert", "", "client certificate for a tcp:// BuildKit daemon")
	f.StringVar(&o.key, "buildkit-tlskey", "", "client key for a tcp:// BuildKit daemon")
	f.StringVar(&o.serverName, "buildkit-tlsservername", "", "server name to verify on a tcp:// BuildKit daemon")
}

// connect dials the BuildKit daemon when the build runs there and makes
// it the build's backend; otherwise the Docker backend stays. The function
// returned closes what was dialled.
func (o *backendOptions) connect(ctx context.Context, d *deps, eng *dockerengine.Engine, prog *progress.Printer, bopts *builder.Options) (func(), error) {
	none := func() {}
	switch o.backend {
	case "docker":
		return none, nil
	case "auto":
		if o.addr == "" {
			return none, nil
		}
	case "buildkit":
	default:
		return nil, usageErrorf("--backend must be docker, buildkit or auto, not %q", o.backend)
	}
	addr := o.addr
	if addr == "" {
		addr = buildkitengine.DockerAddr
	}
	dopts := []buildkitengine.DialOption{buildkitengine.WithDockerClient(eng.Client())}
	if o.caCert != "" || o.cert != "" {
		dopts = append(dopts, buildkitengine.WithTLS(o.caCert, o.cert, o.key, o.serverName))
	}
	c, err := buildkitengine.Dial(ctx, addr, dopts...)
	if err != nil {
		return nil, err
	}
	bopts.Backend = &buildkitengine.Backend{
		Client:   c,
		Remote:   addr != buildkitengine.DockerAddr && addr != "docker://",
		Docker:   eng.Client(),
		CacheDir: d.env.CacheDir,
		Status:   prog.Write,
	}
	return func() { c.Close() }, nil
}
