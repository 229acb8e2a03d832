package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/pbuild/pbuild/builder"
	"github.com/pbuild/pbuild/config"
	"github.com/pbuild/pbuild/internal/owner"
)

type rebuildOptions struct {
	source      string
	file        string
	out         string
	outputClean bool
	backend     backendOptions
}

func rebuildCmd(d *deps, root *rootOptions) *cobra.Command {
	opts := &rebuildOptions{}
	cmd := &cobra.Command{
		Use:   "rebuild MANIFEST [--source DIR]",
		Short: "Rebuild exactly what a manifest records and verify every artifact's sha256",
		Long: `rebuild builds the source again in the recorded toolchain (the recorded
base image and toolchain hash), with the recorded build list and settings,
and compares every artifact's sha256 with the manifest. On a difference it
names the artifact and locates the cause: the build info that differs, then
the packages whose hashes differ. Exit 1 on any difference.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("rebuild takes one manifest, got %d arguments", len(args))
			}
			return runRebuild(cmd, d, root, opts, args[0])
		},
	}
	cmd.Flags().StringVar(&opts.source, "source", ".", "the project directory the manifest was built from")
	cmd.Flags().StringVarP(&opts.file, "file", "f", "", "config file (default: SOURCE/pbuild.yaml)")
	cmd.Flags().StringVar(&opts.out, "out", "", "keep the rebuilt artifacts in this directory, which must be new, empty, or an earlier pbuild output (default: a temporary one, removed)")
	cmd.Flags().BoolVar(&opts.outputClean, "output-clean", false, "replace the --out directory even when pbuild did not make it, with everything in it")
	opts.backend.flags(cmd, d)
	return cmd
}

func runRebuild(cmd *cobra.Command, d *deps, root *rootOptions, opts *rebuildOptions, manifest string) error {
	pin, err := readPin(cmd.Context(), manifest)
	if err != nil {
		return err
	}
	file := opts.file
	if file == "" {
		file = filepath.Join(opts.source, config.FileName)
	}
	cfg, err := loadConfig(cmd.Context(), file)
	if err != nil {
		return err
	}
	out := opts.out
	if out == "" {
		tmp, err := owner.MkdirTemp(os.TempDir(), "pbuild-", d.env.Self)
		if err != nil {
			return err
		}
		defer owner.RemoveMarked(tmp)
		out = filepath.Join(tmp, "dist")
	}
	res, err := d.build(cmd.Context(), root, &opts.backend, cfg, func(bo *builder.Options) {
		// A rebuild proves the recorded bytes come out again: it reuses
		// no earlier output.
		bo.Pin, bo.Output, bo.Force, bo.OutputClean = pin, out, true, opts.outputClean
	})
	if err != nil {
		return err
	}
	diffs := builder.CompareArtifacts(pin.Manifest, res.Manifest)
	if root.json {
		if err := d.printJSON(struct {
			Identical bool                   `json:"identical"`
			Diffs     []builder.ArtifactDiff `json:"diffs"`
		}{len(diffs) == 0, append([]builder.ArtifactDiff{}, diffs...)}); err != nil {
			return err
		}
	} else {
		bad := map[string]bool{}
		for _, df := range diffs {
			bad[df.Name] = true
		}
		for _, a := range pin.Manifest.Artifacts {
			mark := "identical"
			if bad[a.Name] {
				mark = "DIFFERS"
			}
			fmt.Fprintf(d.stdout, "%-9s %s  sha256:%s\n", mark, a.File, a.SHA256)
		}
	}
	if len(diffs) > 0 {
		return &builder.RebuildError{Diffs: diffs, Modules: res.ModuleDiffs}
	}
	if !root.json {
		fmt.Fprintf(d.stdout, "rebuild: all %d artifacts identical to %s\n", len(pin.Manifest.Artifacts), manifest)
	}
	return nil
}
