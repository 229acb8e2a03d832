package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pbuild/pbuild/config"
	"github.com/pbuild/pbuild/internal/container"
	"github.com/pbuild/pbuild/internal/owner"
	"github.com/pbuild/pbuild/toolchain"
)

type doctorOptions struct {
	file string
}

// doctorCheck is one line of the doctor's report.
type doctorCheck struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Warn   bool   `json:"warn,omitempty"` // ok, but worth a look
	Detail string `json:"detail"`
	Hint   string `json:"hint,omitempty"`
}

func doctorCmd(d *deps, root *rootOptions) *cobra.Command {
	opts := &doctorOptions{}
	cmd := &cobra.Command{
		Use:   "doctor [-f FILE]",
		Short: "Check that this machine can run pbuild builds",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			checks := runDoctor(cmd, d, opts)
			failed := 0
			for _, c := range checks {
				if !c.OK {
					failed++
				}
			}
			if root.json {
				if err := d.printJSON(checks); err != nil {
					return err
				}
			} else {
				for _, c := range checks {
					mark := "ok  "
					switch {
					case !c.OK:
						mark = "FAIL"
					case c.Warn:
						mark = "warn"
					}
					fmt.Fprintf(d.stdout, "%s %-10s %s\n", mark, c.Name, c.Detail)
					if (!c.OK || c.Warn) && c.Hint != "" {
						fmt.Fprintf(d.stdout, "     %-10s hint: %s\n", "", c.Hint)
					}
				}
			}
			if failed > 0 {
				return &doctorError{failed: failed}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&opts.file, "file", "f", config.FileName, "config file naming the toolchain to check (optional)")
	return cmd
}

type doctorError struct{ failed int }

func (e *doctorError) Error() string { return fmt.Sprintf("doctor: %d checks failed", e.failed) }
func (e *doctorError) Hint() string  { return "follow the hints above" }

func runDoctor(cmd *cobra.Command, d *deps, opts *doctorOptions) []doctorCheck {
	ctx := cmd.Context()
	var checks []doctorCheck
	add := func(c doctorCheck) { checks = append(checks, c) }

	goVersion, base, sum := "", config.DefaultBase, ""
	if cfg, err := config.Load(ctx, opts.file); err == nil {
		goVersion, base, sum = cfg.Toolchain.Go, cfg.Toolchain.Base, cfg.Toolchain.Sum
	} else if _, statErr := os.Stat(opts.file); statErr == nil {
		add(doctorCheck{Name: "config", Detail: err.Error(), Hint: "fix the config file"})
	}

	eng, err := d.engine(ctx)
	if err == nil {
		defer eng.Close()
	}
	var info struct{ ok bool }
	if err == nil {
		in, ierr := eng.Info(ctx)
		err = ierr
		if ierr == nil {
			info.ok = true
			add(doctorCheck{Name: "engine", OK: true, Detail: fmt.Sprintf("Docker %s at %s, API %s, %s/%s", in.ServerVersion, in.Host, in.APIVersion, in.OS, in.Arch)})
		}
	}
	if !info.ok {
		hint := "start the Docker engine (dockerd) or point DOCKER_HOST at one"
		var h hinter
		if errors.As(err, &h) {
			hint = h.Hint()
		}
		add(doctorCheck{Name: "engine", Detail: err.Error(), Hint: hint})
		return append(checks, caCheck(d))
	}

	baseID, err := eng.ImageID(ctx, base)
	switch {
	case err == nil:
		add(doctorCheck{Name: "base", OK: true, Detail: fmt.Sprintf("%s is %s", base, baseID)})
	case errors.Is(err, container.ErrNotFound):
		add(doctorCheck{Name: "base", Detail: base + " is not in the engine", Hint: "make it without a registry: images/mkbase.sh " + base})
	default:
		add(doctorCheck{Name: "base", Detail: err.Error()})
	}

	if goVersion != "" {
		version := toolchain.ModuleVersion(goVersion, d.env.GOOS, d.env.GOARCH)
		zip, zipSum, ok := d.fetcher().Cached(version)
		switch {
		case !ok:
			add(doctorCheck{Name: "toolchain", OK: true, Detail: fmt.Sprintf("go%s is not downloaded yet; the first build fetches it (about 75 MB) through GOPROXY", goVersion)})
		case sum != "" && zipSum != sum:
			add(doctorCheck{Name: "toolchain", Detail: fmt.Sprintf("cached %s is %s, config pins %s", zip, zipSum, sum), Hint: "remove the cached zip; pbuild build fetches it again"})
		case baseID == "":
			add(doctorCheck{Name: "toolchain", OK: true, Detail: fmt.Sprintf("go%s downloaded (%s); image needs the base image", goVersion, zipSum)})
		default:
			tag := toolchain.ImageTag(goVersion, baseID, zipSum)
			if _, err := eng.ImageID(ctx, tag); err == nil {
				add(doctorCheck{Name: "toolchain", OK: true, Detail: fmt.Sprintf("go%s cached as image %s", goVersion, tag)})
			} else {
				add(doctorCheck{Name: "toolchain", OK: true, Detail: fmt.Sprintf("go%s downloaded; image %s is made on the next build", goVersion, tag)})
			}
		}
	}

	add(caCheck(d))
	if c, ok := containersCheck(ctx, d, eng); ok {
		add(c)
	}
	proxy := d.env.Go["GOPROXY"]
	if proxy == "" {
		add(doctorCheck{Name: "goproxy", Detail: "GOPROXY is not set and no go command reports it", Hint: "set GOPROXY to your module proxy"})
	} else {
		add(doctorCheck{Name: "goproxy", OK: true, Detail: "GOPROXY=" + proxy})
	}
	return checks
}

func caCheck(d *deps) doctorCheck {
	if d.env.CAFile == "" {
		return doctorCheck{Name: "ca-bundle", Detail: "no CA bundle found", Hint: "set SSL_CERT_FILE to your CA bundle; behind a TLS-intercepting proxy, module downloads in the container fail without it"}
	}
	return doctorCheck{Name: "ca-bundle", OK: true, Detail: d.env.CAFile + " (forwarded into the resolve container)"}
}

// containersCheck removes the containers and temporary directories of
// pbuild processes on this machine that were killed, and reports the
// containers it cannot judge (another machine's builds, or an older
// pbuild's); builds running now are left alone.
func containersCheck(ctx context.Context, d *deps, eng container.Lister) (doctorCheck, bool) {
	dirs, _ := owner.Sweep(os.TempDir(), "pbuild-", d.env.Self)
	all, err := container.Classify(ctx, eng, d.env.Self)
	if err != nil {
		return doctorCheck{Name: "containers", Detail: err.Error()}, true
	}
	var running, unknown []string
	removed := 0
	for _, c := range all {
		switch c.State {
		case owner.Alive:
			running = append(running, c.ID[:min(12, len(c.ID))])
		case owner.Dead:
			if eng.Remove(ctx, c.ID) == nil {
				removed++
			}
		default:
			unknown = append(unknown, c.ID[:min(12, len(c.ID))])
		}
	}
	if len(all) == 0 && len(dirs) == 0 {
		return doctorCheck{}, false
	}
	detail := fmt.Sprintf("removed %d containers and %d temporary directories of pbuild processes that were killed; %d containers belong to builds running now",
		removed, len(dirs), len(running))
	if len(unknown) == 0 {
		return doctorCheck{Name: "containers", OK: true, Detail: detail}, true
	}
	return doctorCheck{Name: "containers", OK: true, Warn: true,
		Detail: detail + fmt.Sprintf("; %d were started by pbuild on another machine, or by an older pbuild, and may still be in use: %s", len(unknown), strings.Join(unknown, " ")),
		Hint:   "once no build uses them: docker rm -f " + strings.Join(unknown, " ")}, true
}
