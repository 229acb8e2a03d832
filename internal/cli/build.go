package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/spf13/cobra"

	"github.com/pbuild/pbuild/builder"
	"github.com/pbuild/pbuild/config"
	"github.com/pbuild/pbuild/internal/digest"
	"github.com/pbuild/pbuild/internal/dockerbackend"
	"github.com/pbuild/pbuild/internal/dockerengine"
	"github.com/pbuild/pbuild/internal/progress"
	"github.com/pbuild/pbuild/internal/safefile"
	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/plan"
)

type buildOptions struct {
	file        string
	against     string
	force       bool
	outputClean bool
	backend     backendOptions
}

func buildCmd(d *deps, root *rootOptions) *cobra.Command {
	opts := &buildOptions{}
	cmd := &cobra.Command{
		Use:   "build [-f FILE]",
		Short: "Build the host and its plugins in the pinned toolchain container",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd, d, root, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.file, "file", "f", config.FileName, "config file")
	cmd.Flags().StringVar(&opts.against, "against", "", "build the plugins for a released host: its manifest fixes the toolchain, settings and module versions")
	cmd.Flags().BoolVar(&opts.force, "force", false, "build and link every artifact again, even when the output directory was made from the same inputs and is intact")
	cmd.Flags().BoolVar(&opts.outputClean, "output-clean", false, "replace the output directory even when pbuild did not make it, with everything in it")
	opts.backend.flags(cmd, d)
	return cmd
}

// buildReport is what `pbuild build --json` prints.
type buildReport struct {
	Output    string              `json:"output"`
	ABIKey    string              `json:"abiKey"`
	Toolchain manifests.Toolchain `json:"toolchain"`
	Modules   []manifests.Module  `json:"modules"`
	Raised    []string            `json:"raised"`
	Notes     []string            `json:"notes"`
	Artifacts []artifactReport    `json:"artifacts"`
	Platforms []platformReport    `json:"platforms"`
	Against   string              `json:"against,omitempty"`
	UpToDate  bool                `json:"upToDate"`
}

// platformReport is one platform's manifest.
type platformReport struct {
	Platform string `json:"platform"`
	Manifest string `json:"manifest"` // slash path relative to the output
	ABIKey   string `json:"abiKey"`
}

type artifactReport struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Platform string `json:"platform"`
	File     string `json:"file"` // slash path relative to the output
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
}

func runBuild(cmd *cobra.Command, d *deps, root *rootOptions, opts *buildOptions) error {
	ctx := cmd.Context()
	cfg, err := loadConfig(ctx, opts.file)
	if err != nil {
		return err
	}
	var pin *builder.Pin
	if opts.against != "" {
		if pin, err = readPin(ctx, opts.against); err != nil {
			return err
		}
		pin.Host = true
	}
	res, err := d.build(ctx, root, &opts.backend, cfg, func(bo *builder.Options) {
		bo.OutputClean, bo.Pin = opts.outputClean, pin
		// Only a build can find its output up to date, so only it needs
		// to know which pbuild it is (a rebuild always builds).
		bo.Force, bo.ToolID = opts.force, d.toolID()
	})
	if err != nil {
		return err
	}
	rep := buildReport{Output: res.Dir, ABIKey: res.Manifest.ABIKey, Against: res.Manifest.Against, Toolchain: res.Manifest.Toolchain, Modules: res.Manifest.Modules, Raised: []string{}, Notes: append([]string{}, res.Notes...), UpToDate: res.UpToDate}
	for _, r := range res.Raised {
		rep.Raised = append(rep.Raised, r.String())
	}
	for _, pm := range res.Manifests {
		rep.Platforms = append(rep.Platforms, platformReport{Platform: pm.Platform.String(), Manifest: pm.File(), ABIKey: pm.Manifest.ABIKey})
		for _, a := range pm.Manifest.Artifacts {
			rep.Artifacts = append(rep.Artifacts, artifactReport{Name: a.Name, Kind: a.Kind, Platform: pm.Platform.String(),
				File: path.Join(pm.Dir, a.File), Size: a.Size, SHA256: a.SHA256})
		}
	}
	if root.json {
		return d.printJSON(rep)
	}
	return printBuildReport(d, cfg, rep)
}

func printBuildReport(d *deps, cfg *config.Config, rep buildReport) error {
	w := d.stdout
	rel := func(p string) string {
		if r, err := filepath.Rel(cfg.Dir, p); err == nil {
			return r
		}
		return p
	}
	fmt.Fprintf(w, "toolchain  %s  %s\n", rep.Toolchain.Go, rep.Toolchain.Image)
	fmt.Fprintf(w, "build list %d modules\n", len(rep.Modules))
	for _, m := range rep.Modules {
		v := m.Version
		if m.Local {
			v = "(local " + m.Dir + ")"
		}
		if m.Replace != "" {
			v += " => " + m.Replace
		}
		fmt.Fprintf(w, "  %s %s\n", m.Path, v)
	}
	for _, r := range rep.Raised {
		fmt.Fprintf(w, "raised     %s\n", r)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(w, "note       %s\n", n)
	}
	for _, a := range rep.Artifacts {
		fmt.Fprintf(w, "%-10s %s  sha256:%s  %d bytes\n", a.Kind, filepath.Join(rel(rep.Output), a.File), a.SHA256[:16], a.Size)
	}
	if rep.Against != "" {
		fmt.Fprintf(w, "against    host manifest sha256:%s\n", rep.Against)
	}
	for _, pr := range rep.Platforms {
		if len(rep.Platforms) == 1 {
			fmt.Fprintf(w, "manifest   %s\n", filepath.Join(rel(rep.Output), filepath.FromSlash(pr.Manifest)))
			fmt.Fprintf(w, "abi key    %s\n", pr.ABIKey)
			continue
		}
		fmt.Fprintf(w, "manifest   %s  %s  abi key %s\n", filepath.Join(rel(rep.Output), filepath.FromSlash(pr.Manifest)), pr.Platform, pr.ABIKey)
	}
	if rep.UpToDate {
		fmt.Fprintf(w, "up to date: made from the same inputs and intact, nothing built (--force builds anyway)\n")
	}
	return nil
}

// build builds cfg on the engine and the backend the flags choose, with
// options set, showing progress in the command's one display, which is
// done when build returns.
func (d *deps) build(ctx context.Context, root *rootOptions, bk *backendOptions, cfg *config.Config, set func(*builder.Options)) (*builder.Result, error) {
	prog, err := d.progress(root)
	if err != nil {
		return nil, err
	}
	res, err := func() (*builder.Result, error) {
		eng, err := d.engine(ctx)
		if err != nil {
			return nil, err
		}
		defer eng.Close()
		bopts, err := d.buildOptions(eng, prog)
		if err != nil {
			return nil, err
		}
		set(&bopts)
		closeBackend, err := bk.connect(ctx, d, eng, prog, &bopts)
		if err != nil {
			return nil, err
		}
		defer closeBackend()
		return builder.Build(ctx, cfg, bopts)
	}()
	prog.Close(err)
	return res, err
}

// buildOptions are the builder's options from the environment and flags,
// showing progress on prog.
func (d *deps) buildOptions(eng *dockerengine.Engine, prog *progress.Printer) (builder.Options, error) {
	var ca []byte
	if d.env.CAFile != "" {
		var err error
		if ca, err = os.ReadFile(d.env.CAFile); err != nil {
			return builder.Options{}, fmt.Errorf("read CA bundle: %w", err)
		}
	}
	return builder.Options{
		Engine: eng,
		Backend: &dockerbackend.Backend{Engine: eng, Owner: d.env.Self.String(),
			OnEvent: func(m string) { prog.Step(string(builder.StepCompile), m) }},
		Fetcher:    d.fetcher(),
		Platform:   plan.Platform{OS: d.env.GOOS, Arch: d.env.GOARCH},
		ResolveEnv: d.env.resolveEnv(),
		CABundle:   ca,
		OnEvent:    func(e builder.Event) { prog.Step(string(e.Step), e.Message) },
		Self:       d.env.Self,
	}, nil
}

// progress is the command's one display, on stderr; quiet for --json
// unless a mode was asked for.
func (d *deps) progress(root *rootOptions) (*progress.Printer, error) {
	mode, err := progress.ParseMode(root.progress)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	if root.json && root.progress == "auto" {
		mode = progressui.QuietMode
	}
	return progress.New(d.stderr, mode)
}

// toolID identifies this pbuild: the sha256 of its executable, or of
// nothing when it cannot be read (then every build runs).
func (d *deps) toolID() string {
	if exe, err := os.Executable(); err == nil {
		if sum, err := digest.File(exe); err == nil {
			return sum
		}
	}
	return "unknown " + time.Now().String()
}

// readPin reads a manifest to pin a build to.
// It reads the file once: the digest is of the bytes that were parsed.
func readPin(ctx context.Context, path string) (*builder.Pin, error) {
	data, err := safefile.ReadPath(ctx, path, manifests.MaxSize)
	if err != nil {
		return nil, usageErrorf("read manifest: %v", err)
	}
	m, err := manifests.Read(bytes.NewReader(data))
	if err != nil {
		return nil, usageErrorf("%s: %v", path, err)
	}
	sum := sha256.Sum256(data)
	pin := &builder.Pin{Manifest: m, SHA256: hex.EncodeToString(sum[:]), Source: path}
	if err := pin.Check(); err != nil {
		return nil, err
	}
	return pin, nil
}

// loadConfig loads the config file; a missing file is a usage error.
func loadConfig(ctx context.Context, file string) (*config.Config, error) {
	cfg, err := config.Load(ctx, file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, usageErrorf("no config file %s; write one (see the README's config reference) or pass -f FILE", file)
	}
	return cfg, err
}
