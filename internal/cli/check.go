package cli

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pbuild/pbuild/check"
)

type checkOptions struct {
	manifest string
	glibc    string
	cABI     bool
	symbols  []string
}

func checkCmd(d *deps, root *rootOptions) *cobra.Command {
	opts := &checkOptions{}
	cmd := &cobra.Command{
		Use:   "check (HOST PLUGIN... | --c-abi LIBRARY... | --manifest FILE)",
		Short: "Predict, without loading anything, whether plugins load into a host, and why not; check C-ABI libraries for C hosts",
		Long: `check reads the linker's package hashes and the build info of a host and its
plugins (no dlopen: stripped files and other architectures work) and replays
loading the plugins in the order given. It names the cause of every
incompatibility and suggests a fix.

C-ABI libraries (-buildmode=c-shared or c-archive, for C hosts such as
nbdkit, not for Go) are checked in C-ABI mode: every c-shared and c-archive
artifact of --manifest, or the files named with --c-abi (implied by
--symbols). Each must be a C-ABI library, not a Go plugin (a
-buildmode=plugin .so hangs or crashes a C host that dlopens it); with
--symbols, export every C symbol named (what the host looks up with dlsym);
with --target-glibc, need no newer glibc.

Exit 0: all load (and every library is fit); 1: some cannot;
2: bad usage or unreadable input.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCheck(cmd.Context(), d, root, opts, args)
		},
	}
	cmd.Flags().StringVar(&opts.manifest, "manifest", "", "check the artifacts of this pbuild manifest (and their sha256)")
	cmd.Flags().StringVar(&opts.glibc, "target-glibc", "", "fail files needing a newer glibc than this version (e.g. 2.36)")
	cmd.Flags().BoolVar(&opts.cABI, "c-abi", false, "check the files as C-ABI libraries for C hosts (-buildmode=c-shared or c-archive), not as a host and plugins")
	cmd.Flags().StringSliceVar(&opts.symbols, "symbols", nil, "C symbols every C-ABI library must export, comma-separated (e.g. plugin_init,plugin_open); implies --c-abi for files")
	return cmd
}

func runCheck(ctx context.Context, d *deps, root *rootOptions, opts *checkOptions, args []string) error {
	symbols, err := checkSymbols(opts.symbols)
	if err != nil {
		return err
	}
	copts := check.Options{MaxGLIBC: opts.glibc, Symbols: symbols}
	cABI := opts.cABI || len(symbols) > 0
	var res *check.Result
	switch {
	case opts.manifest != "" && len(args) > 0:
		return usageErrorf("pass either --manifest or files, not both")
	case opts.manifest != "" && opts.cABI:
		return usageErrorf("--c-abi is for files; --manifest checks the C-ABI libraries it lists by their kind")
	case opts.manifest != "":
		res, err = check.Manifest(ctx, opts.manifest, copts)
		if err == nil && len(symbols) > 0 && len(res.Libraries) == 0 {
			return usageErrorf("--symbols checks C-ABI libraries, and %s lists none (no artifact of kind c-shared or c-archive)", opts.manifest)
		}
	case cABI && len(args) == 0:
		return usageErrorf("check --c-abi needs at least one C-ABI library (.so or .a)")
	case cABI:
		res, err = check.Libraries(ctx, args, copts)
	case len(args) < 2:
		return usageErrorf("check needs a host and at least one plugin, --c-abi with C-ABI libraries, or --manifest")
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

// checkSymbols are the names of --symbols: C identifiers, without
// duplicates.
func checkSymbols(names []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if !isCIdentifier(n) {
			return nil, usageErrorf("--symbols: %q is not a C symbol name (letters, digits and '_', not starting with a digit)", n)
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

func isCIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
