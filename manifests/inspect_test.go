package manifests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pbuild/pbuild/loader/abi"
)

var hex16 = regexp.MustCompile(`^[0-9a-f]{16}$`)

// goBuild runs go build in dir with a hermetic-ish environment and returns
// the output file's path.
func goBuild(t *testing.T, dir, out string, args ...string) string {
	t.Helper()
	out = filepath.Join(t.TempDir(), out)
	cmd := exec.Command("go", append(append([]string{"build", "-o", out}, args...), ".")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GOFLAGS=-mod=mod -buildvcs=false",
		"GOWORK=off",
		"GOTOOLCHAIN=local",
		"CGO_ENABLED=1",
	)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	return out
}

func writeModule(t *testing.T, modPath, src string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module "+modPath+"\n\ngo 1.24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestInspectFile(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go not on PATH")
	}
	const pluginMod = "example.com/pbuildtest/hello"
	pluginDir := writeModule(t, pluginMod, `package main

import "fmt"

func Hello() string { return fmt.Sprint("hello") }

func main() {}
`)
	hostDir := writeModule(t, "example.com/pbuildtest/host", `package main

import (
	"fmt"
	"os"
	"plugin"
)

func main() {
	p, err := plugin.Open(os.Args[1])
	fmt.Println(p, err)
}
`)
	pluginFile := goBuild(t, pluginDir, "hello.so", "-buildmode=plugin", "-trimpath")
	strippedFile := goBuild(t, pluginDir, "hello-stripped.so", "-buildmode=plugin", "-trimpath", "-ldflags=-s -w")
	hostFile := goBuild(t, hostDir, "host", "-trimpath")

	plug, err := InspectFile(context.Background(), pluginFile)
	if err != nil {
		t.Fatalf("InspectFile(plugin): %v", err)
	}
	stripped, err := InspectFile(context.Background(), strippedFile)
	if err != nil {
		t.Fatalf("InspectFile(stripped plugin): %v", err)
	}
	host, err := InspectFile(context.Background(), hostFile)
	if err != nil {
		t.Fatalf("InspectFile(host): %v", err)
	}

	// The stripped file really has no .symtab, so PluginPath comes from the
	// build info there.
	ef, err := elf.Open(strippedFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ef.Symbols(); !errors.Is(err, elf.ErrNoSymbols) {
		t.Errorf("stripped plugin still has a symbol table (err = %v)", err)
	}
	ef.Close()

	for _, c := range []struct {
		name string
		path string
		a    Artifact
	}{{"plugin", pluginFile, plug}, {"stripped", strippedFile, stripped}, {"host", hostFile, host}} {
		data, err := os.ReadFile(c.path)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if c.a.Size != int64(len(data)) || c.a.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: size/sha256 = %d/%s, want %d/%x", c.name, c.a.Size, c.a.SHA256, len(data), sum)
		}
		if c.a.Name != "" || c.a.Kind != "" || c.a.File != "" {
			t.Errorf("%s: Name/Kind/File set: %q %q %q", c.name, c.a.Name, c.a.Kind, c.a.File)
		}
		for _, pkg := range []string{"runtime", "fmt"} {
			if h := c.a.Packages[pkg]; !hex16.MatchString(h) {
				t.Errorf("%s: Packages[%q] = %q, want 16 hex digits", c.name, pkg, h)
			}
		}
		for pkg, h := range c.a.Packages {
			if !hex16.MatchString(h) {
				t.Errorf("%s: Packages[%q] = %q", c.name, pkg, h)
			}
		}
		if !strings.HasPrefix(c.a.BuildInfo.GoVersion, "go") {
			t.Errorf("%s: GoVersion = %q", c.name, c.a.BuildInfo.GoVersion)
		}
		if c.a.BuildInfo.Settings["-trimpath"] != "true" {
			t.Errorf("%s: Settings[-trimpath] = %q", c.name, c.a.BuildInfo.Settings["-trimpath"])
		}
		if c.a.BuildInfo.Deps == nil {
			t.Errorf("%s: Deps is nil", c.name)
		}
	}

	if !mapsEqual(plug.Packages, stripped.Packages) {
		t.Errorf("stripped plugin's packages differ:\n%v\n%v", plug.Packages, stripped.Packages)
	}
	// Same toolchain and flags: the packages both sides share hash alike,
	// which is what plugin.Open checks.
	for _, pkg := range []string{"runtime", "fmt"} {
		if plug.Packages[pkg] != host.Packages[pkg] {
			t.Errorf("Packages[%q]: plugin %s, host %s", pkg, plug.Packages[pkg], host.Packages[pkg])
		}
	}
	if _, ok := host.Packages["plugin"]; !ok {
		t.Errorf("host Packages lacks \"plugin\": %v", host.Packages)
	}

	if plug.PluginPath != pluginMod {
		t.Errorf("plugin PluginPath = %q, want %q", plug.PluginPath, pluginMod)
	}
	if stripped.PluginPath != plug.PluginPath {
		t.Errorf("stripped PluginPath = %q, want %q", stripped.PluginPath, plug.PluginPath)
	}
	if host.PluginPath != "" {
		t.Errorf("host PluginPath = %q, want empty", host.PluginPath)
	}

	if got := plug.BuildInfo.Settings["-buildmode"]; got != "plugin" {
		t.Errorf("plugin Settings[-buildmode] = %q", got)
	}
	if got := host.BuildInfo.Settings["-buildmode"]; got != "exe" {
		t.Errorf("host Settings[-buildmode] = %q", got)
	}
	// (go build leaves -ldflags out of the build info under -trimpath, so
	// the stripped plugin's settings do not show it.)
	if plug.BuildInfo.Path != pluginMod || plug.BuildInfo.Main != pluginMod {
		t.Errorf("plugin Path/Main = %q/%q, want %q", plug.BuildInfo.Path, plug.BuildInfo.Main, pluginMod)
	}
	if plug.BuildInfo.Settings["GOOS"] == "" || plug.BuildInfo.Settings["GOARCH"] == "" {
		t.Errorf("plugin settings lack GOOS/GOARCH: %v", plug.BuildInfo.Settings)
	}

	// An inspected artifact fits into a manifest that round-trips.
	plug.Name, plug.Kind, plug.File = "hello", KindPlugin, "plugins/hello.so"
	host.Name, host.Kind, host.File = "host", KindHost, "host"
	m := testManifest()
	m.Artifacts = []Artifact{plug, host}
	var buf bytes.Buffer
	if err := Write(&buf, m); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(&buf); err != nil {
		t.Fatalf("Read of a manifest with inspected artifacts: %v", err)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestInspectFileNotGoBinary(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("just some text\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A well-formed ELF file without Go build info.
	noGo := filepath.Join(dir, "nogo.so")
	if err := os.WriteFile(noGo, headerOnlyELF(t), 0o644); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.so")
	if err := os.WriteFile(truncated, []byte("\x7fELF\x02\x01\x01"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{text, empty, noGo, truncated} {
		_, err := InspectFile(context.Background(), path)
		var ngb *NotGoBinaryError
		if !errors.As(err, &ngb) {
			t.Errorf("InspectFile(%s) err = %v (%T), want *NotGoBinaryError", filepath.Base(path), err, err)
			continue
		}
		if ngb.Path != path || ngb.Err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("InspectFile(%s): error %q, Path %q, Err %v", filepath.Base(path), err, ngb.Path, ngb.Err)
		}
		if errors.Unwrap(err) != ngb.Err {
			t.Errorf("Unwrap does not return Err")
		}
		var re *abi.ReadError
		if !errors.As(ngb.Err, &re) || re.Path != path {
			t.Errorf("InspectFile(%s): Err = %v (%T), want an *abi.ReadError for the file", filepath.Base(path), ngb.Err, ngb.Err)
		}
		if strings.Count(err.Error(), path) != 1 {
			t.Errorf("InspectFile(%s): error %q does not name the file once", filepath.Base(path), err)
		}
	}

	_, err := InspectFile(context.Background(), filepath.Join(dir, "missing"))
	var ngb *NotGoBinaryError
	if err == nil || errors.As(err, &ngb) || !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "inspect ") {
		t.Errorf("InspectFile(missing) err = %v, want a wrapped not-exist error", err)
	}
}

// headerOnlyELF is a well-formed ELF file with no sections, so no Go build
// info. (The synthetic ELF files of package abi's tests exercise the symbol
// reading.)
func headerOnlyELF(t *testing.T) []byte {
	t.Helper()
	var ident [elf.EI_NIDENT]byte
	copy(ident[:], elf.ELFMAG)
	ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, elf.Header64{Ident: ident, Type: uint16(elf.ET_DYN), Machine: uint16(elf.EM_X86_64),
		Version: uint32(elf.EV_CURRENT), Ehsize: 64}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
