package cli

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pbuild/pbuild/bundle"
	"github.com/pbuild/pbuild/check"
	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/sign"
)

type verifyOptions struct {
	key string
}

func verifyCmd(d *deps, root *rootOptions) *cobra.Command {
	opts := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify BUNDLE.tar.gz [--key PREFIX.pub]",
		Short: "Verify a release bundle: checksums, signature, archive, manifest, SBOM, compatibility",
		Long: `verify checks a bundle made by pbuild bundle with the files beside it, in
order, and names the step and the file that failed:

  checksums    the bundle, its SBOM and attestation are listed in checksums.txt and match
  signature    with --key, the attestation is signed by that key
  attestation  the provenance's subjects are the bundle and the SBOM with their sha256
  archive      the archive extracts safely (no links, devices, escaping paths, limits)
  manifest     it holds exactly the manifest's artifacts, with their sha256
  sbom         the SBOM describes this bundle and its artifacts
  check        the plugins load into the host, the C-ABI libraries are fit
               for C hosts (as pbuild check --manifest)

Exit 0: verified; 1: a step failed; 2: bad usage or unreadable input.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("verify takes one BUNDLE.tar.gz, got %d arguments", len(args))
			}
			return runVerify(cmd.Context(), d, root, opts, args[0])
		},
	}
	cmd.Flags().StringVar(&opts.key, "key", "", "the public key (PREFIX.pub) that must have signed the attestation")
	return cmd
}

func runVerify(ctx context.Context, d *deps, root *rootOptions, opts *verifyOptions, archive string) error {
	var pub ed25519.PublicKey
	if opts.key != "" {
		var err error
		if pub, err = sign.ReadPublicKeyFile(opts.key); err != nil {
			return &inputError{err: fmt.Errorf("verify: --key: %w", err), hint: "pass the publisher's PREFIX.pub file (written by `pbuild keygen`)"}
		}
	}
	rep, err := bundle.Verify(ctx, archive, bundle.VerifyOptions{PublicKey: pub, Check: checkBundle})
	if rep == nil {
		return asInputError(err)
	}
	if root.json {
		if jerr := d.printJSON(rep); jerr != nil {
			return jerr
		}
		return err
	}
	w := d.stdout
	for _, s := range rep.Steps {
		detail := s.Detail
		if s.File != "" {
			detail = s.File + ": " + detail
		}
		fmt.Fprintf(w, "%-4s %-11s %s\n", s.Status, s.Name, detail)
	}
	var ve *bundle.VerifyError
	if errors.As(err, &ve) && ve.Detail != "" {
		fmt.Fprintln(w, strings.TrimRight(ve.Detail, "\n"))
	}
	if err != nil {
		return err
	}
	how := "the signature was not checked (no --key)"
	if rep.Signed {
		how = "signed by key " + rep.KeyID
	}
	fmt.Fprintf(w, "verified %s: %s %s, %s\n", filepath.Base(archive), rep.Name, rep.Version, how)
	return nil
}

// checkBundle is verify's last step: pbuild check on the extracted bundle:
// its plugins against its host, its C-ABI libraries for C hosts.
func checkBundle(ctx context.Context, dir string, m *manifests.Manifest) (string, error) {
	res, err := check.Dir(ctx, dir, m, check.Options{})
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if err != nil {
		// Files in a verified archive that cannot be checked fail the
		// bundle (exit 1); they are not unreadable input (exit 2).
		return "", errors.New(err.Error())
	}
	if err := res.Err(); err != nil {
		var b strings.Builder
		check.Render(&b, res)
		return b.String(), err
	}
	return check.Verdict(res), nil
}
