package toolchain

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pbuild/pbuild/images"
	"github.com/pbuild/pbuild/internal/archive"
)

// CrossCompiler is the C compiler cgo uses to build for another platform,
// and the Debian packages that hold it and its target's C library.
type CrossCompiler struct {
	Platform string // "linux/arm64"
	CC       string // the command, "aarch64-linux-gnu-gcc"
	Packages []string
}

// CrossCompilers are the cross compilers pbuild installs, by the platform
// they build for; the engine's own platform uses the image's cc.
func CrossCompilers() map[string]CrossCompiler {
	return map[string]CrossCompiler{
		"linux/arm64": {Platform: "linux/arm64", CC: "aarch64-linux-gnu-gcc", Packages: []string{"gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"}},
		"linux/amd64": {Platform: "linux/amd64", CC: "x86_64-linux-gnu-gcc", Packages: []string{"gcc-x86-64-linux-gnu", "libc6-dev-amd64-cross"}},
	}
}

// PlatformError is a platform pbuild has no C cross compiler for.
type PlatformError struct{ Platform, Engine string }

func (e *PlatformError) Error() string {
	return fmt.Sprintf("no C cross compiler for %s on a %s engine", e.Platform, e.Engine)
}

// Hint tells the user what to do.
func (e *PlatformError) Hint() string {
	return "build for linux/amd64 and linux/arm64 only (platforms in the config)"
}

// PackagesError is a toolchain image whose packages could not be installed.
type PackagesError struct {
	Packages []string
	Err      error
}

func (e *PackagesError) Error() string {
	return fmt.Sprintf("install %s into the toolchain image: %v", strings.Join(e.Packages, " "), e.Err)
}

func (e *PackagesError) Unwrap() error { return e.Err }

// Hint tells the user what to do.
func (e *PackagesError) Hint() string {
	return "check each NAME=VERSION of toolchain.packages against the base image's Debian release (apt-cache policy NAME)"
}

// derivation is what a toolchain image gets on top of it: packages and
// cross compilers.
type derivation struct {
	packages []string // to apt-get install, sorted
	cross    []CrossCompiler
}

// derive is the derivation spec needs, nil when the toolchain image serves
// as it is.
func derive(spec Spec) (*derivation, error) {
	engine := spec.GOOS + "/" + spec.GOARCH
	d := &derivation{packages: slices.Clone(spec.Packages)}
	all := CrossCompilers()
	for _, pl := range spec.Targets {
		if pl == engine {
			continue
		}
		cc, ok := all[pl]
		if !ok {
			return nil, &PlatformError{Platform: pl, Engine: engine}
		}
		d.cross = append(d.cross, cc)
		d.packages = append(d.packages, cc.Packages...)
	}
	if len(d.packages) == 0 {
		return nil, nil
	}
	slices.Sort(d.packages)
	d.packages = slices.Compact(d.packages)
	slices.SortFunc(d.cross, func(a, b CrossCompiler) int { return strings.Compare(a.Platform, b.Platform) })
	return d, nil
}

// crossArg is the CROSS build argument: "platform=cc" pairs.
func (d *derivation) crossArg() string {
	var pairs []string
	for _, c := range d.cross {
		pairs = append(pairs, c.Platform+"="+c.CC)
	}
	return strings.Join(pairs, " ")
}

// DerivedTag is the content-derived tag of the image that adds packages
// and cross compilers to the toolchain image toolchainID tagged tag.
func DerivedTag(tag, toolchainID string, packages []string, cross string) string {
	h := sha256.New()
	fmt.Fprintf(h, "toolchain %s\npackages %q\ncross %q\nrecipe ", toolchainID, packages, cross)
	h.Write(images.PackagesDockerfile())
	return tag + "-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// ensureDerived returns the ID of the derived image tag, made from the
// toolchain image when it is missing.
func (m *Maker) ensureDerived(ctx context.Context, tag, toolchainTag string, d *derivation) (string, error) {
	return m.ensureImage(ctx, tag, ": apt-get install "+strings.Join(d.packages, " "), func() (string, error) {
		var buildContext bytes.Buffer
		err := archive.Write(ctx, &buildContext, []archive.Entry{archive.Bytes("Dockerfile", images.PackagesDockerfile(), false, time.Unix(0, 0))}, archive.WriteOptions{})
		if err != nil {
			return "", err
		}
		id, err := m.Engine.BuildImage(ctx, tag, &buildContext,
			map[string]string{"TOOLCHAIN": toolchainTag, "PACKAGES": strings.Join(d.packages, " "), "CROSS": d.crossArg()},
			map[string]string{"org.pbuild.toolchain.image": toolchainTag, "org.pbuild.packages": strings.Join(d.packages, " ")})
		if err != nil {
			return "", &PackagesError{Packages: d.packages, Err: err}
		}
		return id, nil
	})
}

// For is the toolchain that builds for goos/goarch: tc itself for its own
// platform, else tc with the platform's cross compiler.
func (tc *Toolchain) For(goos, goarch string) (*Toolchain, error) {
	if goos == tc.GOOS && goarch == tc.GOARCH {
		return tc, nil
	}
	pl := goos + "/" + goarch
	cc, ok := tc.Cross[pl]
	if !ok {
		return nil, &PlatformError{Platform: pl, Engine: tc.GOOS + "/" + tc.GOARCH}
	}
	out := *tc
	out.GOOS, out.GOARCH, out.GOAMD64 = goos, goarch, ""
	if goarch == "amd64" {
		out.GOAMD64 = "v1" // the go command's default
	}
	out.CC, out.CCCommand = cc.Version, cc.Command
	return &out, nil
}
