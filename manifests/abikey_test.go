package manifests

import (
	"regexp"
	"slices"
	"testing"
)

func TestABIKey(t *testing.T) {
	base := testManifest()
	baseKey := ABIKey(base.Toolchain, base.Build, base.Modules)
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(baseKey) {
		t.Fatalf("ABIKey = %q, want sha256:<64 hex>", baseKey)
	}
	if again := ABIKey(base.Toolchain, base.Build, base.Modules); again != baseKey {
		t.Fatalf("ABIKey not deterministic: %s vs %s", baseKey, again)
	}

	type mutation struct {
		name string
		f    func(tc *Toolchain, b *Build, mods *[]Module)
	}
	changes := []mutation{
		{"go version", func(tc *Toolchain, b *Build, mods *[]Module) { tc.Go = "go1.24.5" }},
		{"toolchain module sum", func(tc *Toolchain, b *Build, mods *[]Module) {
			tc.ModuleSum = "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
		}},
		{"goos", func(tc *Toolchain, b *Build, mods *[]Module) { tc.GOOS = "freebsd" }},
		{"goarch", func(tc *Toolchain, b *Build, mods *[]Module) { tc.GOARCH = "arm64" }},
		{"goamd64", func(tc *Toolchain, b *Build, mods *[]Module) { tc.GOAMD64 = "v3" }},
		{"goamd64 unset", func(tc *Toolchain, b *Build, mods *[]Module) { tc.GOAMD64 = "" }},
		{"cc", func(tc *Toolchain, b *Build, mods *[]Module) { tc.CC = "gcc (Debian 12.2.0-14+deb12u2) 12.2.0" }},
		{"flag added", func(tc *Toolchain, b *Build, mods *[]Module) { b.Flags = append(b.Flags, "-race") }},
		{"flags reordered", func(tc *Toolchain, b *Build, mods *[]Module) { slices.Reverse(b.Flags) }},
		{"flags removed", func(tc *Toolchain, b *Build, mods *[]Module) { b.Flags = nil }},
		{"tag added", func(tc *Toolchain, b *Build, mods *[]Module) { b.Tags = append(b.Tags, "debug") }},
		{"tag removed", func(tc *Toolchain, b *Build, mods *[]Module) { b.Tags = b.Tags[:1] }},
		{"ldflags", func(tc *Toolchain, b *Build, mods *[]Module) { b.Ldflags = "-s -w -X main.version=v1.4.1" }},
		{"env value", func(tc *Toolchain, b *Build, mods *[]Module) { b.Env["CGO_CFLAGS"] = "-O3" }},
		{"env added", func(tc *Toolchain, b *Build, mods *[]Module) { b.Env["GOEXPERIMENT"] = "aliastypeparams" }},
		{"env var removed", func(tc *Toolchain, b *Build, mods *[]Module) { delete(b.Env, "GOEXPERIMENT") }},
		{"module version", func(tc *Toolchain, b *Build, mods *[]Module) { (*mods)[2].Version = "v0.30.0" }},
		{"module sum", func(tc *Toolchain, b *Build, mods *[]Module) {
			(*mods)[0].Sum = "h1:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB="
		}},
		{"module path", func(tc *Toolchain, b *Build, mods *[]Module) { (*mods)[2].Path = "golang.org/x/text/v2" }},
		{"module replace", func(tc *Toolchain, b *Build, mods *[]Module) { (*mods)[3].Replace = "" }},
		{"module added", func(tc *Toolchain, b *Build, mods *[]Module) {
			*mods = append(*mods, Module{Path: "golang.org/x/sync", Version: "v0.17.0", Sum: "h1:l60nONMj9l5drqw6jlhIELNv9I0A4OFgRsG9k2oT9Ug="})
		}},
		{"module removed", func(tc *Toolchain, b *Build, mods *[]Module) { *mods = (*mods)[1:] }},
	}
	same := []mutation{
		{"base image", func(tc *Toolchain, b *Build, mods *[]Module) { tc.BaseImage = "registry.example/base:bookworm" }},
		{"base image id", func(tc *Toolchain, b *Build, mods *[]Module) {
			tc.BaseImageID = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
		}},
		{"image", func(tc *Toolchain, b *Build, mods *[]Module) { tc.Image = "pbuild/toolchain:other" }},
		{"image id", func(tc *Toolchain, b *Build, mods *[]Module) {
			tc.ImageID = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
		}},
		{"toolchain module string", func(tc *Toolchain, b *Build, mods *[]Module) { tc.Module = "" }},
		{"module order", func(tc *Toolchain, b *Build, mods *[]Module) { slices.Reverse(*mods) }},
		{"module dir", func(tc *Toolchain, b *Build, mods *[]Module) { (*mods)[1].Dir = "elsewhere/hello" }},
		{"module local flag", func(tc *Toolchain, b *Build, mods *[]Module) { (*mods)[0].Local = false }},
		{"tag order", func(tc *Toolchain, b *Build, mods *[]Module) { slices.Reverse(b.Tags) }},
		{"duplicate tag", func(tc *Toolchain, b *Build, mods *[]Module) { b.Tags = append(b.Tags, b.Tags[0]) }},
	}

	run := func(m mutation) string {
		fresh := testManifest()
		tc, b, mods := fresh.Toolchain, fresh.Build, fresh.Modules
		m.f(&tc, &b, &mods)
		return ABIKey(tc, b, mods)
	}
	seen := map[string]string{baseKey: "base"}
	for _, m := range changes {
		key := run(m)
		if key == baseKey {
			t.Errorf("%s: ABIKey did not change", m.name)
		} else if prev, dup := seen[key]; dup {
			t.Errorf("%s: ABIKey collides with %s", m.name, prev)
		}
		seen[key] = m.name
	}
	for _, m := range same {
		if key := run(m); key != baseKey {
			t.Errorf("%s: ABIKey changed", m.name)
		}
	}
}

func TestABIKeyNilVersusEmpty(t *testing.T) {
	tc := testManifest().Toolchain
	a := ABIKey(tc, Build{}, nil)
	b := ABIKey(tc, Build{Flags: []string{}, Tags: []string{}, Env: map[string]string{}}, []Module{})
	if a != b {
		t.Errorf("nil and empty inputs give different keys: %s vs %s", a, b)
	}
}

func TestABIKeyDoesNotMutate(t *testing.T) {
	m := testManifest()
	slices.Reverse(m.Modules)
	slices.Reverse(m.Build.Tags)
	mods := slices.Clone(m.Modules)
	tags := slices.Clone(m.Build.Tags)
	ABIKey(m.Toolchain, m.Build, m.Modules)
	if !slices.Equal(m.Modules, mods) || !slices.Equal(m.Build.Tags, tags) {
		t.Errorf("ABIKey reordered its arguments")
	}
}
