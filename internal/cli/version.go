package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func versionCmd(d *deps, root *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print pbuild's version",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			v := struct {
				Version string `json:"version"`
				Go      string `json:"go"`
				GOOS    string `json:"goos"`
				GOARCH  string `json:"goarch"`
			}{Version: "(devel)", Go: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}
			if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
				v.Version = bi.Main.Version
			}
			if root.json {
				return d.printJSON(v)
			}
			fmt.Fprintf(d.stdout, "pbuild %s (%s %s/%s)\n", v.Version, v.Go, v.GOOS, v.GOARCH)
			return nil
		},
	}
}
