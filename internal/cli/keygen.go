package cli

import (
	"crypto/rand"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pbuild/pbuild/sign"
)

type keygenOptions struct {
	out string
}

func keygenCmd(d *deps, root *rootOptions) *cobra.Command {
	opts := &keygenOptions{}
	cmd := &cobra.Command{
		Use:   "keygen [--out PREFIX]",
		Short: "Make an ed25519 key pair for signing release bundles",
		Long: `keygen writes PREFIX.key, the private key (PKCS#8 PEM, mode 0600: keep it
secret, pass it to pbuild bundle --key), and PREFIX.pub, the public key (PKIX
PEM: publish it, pass it to pbuild verify --key). It never overwrites a file.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runKeygen(d, root, opts)
		},
	}
	cmd.Flags().StringVar(&opts.out, "out", "pbuild", "file name prefix of the key pair")
	return cmd
}

func runKeygen(d *deps, root *rootOptions, opts *keygenOptions) error {
	if opts.out == "" {
		return usageErrorf("--out must not be empty")
	}
	id, err := sign.WriteKeyPair(opts.out, rand.Reader)
	if err != nil {
		return err
	}
	priv, pub := sign.KeyFiles(opts.out)
	if root.json {
		return d.printJSON(struct {
			PrivateKey string `json:"privateKey"`
			PublicKey  string `json:"publicKey"`
			KeyID      string `json:"keyid"`
		}{priv, pub, id})
	}
	fmt.Fprintf(d.stdout, "private key %s  (keep it secret: pbuild bundle --key %s)\n", priv, priv)
	fmt.Fprintf(d.stdout, "public key  %s  (publish it: pbuild verify --key %s)\n", pub, pub)
	fmt.Fprintf(d.stdout, "key id      %s\n", id)
	return nil
}
