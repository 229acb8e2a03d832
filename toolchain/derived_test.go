package toolchain

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/pbuild/pbuild/internal/container/containertest"
)

// crossProbe is what the probe prints in an image with the arm64 cross
// compiler and one pinned package.
const crossProbe = goodProbe +
	"cross linux/arm64 aarch64-linux-gnu-gcc aarch64-linux-gnu-gcc (Debian 12.2.0-14) 12.2.0\n" +
	"package gcc-aarch64-linux-gnu=4:12.2.0-3\n" +
	"package libc6-dev-arm64-cross=2.36-8cross1\n" +
	"package zlib1g-dev=1:1.2.13.dfsg-1\n"

func TestEnsureDerivesImageWithPackagesAndCross(t *testing.T) {
	m, eng, _, sum := newMaker(t)
	eng.probe = crossProbe
	spec := testSpec(sum)
	spec.Packages = []string{"zlib1g-dev=1:1.2.13.dfsg-1"}
	spec.Targets = []string{"linux/amd64", "linux/arm64"}
	tc, err := m.Ensure(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	builds := eng.Builds()
	if len(builds) != 2 {
		t.Fatalf("%d image builds, want the toolchain image then the derived one", len(builds))
	}
	base, derived := builds[0], builds[1]
	wantPkgs := "gcc-aarch64-linux-gnu libc6-dev-arm64-cross zlib1g-dev=1:1.2.13.dfsg-1"
	if derived.Args["TOOLCHAIN"] != base.Tag || derived.Args["PACKAGES"] != wantPkgs || derived.Args["CROSS"] != "linux/arm64=aarch64-linux-gnu-gcc" {
		t.Errorf("derived build args = %v", derived.Args)
	}
	if !strings.HasPrefix(derived.Tag, base.Tag+"-") || tc.Image != derived.Tag || tc.ImageID != "sha256:built-"+derived.Tag {
		t.Errorf("derived tag %s, toolchain image %s (%s), want the derived one", derived.Tag, tc.Image, tc.ImageID)
	}
	if len(derived.Context) != 1 || derived.Context[0].Name != "Dockerfile" || !strings.Contains(derived.Context[0].Body, "apt-get install") {
		t.Errorf("derived build context = %+v, want the packages recipe only", derived.Context)
	}
	wantInstalled := []string{"gcc-aarch64-linux-gnu=4:12.2.0-3", "libc6-dev-arm64-cross=2.36-8cross1", "zlib1g-dev=1:1.2.13.dfsg-1"}
	if !reflect.DeepEqual(tc.Packages, wantInstalled) {
		t.Errorf("packages = %q, want %q", tc.Packages, wantInstalled)
	}
	arm, err := tc.For("linux", "arm64")
	if err != nil {
		t.Fatal(err)
	}
	if arm.GOARCH != "arm64" || arm.GOAMD64 != "" || arm.CCCommand != "aarch64-linux-gnu-gcc" || arm.CC != "aarch64-linux-gnu-gcc (Debian 12.2.0-14) 12.2.0" {
		t.Errorf("For(linux/arm64) = %+v", arm)
	}
	if native, _ := tc.For("linux", "amd64"); native != tc {
		t.Errorf("For(the engine's platform) is not the toolchain itself")
	}
	var pe *PlatformError
	if _, err := tc.For("linux", "riscv64"); !errors.As(err, &pe) {
		t.Errorf("For(linux/riscv64) = %v, want *PlatformError", err)
	}

	// A second Ensure reuses both images.
	if _, err := m.Ensure(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	if n := len(eng.Builds()); n != 2 {
		t.Errorf("%d image builds after a second Ensure, want 2", n)
	}
}

func TestDerivedTagCoversEveryInput(t *testing.T) {
	tag := DerivedTag("pbuild/toolchain:go1.24.4-abc", "sha256:1", []string{"a=1"}, "linux/arm64=x")
	for _, other := range []string{
		DerivedTag("pbuild/toolchain:go1.24.4-abc", "sha256:2", []string{"a=1"}, "linux/arm64=x"),
		DerivedTag("pbuild/toolchain:go1.24.4-abc", "sha256:1", []string{"a=2"}, "linux/arm64=x"),
		DerivedTag("pbuild/toolchain:go1.24.4-abc", "sha256:1", []string{"a=1"}, ""),
		DerivedTag("pbuild/toolchain:go1.24.4-abc", "sha256:1", []string{"a=1", "b=1"}, "linux/arm64=x"),
	} {
		if other == tag {
			t.Errorf("a changed input kept the tag %s", tag)
		}
	}
}

func TestNoDerivationForTheEnginePlatform(t *testing.T) {
	m, eng, _, sum := newMaker(t)
	spec := testSpec(sum)
	spec.Targets = []string{"linux/amd64"}
	if _, err := m.Ensure(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	if n := len(eng.Builds()); n != 1 {
		t.Errorf("%d image builds, want only the toolchain image", n)
	}
	// A platform with no cross compiler is refused before any fetch or
	// image work: nothing but the spec decides it.
	spec.Targets = []string{"linux/s390x"}
	var steps []string
	m.OnStep = func(s string) { steps = append(steps, s) }
	var pe *PlatformError
	if _, err := m.Ensure(context.Background(), spec); !errors.As(err, &pe) {
		t.Errorf("Ensure for linux/s390x = %v, want *PlatformError", err)
	}
	if len(steps) != 0 {
		t.Errorf("Ensure for linux/s390x did %q before refusing it", steps)
	}
}

func TestPackagesErrorNamesThePackages(t *testing.T) {
	m, eng, _, sum := newMaker(t)
	spec := testSpec(sum)
	spec.Packages = []string{"nosuch=1.0"}
	first := true
	eng.FakeImages.OnBuildImage = func(b containertest.Build) (string, error) {
		if first {
			first = false
			return "sha256:tc", nil
		}
		return "", errors.New("E: Unable to locate package nosuch")
	}
	_, err := m.Ensure(context.Background(), spec)
	var pe *PackagesError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "nosuch=1.0") {
		t.Errorf("Ensure = %v, want *PackagesError naming the package", err)
	}
}
