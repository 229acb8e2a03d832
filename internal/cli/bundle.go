package cli

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pbuild/pbuild/bundle"
	"github.com/pbuild/pbuild/check"
	"github.com/pbuild/pbuild/config"
	"github.com/pbuild/pbuild/sign"
)

type bundleOptions struct {
	file    string
	dist    string
	version string
	name    string
	key     string
	out     string
}

func bundleCmd(d *deps, root *rootOptions) *cobra.Command {
	opts := &bundleOptions{}
	cmd := &cobra.Command{
		Use:   "bundle [-f FILE | --dist DIR] --version V [--name NAME] [--key PREFIX.key] [--out DIR]",
		Short: "Make a reproducible, signed release bundle of a built dist",
		Long: `bundle writes, into --out (default: release/ beside the dist):

  NAME_VERSION_OS_ARCH.tar.gz       the host, the plugins, the C-ABI libraries with their C headers, and the manifest
  NAME_VERSION_OS_ARCH.cdx.json     a CycloneDX 1.5 SBOM
  NAME_VERSION_OS_ARCH.intoto.json  SLSA provenance in a DSSE envelope, signed with --key
  checksums.txt                     sha256sum lines of the files above (other lines kept)

NAME defaults to the host's name (a dist of C-ABI libraries alone, with no
host, needs --name); OS and ARCH come from the manifest. Every
file is reproducible: entries are sorted, owned by 0:0, with fixed modes and
times. The time is SOURCE_DATE_EPOCH, else the last commit's time of the
config's directory (git), else 1970-01-01. A dist whose files (artifacts and
C headers) differ from its manifest is refused; on any failure nothing is
written.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBundle(cmd, d, root, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.file, "file", "f", config.FileName, "config file whose output directory is bundled")
	cmd.Flags().StringVar(&opts.dist, "dist", "", "bundle this dist directory instead of the config's output")
	cmd.Flags().StringVar(&opts.version, "version", "", "the release's version, e.g. 1.2.0 (required)")
	cmd.Flags().StringVar(&opts.name, "name", "", "the bundle's name (default: the host's name; required without a host)")
	cmd.Flags().StringVar(&opts.key, "key", "", "sign the attestation with this private key (PREFIX.key from pbuild keygen)")
	cmd.Flags().StringVar(&opts.out, "out", "", "output directory (default: release/ beside the dist)")
	return cmd
}

func runBundle(cmd *cobra.Command, d *deps, root *rootOptions, opts *bundleOptions) error {
	if opts.version == "" {
		return usageErrorf("bundle needs --version, e.g. --version 1.2.0")
	}
	if err := bundle.CheckName("--version", opts.version); err != nil {
		return usageErrorf("%v", err)
	}
	if opts.name != "" {
		if err := bundle.CheckName("--name", opts.name); err != nil {
			return usageErrorf("%v", err)
		}
	}
	if opts.dist != "" && cmd.Flags().Changed("file") {
		return usageErrorf("pass either -f FILE or --dist DIR, not both")
	}
	dist, configName, srcDir := opts.dist, "", ""
	if dist == "" {
		cfg, err := loadConfig(cmd.Context(), opts.file)
		if err != nil {
			return err
		}
		dist, configName, srcDir = cfg.OutputDir(), filepath.Base(cfg.File), cfg.Dir
	}
	out := opts.out
	if out == "" {
		out = filepath.Join(filepath.Dir(filepath.Clean(dist)), "release")
	}
	when, from, err := releaseTime(d.env.SourceDateEpoch, srcDir)
	if err != nil {
		return err
	}
	var key ed25519.PrivateKey
	if opts.key != "" {
		if key, err = sign.ReadPrivateKeyFile(opts.key); err != nil {
			return &inputError{err: fmt.Errorf("bundle: --key: %w", err), hint: "pass the PREFIX.key file written by `pbuild keygen`"}
		}
	}
	res, err := bundle.Create(cmd.Context(), dist, bundle.Options{
		Name:    opts.name,
		Version: opts.version,
		OutDir:  out,
		Time:    when,
		Key:     key,
		Config:  configName,
		Tool:    pbuildVersion(),
	})
	if err != nil {
		return asInputError(err)
	}
	if key == nil {
		fmt.Fprintf(d.stderr, "pbuild: warning: the attestation is not signed; sign releases with --key PREFIX.key (make a key pair with `pbuild keygen`)\n")
	}
	if root.json {
		return d.printJSON(res)
	}
	w := d.stdout
	fmt.Fprintf(w, "bundle      %s  sha256:%s\n", displayPath(res.Archive), res.SHA256)
	fmt.Fprintf(w, "sbom        %s\n", displayPath(res.SBOM))
	if res.KeyID != "" {
		fmt.Fprintf(w, "attestation %s  signed by key %s\n", displayPath(res.Attestation), res.KeyID)
	} else {
		fmt.Fprintf(w, "attestation %s  unsigned\n", displayPath(res.Attestation))
	}
	fmt.Fprintf(w, "checksums   %s\n", displayPath(res.Checksums))
	fmt.Fprintf(w, "time        %s (%s)\n", when.UTC().Format(time.RFC3339), from)
	return nil
}

// releaseTime is the time stamped on a bundle: SOURCE_DATE_EPOCH, else the
// last commit's time of the source directory when it is a git checkout,
// else the Unix epoch. It also says where the time came from.
func releaseTime(sourceDateEpoch, srcDir string) (time.Time, string, error) {
	if sourceDateEpoch != "" {
		sec, err := strconv.ParseInt(sourceDateEpoch, 10, 64)
		if err != nil || sec < 0 {
			return time.Time{}, "", usageErrorf("SOURCE_DATE_EPOCH=%q is not a number of seconds since 1970; unset it, or set it to e.g. $(git log -1 --format=%%ct)", sourceDateEpoch)
		}
		return time.Unix(sec, 0).UTC(), "SOURCE_DATE_EPOCH", nil
	}
	if srcDir != "" {
		git := exec.Command("git", "log", "-1", "--format=%ct")
		git.Dir = srcDir
		if out, err := git.Output(); err == nil {
			if sec, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && sec >= 0 {
				return time.Unix(sec, 0).UTC(), "the last commit", nil
			}
		}
	}
	return time.Unix(0, 0).UTC(), "no SOURCE_DATE_EPOCH and no git checkout: the Unix epoch", nil
}

// pbuildVersion is this binary's module version, "(devel)" when unknown.
func pbuildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// displayPath shows p relative to the working directory when it is below it.
func displayPath(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	if rel, err := filepath.Rel(wd, abs); err == nil && filepath.IsLocal(rel) {
		return rel
	}
	return p
}

// inputError is input pbuild cannot read, with its own hint. It unwraps to
// a *check.InputError, which the error renderer maps to exit code 2.
type inputError struct {
	err  error
	hint string
}

func (e *inputError) Error() string { return e.err.Error() }
func (e *inputError) Hint() string  { return e.hint }
func (e *inputError) Unwrap() error { return &check.InputError{Err: e.err} }

// asInputError turns a *bundle.InputError into an inputError (exit 2).
func asInputError(err error) error {
	var ie *bundle.InputError
	if errors.As(err, &ie) {
		return &inputError{err: err, hint: ie.Hint()}
	}
	return err
}
