package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/docker/docker/client"
	"github.com/spf13/cobra"

	"github.com/pbuild/pbuild/internal/dockerengine"
	"github.com/pbuild/pbuild/internal/progress"
	"github.com/pbuild/pbuild/toolchain"
)

// rootOptions are the flags every command shares.
type rootOptions struct {
	progress string
	json     bool
}

// deps is what commands get from main: the environment, read once, and
// where to write.
type deps struct {
	env    Env
	stdout io.Writer
	stderr io.Writer
}

// engine connects to the Docker engine named by DOCKER_HOST (or the
// default), once it answered.
func (d *deps) engine(ctx context.Context) (*dockerengine.Engine, error) {
	return dockerengine.Connect(ctx, dockerengine.DefaultTimeouts(), client.FromEnv)
}

// fetcher downloads toolchains with the user's module settings.
func (d *deps) fetcher() *toolchain.Fetcher {
	noSumDB := d.env.Go["GONOSUMDB"]
	if p := d.env.Go["GOPRIVATE"]; p != "" {
		noSumDB = joinNonEmpty(noSumDB, p)
	}
	return &toolchain.Fetcher{
		Proxy:    d.env.Go["GOPROXY"],
		SumDB:    d.env.Go["GOSUMDB"],
		NoSumDB:  noSumDB,
		CacheDir: d.env.CacheDir,
		HTTP:     http.DefaultClient,
	}
}

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "," + b
}

// printJSON writes v as indented JSON.
func (d *deps) printJSON(v any) error {
	enc := json.NewEncoder(d.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newRootCmd(d *deps) *cobra.Command {
	opts := &rootOptions{}
	cmd := &cobra.Command{
		Use:           "pbuild",
		Short:         "Build Go plugin hosts and plugins that are guaranteed to load together",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if _, err := progress.ParseMode(opts.progress); err != nil {
				return usageErrorf("--progress must be auto, plain, quiet, tty or rawjson, not %q", opts.progress)
			}
			return nil
		},
	}
	defaultProgress := "auto"
	if d.env.Progress != "" {
		defaultProgress = d.env.Progress
	}
	cmd.PersistentFlags().StringVar(&opts.progress, "progress", defaultProgress, "progress output: auto, tty, plain, quiet or rawjson, as docker buildx shows it (default from BUILDKIT_PROGRESS)")
	cmd.PersistentFlags().BoolVar(&opts.json, "json", false, "print reports as JSON")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageErrorf("%v", err) })
	cmd.AddCommand(buildCmd(d, opts), checkCmd(d, opts), rebuildCmd(d, opts), doctorCmd(d, opts), versionCmd(d, opts), keygenCmd(d, opts), bundleCmd(d, opts), verifyCmd(d, opts), installCmd(d, opts))
	return cmd
}

// Run executes the command line and returns the process exit code.
func Run(ctx context.Context, args []string, e Env, stdout, stderr io.Writer) int {
	d := &deps{env: e, stdout: stdout, stderr: stderr}
	cmd := newRootCmd(d)
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	return renderError(stderr, ctx, err)
}

// exactArgs is cobra.ExactArgs with pbuild's usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}
