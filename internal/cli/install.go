package cli

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/pbuild/pbuild/config"
	"github.com/pbuild/pbuild/install"
)

type installOptions struct {
	file string
	to   string
}

func installCmd(d *deps, root *rootOptions) *cobra.Command {
	opts := &installOptions{}
	cmd := &cobra.Command{
		Use:   "install --to DIR [-f FILE | DIST]",
		Short: "Copy a dist's artifacts into a release directory that keeps earlier releases' files",
		Long: `install copies every file the manifest of DIST (default: the config's output
directory) lists into DIR, at the same relative path, and writes
DIR/pbuild.manifest.json. A build replaces its output directory; DIR keeps
what earlier installs put there, so plugins of earlier releases
(plugins/greet.so.0.1) stay beside the new ones.

It never deletes anything and never overwrites a file with other content: a
file already in DIR with the same sha256 is left, anything else in the way
(another file, a symbolic link, a directory) is refused and nothing is
written. When DIR has a manifest, the two merge: only with the same ABI key,
into the dist's manifest with the artifacts DIR's lists and the dist's does
not added.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErrorf("install takes at most one dist directory, got %q", args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInstall(cmd, d, root, opts, args)
		},
	}
	cmd.Flags().StringVar(&opts.to, "to", "", "the release directory (required)")
	cmd.Flags().StringVarP(&opts.file, "file", "f", config.FileName, "config file whose output directory is installed, when no DIST is given")
	return cmd
}

func runInstall(cmd *cobra.Command, d *deps, root *rootOptions, opts *installOptions, args []string) error {
	if opts.to == "" {
		return usageErrorf("install needs --to DIR, the release directory")
	}
	var dist string
	switch {
	case len(args) == 1 && cmd.Flags().Changed("file"):
		return usageErrorf("pass either DIST or -f FILE, not both")
	case len(args) == 1:
		dist = args[0]
	default:
		cfg, err := config.Load(cmd.Context(), opts.file)
		if errors.Is(err, fs.ErrNotExist) {
			return usageErrorf("install needs DIST: there is no config file %s whose output directory it would install; pass DIST or -f FILE", opts.file)
		}
		if err != nil {
			return err
		}
		dist = cfg.OutputDir()
	}
	res, err := install.Into(cmd.Context(), dist, opts.to, d.env.Self)
	if err != nil {
		return err // an *install.InputError is a usage error (exit 2): see renderError
	}
	if root.json {
		return d.printJSON(res)
	}
	w := d.stdout
	for _, f := range res.Files {
		fmt.Fprintf(w, "%-8s %s\n", f.Action, f.File)
	}
	for _, k := range res.Kept {
		fmt.Fprintf(w, "kept     %s\n", k)
	}
	state := "written"
	if !res.ManifestChanged {
		state = "unchanged"
	}
	fmt.Fprintf(w, "manifest %s: %d artifacts, %s\n", displayPath(res.Manifest), res.Artifacts, state)
	return nil
}
