package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/pbuild/pbuild/check"
)

type checkOptions struct {
	manifest string
	glibc    string
}

func checkCmd(d *deps, root *rootOptions) *cobra.Command {
	opts := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check (HOST PLUGIN... | --manifest FILE)",
		Short: "Predict, without loading anything, whether plugins load into a host, and why not",
		Long: `check reads the linker's package hashes and the build info of a host and its
plugins (no dlopen: stripped files and other architectures work) and replays
loading the plugins in the order given. It names the cause of every
incompatibility and suggests a fix. Exit 0: all load; 1: some cannot;
2: bad usage or unreadable input.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCheck(cmd.Context(), d, root, opts, args)
		},
	}
	cmd.Flags().StringVar(&opts.manifest, "manifest", "", "check the artifacts of this pbuild manifest (and their sha256)")
	cmd.Flags().StringVar(&opts.glibc, "target-glibc", "", "fail files needing a newer glibc than this version (e.g. 2.36)")
	return cmd
}

func runCheck(ctx context.Context, d *deps, root *rootOptions, opts *checkOptions, args []string) error {
	copts := check.Options{MaxGLIBC: opts.glibc}
	var res *check.Result
	var err error
	switch {
	case opts.manifest != "" && len(args) > 0:
		return usageErrorf("pass either --manifest or HOST PLUGIN..., not both")
	case opts.manifest != "":
		res, err = check.Manifest(ctx, opts.manifest, copts)
	case len(args) < 2:
		return usageErrorf("check needs a host and at least one plugin, or --manifest")
	default:
		res, err = check.Files(ctx, args[0], args[1:], copts)
	}
	if err != nil {
		return err
	}
	if root.json {
		if err := check.WriteJSON(d.stdout, res); err != nil {
			return err
		}
	} else {
		check.Render(d.stdout, res)
	}
	return res.Err()
}
