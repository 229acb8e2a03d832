package toolchain

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pbuild/pbuild/images"
	"github.com/pbuild/pbuild/internal/archive"
	"github.com/pbuild/pbuild/internal/container"
)

// Engine is what the toolchain needs of a container engine.
type Engine interface {
	container.Engine
	// ImageID returns a local image's ID, or an error wrapping
	// container.ErrNotFound.
	ImageID(ctx context.Context, ref string) (string, error)
	// BuildImage builds a tagged image from a tar build context.
	BuildImage(ctx context.Context, tag string, buildContext io.Reader, args, labels map[string]string) (string, error)
}

// Spec names the toolchain to make.
type Spec struct {
	Go   string // exact release, "1.24.4"
	Base string // base image reference
	Sum  string // pinned h1 hash of the toolchain zip, or empty
	// GOOS and GOARCH are the engine's platform, whose toolchain runs.
	GOOS   string
	GOARCH string
	// Packages are Debian packages, NAME=VERSION, added to the image.
	Packages []string
	// Targets are the platforms ("linux/arm64") the image builds for: each
	// but the engine's gets its C cross compiler (CrossCompilers).
	Targets []string
}

// Toolchain is a verified toolchain image, ready to run builds.
type Toolchain struct {
	Go          string // "go1.24.4"
	Module      string // golang.org/toolchain@v0.0.1-go1.24.4.linux-amd64
	ModuleSum   string
	BaseImage   string
	BaseImageID string
	Image       string // tag
	ImageID     string
	GOOS        string
	GOARCH      string
	GOAMD64     string // the toolchain's default
	CC          string // first line of `cc --version`
	// CCCommand is the C compiler cgo runs, "" for the image's cc; a
	// cross compiler's for a toolchain For another platform.
	CCCommand string
	// Packages are what the image adds to the base, NAME=VERSION, sorted.
	Packages []string
	// Cross are the image's cross compilers, by platform.
	Cross map[string]Cross
}

// Cross is a C cross compiler in the image.
type Cross struct {
	Command string // "aarch64-linux-gnu-gcc"
	Version string // the first line of its --version
}

// BaseImageError is a missing base image.
type BaseImageError struct {
	Ref string
	Err error
}

func (e *BaseImageError) Error() string { return fmt.Sprintf("base image %s: %v", e.Ref, e.Err) }
func (e *BaseImageError) Unwrap() error { return e.Err }

// Hint tells the user what to try.
func (e *BaseImageError) Hint() string {
	return "make it without a registry: images/mkbase.sh " + e.Ref
}

// Maker makes toolchain images.
type Maker struct {
	Engine  Engine
	Fetcher *Fetcher
	// Project and Owner label the containers the maker starts (see
	// container.Spec).
	Project string
	Owner   string
	// OnStep, when set, is told what the maker is doing.
	OnStep func(msg string)
}

func (m *Maker) step(format string, args ...any) {
	if m.OnStep != nil {
		m.OnStep(fmt.Sprintf(format, args...))
	}
}

// ImageTag is the content-derived tag of the toolchain image for a base image
// ID and toolchain hash.
func ImageTag(goVersion, baseImageID, moduleSum string) string {
	h := sha256.New()
	fmt.Fprintf(h, "base %s\ntoolchain %s\nrecipe ", baseImageID, moduleSum)
	h.Write(images.ToolchainDockerfile())
	return fmt.Sprintf("pbuild/toolchain:go%s-%s", goVersion, hex.EncodeToString(h.Sum(nil))[:12])
}

// Ensure returns the toolchain image for spec, making it when it is missing,
// and asserts that it runs the pinned Go release.
func (m *Maker) Ensure(ctx context.Context, spec Spec) (*Toolchain, error) {
	d, err := derive(spec) // before any fetch or image work: it reads only spec
	if err != nil {
		return nil, err
	}
	baseID, err := m.Engine.ImageID(ctx, spec.Base)
	if err != nil {
		if errors.Is(err, container.ErrNotFound) {
			return nil, &BaseImageError{Ref: spec.Base, Err: errors.New("not present in the engine (nothing is pulled)")}
		}
		return nil, err
	}
	version := ModuleVersion(spec.Go, spec.GOOS, spec.GOARCH)
	m.step("fetch %s@%s", ModulePath, version)
	fetched, err := m.Fetcher.Fetch(ctx, version, spec.Sum)
	if err != nil {
		return nil, err
	}
	tag := ImageTag(spec.Go, baseID, fetched.Sum)
	id, err := m.ensureImage(ctx, tag, "", func() (string, error) { return m.build(ctx, tag, spec, baseID, fetched) })
	if err != nil {
		return nil, err
	}
	base := tag
	if d != nil {
		tag = DerivedTag(base, id, d.packages, d.crossArg())
		if id, err = m.ensureDerived(ctx, tag, base, d); err != nil {
			return nil, err
		}
	}
	tc := &Toolchain{
		Go:          "go" + spec.Go,
		Module:      fetched.Module,
		ModuleSum:   fetched.Sum,
		BaseImage:   spec.Base,
		BaseImageID: baseID,
		Image:       tag,
		ImageID:     id,
	}
	if err := m.probe(ctx, tc); err != nil {
		return nil, err
	}
	return tc, nil
}

// ensureImage returns the ID of the image tag, made by build when the
// engine does not have it; how is said after "make image TAG".
func (m *Maker) ensureImage(ctx context.Context, tag, how string, build func() (string, error)) (string, error) {
	id, err := m.Engine.ImageID(ctx, tag)
	switch {
	case err == nil:
		m.step("reuse image %s", tag)
		return id, nil
	case !errors.Is(err, container.ErrNotFound):
		return "", err
	}
	m.step("make image %s%s", tag, how)
	return build()
}

func (m *Maker) build(ctx context.Context, tag string, spec Spec, baseID string, f *Fetched) (string, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeBuildContext(ctx, pw, f.Zip)) }()
	defer pr.Close()
	id, err := m.Engine.BuildImage(ctx, tag, pr,
		map[string]string{"BASE": spec.Base},
		map[string]string{
			"org.pbuild.go":            spec.Go,
			"org.pbuild.toolchain":     f.Module,
			"org.pbuild.toolchain.sum": f.Sum,
			"org.pbuild.base":          spec.Base,
			"org.pbuild.base.id":       baseID,
		})
	if err != nil {
		return "", fmt.Errorf("make toolchain image: %w", err)
	}
	return id, nil
}

// probeScript prints what pbuild asserts and records about the toolchain.
// Lines after the fifth name the image's cross compilers ("cross
// linux/arm64 aarch64-linux-gnu-gcc <version line>") and its added packages
// ("package NAME=VERSION").
const probeScript = `go version && go env GOOS GOARCH GOAMD64 && cc --version | head -n 1 &&
if [ -f /etc/pbuild/cross ]; then while read -r pl c; do printf 'cross %s %s ' "$pl" "$c"; "$c" --version | head -n 1; done < /etc/pbuild/cross; fi &&
if [ -f /etc/pbuild/packages ]; then sed 's/^/package /' /etc/pbuild/packages; fi`

// probe asserts the image's Go version and reads its platform and C
// compiler. The output of a successful probe is kept in the cache by image
// ID: an image's content, and so what it prints, never changes.
func (m *Maker) probe(ctx context.Context, tc *Toolchain) error {
	cached := ""
	if m.Fetcher != nil && m.Fetcher.CacheDir != "" && tc.ImageID != "" {
		cached = filepath.Join(m.Fetcher.CacheDir, "probes", strings.TrimPrefix(tc.ImageID, "sha256:"))
		if out, err := os.ReadFile(cached); err == nil && parseProbe(tc, string(out)) == nil {
			return nil
		}
	}
	out, err := m.runProbe(ctx, tc)
	if err != nil {
		return err
	}
	if err := parseProbe(tc, out); err != nil {
		return err
	}
	if cached != "" {
		if err := os.MkdirAll(filepath.Dir(cached), 0o755); err == nil {
			_ = writeFileAtomic(cached, []byte(out)) // only a cache
		}
	}
	return nil
}

// runProbe runs the toolchain once and returns what probeScript printed.
func (m *Maker) runProbe(ctx context.Context, tc *Toolchain) (string, error) {
	var out, errOut bytes.Buffer
	err := container.Use(ctx, m.Engine, container.Spec{Image: tc.Image, Step: "toolchain", Project: m.Project, Owner: m.Owner}, func(c *container.Container) error {
		code, err := c.Exec(ctx, container.Exec{Cmd: []string{"sh", "-c", probeScript}, Stdout: &out, Stderr: &errOut})
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("probe toolchain image %s: exit %d: %s", tc.Image, code, strings.TrimSpace(errOut.String()))
		}
		return nil
	})
	return out.String(), err
}

// parseProbe fills tc from probeScript's output.
func parseProbe(tc *Toolchain, out string) error {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 5 {
		return fmt.Errorf("probe toolchain image %s: unexpected output %q", tc.Image, out)
	}
	fields := strings.Fields(lines[0]) // go version go1.24.4 linux/amd64
	if len(fields) < 4 || fields[2] != tc.Go {
		return &MismatchError{Image: tc.Image, Want: tc.Go, Got: lines[0]}
	}
	tc.GOOS, tc.GOARCH, tc.GOAMD64 = lines[1], lines[2], lines[3]
	tc.CC = strings.TrimSpace(lines[4])
	tc.Packages, tc.Cross = nil, nil
	for _, l := range lines[5:] {
		switch kind, rest, _ := strings.Cut(l, " "); kind {
		case "package":
			tc.Packages = append(tc.Packages, strings.TrimSpace(rest))
		case "cross":
			f := strings.SplitN(rest, " ", 3)
			if len(f) < 3 {
				return fmt.Errorf("probe toolchain image %s: unexpected line %q", tc.Image, l)
			}
			if tc.Cross == nil {
				tc.Cross = map[string]Cross{}
			}
			tc.Cross[f[0]] = Cross{Command: f[1], Version: strings.TrimSpace(f[2])}
		default:
			return fmt.Errorf("probe toolchain image %s: unexpected line %q", tc.Image, l)
		}
	}
	slices.Sort(tc.Packages)
	return nil
}

// writeBuildContext streams the image's build context (package archive):
// the recipe as Dockerfile and the toolchain module's files under go/, with
// the exec bits the module zip cannot carry restored, all at the epoch.
func writeBuildContext(ctx context.Context, w io.Writer, zipPath string) error {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return fmt.Errorf("open toolchain zip: %w", err)
	}
	defer zr.Close()
	epoch := time.Unix(0, 0)
	entries := []archive.Entry{archive.Bytes("Dockerfile", images.ToolchainDockerfile(), false, epoch)}
	for _, zf := range zr.File {
		// Entries are "golang.org/toolchain@VERSION/<goroot path>".
		_, rel, ok := strings.Cut(zf.Name, "@")
		if !ok {
			return fmt.Errorf("toolchain zip: unexpected entry %q", zf.Name)
		}
		_, rel, ok = strings.Cut(rel, "/")
		if !ok || rel == "" || strings.HasSuffix(rel, "/") {
			continue
		}
		entries = append(entries, archive.Entry{Name: path.Join("go", rel), Exec: isExecutable(rel), ModTime: epoch,
			Size: int64(zf.UncompressedSize64), Open: zf.Open})
	}
	if err := archive.Write(ctx, w, entries, archive.WriteOptions{}); err != nil {
		return fmt.Errorf("toolchain build context: %w", err)
	}
	return nil
}

// isExecutable reports whether a GOROOT-relative file is a program: the go
// command and gofmt in bin/, the compiler, linker and friends in pkg/tool/.
func isExecutable(rel string) bool {
	parts := strings.Split(rel, "/")
	switch {
	case len(parts) == 2 && parts[0] == "bin":
		return true
	case len(parts) == 4 && parts[0] == "pkg" && parts[1] == "tool":
		return true
	}
	return false
}
