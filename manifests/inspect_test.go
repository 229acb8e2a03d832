package manifests

import (
	"bytes"
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

	plug, err := InspectFile(pluginFile)
	if err != nil {
		t.Fatalf("InspectFile(plugin): %v", err)
	}
	stripped, err := InspectFile(strippedFile)
	if err != nil {
		t.Fatalf("InspectFile(stripped plugin): %v", err)
	}
	host, err := InspectFile(hostFile)
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
	if err := os.WriteFile(noGo, buildTestELF(t, elf.ELFCLASS64, binary.LittleEndian, elf.EM_X86_64, elf.SHT_DYNSYM, nil, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.so")
	if err := os.WriteFile(truncated, []byte("\x7fELF\x02\x01\x01"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{text, empty, noGo, truncated} {
		_, err := InspectFile(path)
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
	}

	_, err := InspectFile(filepath.Join(dir, "missing"))
	var ngb *NotGoBinaryError
	if err == nil || errors.As(err, &ngb) || !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "inspect ") {
		t.Errorf("InspectFile(missing) err = %v, want a wrapped not-exist error", err)
	}
}

type testSym struct {
	name    string
	section elf.SectionIndex
	value   uint64
	size    uint64
}

// Section layout of buildTestELF's output.
const (
	testRodataIndex = 1
	testRodataAddr  = 0x1000
	testBSSIndex    = 2
	testBSSAddr     = 0x2000
)

// buildTestELF writes a minimal ELF shared object: .rodata (holding rodata at
// testRodataAddr), .bss, a string table and a symbol table of type symType
// (SHT_DYNSYM or SHT_SYMTAB) holding syms, and .shstrtab.
func buildTestELF(t *testing.T, class elf.Class, order binary.ByteOrder, machine elf.Machine, symType elf.SectionType, rodata []byte, syms []testSym) []byte {
	t.Helper()
	is64 := class == elf.ELFCLASS64
	addString := func(tab *[]byte, s string) uint32 {
		off := len(*tab)
		*tab = append(append(*tab, s...), 0)
		return uint32(off)
	}
	strtab, shstrtab := []byte{0}, []byte{0}
	var symtab bytes.Buffer
	write := func(w *bytes.Buffer, v any) {
		if err := binary.Write(w, order, v); err != nil {
			t.Fatal(err)
		}
	}
	info := elf.ST_INFO(elf.STB_GLOBAL, elf.STT_OBJECT)
	for i, s := range append([]testSym{{}}, syms...) {
		var name uint32
		inf := info
		if i > 0 {
			name = addString(&strtab, s.name)
		} else {
			inf = 0
		}
		if is64 {
			write(&symtab, elf.Sym64{Name: name, Info: inf, Shndx: uint16(s.section), Value: s.value, Size: s.size})
		} else {
			write(&symtab, elf.Sym32{Name: name, Value: uint32(s.value), Size: uint32(s.size), Info: inf, Shndx: uint16(s.section)})
		}
	}
	symName, strName, symEnt := ".dynsym", ".dynstr", uint64(elf.Sym32Size)
	if symType == elf.SHT_SYMTAB {
		symName, strName = ".symtab", ".strtab"
	}
	if is64 {
		symEnt = elf.Sym64Size
	}

	type section struct {
		name       string
		typ        elf.SectionType
		flags      elf.SectionFlag
		addr, size uint64
		link, info uint32
		entsize    uint64
		data       []byte
		offset     uint64
		nameOffset uint32
	}
	secs := []section{
		{},
		{name: ".rodata", typ: elf.SHT_PROGBITS, flags: elf.SHF_ALLOC, addr: testRodataAddr, data: rodata},
		{name: ".bss", typ: elf.SHT_NOBITS, flags: elf.SHF_ALLOC | elf.SHF_WRITE, addr: testBSSAddr, size: 0x100},
		{name: strName, typ: elf.SHT_STRTAB, data: strtab},
		{name: symName, typ: symType, link: 3, info: 1, entsize: symEnt, data: symtab.Bytes()},
		{name: ".shstrtab", typ: elf.SHT_STRTAB},
	}
	for i := 1; i < len(secs); i++ {
		secs[i].nameOffset = addString(&shstrtab, secs[i].name)
	}
	secs[5].data = shstrtab

	hdrSize := 52
	if is64 {
		hdrSize = 64
	}
	var body bytes.Buffer
	body.Write(make([]byte, hdrSize))
	align := func() {
		for body.Len()%8 != 0 {
			body.WriteByte(0)
		}
	}
	for i := 1; i < len(secs); i++ {
		align()
		secs[i].offset = uint64(body.Len())
		if secs[i].typ != elf.SHT_NOBITS {
			secs[i].size = uint64(len(secs[i].data))
			body.Write(secs[i].data)
		}
	}
	align()
	shoff := body.Len()
	for _, s := range secs {
		if is64 {
			write(&body, elf.Section64{Name: s.nameOffset, Type: uint32(s.typ), Flags: uint64(s.flags), Addr: s.addr, Off: s.offset,
				Size: s.size, Link: s.link, Info: s.info, Addralign: 8, Entsize: s.entsize})
		} else {
			write(&body, elf.Section32{Name: s.nameOffset, Type: uint32(s.typ), Flags: uint32(s.flags), Addr: uint32(s.addr), Off: uint32(s.offset),
				Size: uint32(s.size), Link: s.link, Info: s.info, Addralign: 8, Entsize: uint32(s.entsize)})
		}
	}

	data := elf.ELFDATA2LSB
	if order == binary.BigEndian {
		data = elf.ELFDATA2MSB
	}
	var ident [elf.EI_NIDENT]byte
	copy(ident[:], elf.ELFMAG)
	ident[elf.EI_CLASS] = byte(class)
	ident[elf.EI_DATA] = byte(data)
	ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var hdr bytes.Buffer
	if is64 {
		write(&hdr, elf.Header64{Ident: ident, Type: uint16(elf.ET_DYN), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT),
			Shoff: uint64(shoff), Ehsize: uint16(hdrSize), Shentsize: 64, Shnum: uint16(len(secs)), Shstrndx: 5})
	} else {
		write(&hdr, elf.Header32{Ident: ident, Type: uint16(elf.ET_DYN), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT),
			Shoff: uint32(shoff), Ehsize: uint16(hdrSize), Shentsize: 40, Shnum: uint16(len(secs)), Shstrndx: 5})
	}
	out := body.Bytes()
	copy(out, hdr.Bytes())
	return out
}

func parseTestELF(t *testing.T, data []byte) *elf.File {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parsing synthetic ELF: %v", err)
	}
	return f
}

func TestPackageHashesSynthetic(t *testing.T) {
	rodata := []byte{
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, // fmt
		0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10, // example.com/p
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // a pkghash string header (ignored)
	}
	syms := []testSym{
		{"go:link.pkghashbytes.fmt", testRodataIndex, testRodataAddr, 8},
		{"go:link.pkghashbytes.example.com/p", testRodataIndex, testRodataAddr + 8, 8},
		{"go:link.pkghash.fmt", testRodataIndex, testRodataAddr + 16, 16},
		{"go:link.pkghashbytes.undefined/elsewhere", elf.SHN_UNDEF, 0, 8},
		{"main.unrelated", testRodataIndex, testRodataAddr, 4},
	}
	want := map[string]string{"fmt": "0123456789abcdef", "example.com/p": "fedcba9876543210"}

	for _, tc := range []struct {
		name    string
		class   elf.Class
		order   binary.ByteOrder
		machine elf.Machine
		symType elf.SectionType
	}{
		{"elf32 big-endian mips dynsym", elf.ELFCLASS32, binary.BigEndian, elf.EM_MIPS, elf.SHT_DYNSYM},
		{"elf32 little-endian arm dynsym", elf.ELFCLASS32, binary.LittleEndian, elf.EM_ARM, elf.SHT_DYNSYM},
		{"elf64 big-endian s390x dynsym", elf.ELFCLASS64, binary.BigEndian, elf.EM_S390, elf.SHT_DYNSYM},
		{"elf64 little-endian arm64 symtab only", elf.ELFCLASS64, binary.LittleEndian, elf.EM_AARCH64, elf.SHT_SYMTAB},
		{"elf32 big-endian ppc symtab only", elf.ELFCLASS32, binary.BigEndian, elf.EM_PPC, elf.SHT_SYMTAB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := parseTestELF(t, buildTestELF(t, tc.class, tc.order, tc.machine, tc.symType, rodata, syms))
			got, err := PackageHashes(f)
			if err != nil {
				t.Fatal(err)
			}
			if !mapsEqual(got, want) {
				t.Errorf("PackageHashes = %v, want %v", got, want)
			}
		})
	}
}

func TestPackageHashesNone(t *testing.T) {
	for _, symType := range []elf.SectionType{elf.SHT_DYNSYM, elf.SHT_SYMTAB} {
		f := parseTestELF(t, buildTestELF(t, elf.ELFCLASS64, binary.LittleEndian, elf.EM_X86_64, symType, []byte{1, 2, 3, 4},
			[]testSym{{"main.x", testRodataIndex, testRodataAddr, 4}}))
		got, err := PackageHashes(f)
		if err != nil {
			t.Fatalf("%v: %v", symType, err)
		}
		if got == nil || len(got) != 0 {
			t.Errorf("%v: PackageHashes = %#v, want an empty non-nil map", symType, got)
		}
	}
}

func TestPackageHashesBadSymbols(t *testing.T) {
	rodata := make([]byte, 16)
	for _, tc := range []struct {
		name    string
		sym     testSym
		wantErr string
	}{
		{"nobits", testSym{"go:link.pkghashbytes.fmt", testBSSIndex, testBSSAddr, 8}, "no file contents"},
		{"beyond section", testSym{"go:link.pkghashbytes.fmt", testRodataIndex, testRodataAddr + 12, 8}, "beyond section"},
		{"below section", testSym{"go:link.pkghashbytes.fmt", testRodataIndex, testRodataAddr - 8, 8}, "outside section"},
		{"bad section index", testSym{"go:link.pkghashbytes.fmt", 40, testRodataAddr, 8}, "out of range"},
		{"absolute", testSym{"go:link.pkghashbytes.fmt", elf.SHN_ABS, 0x1234, 8}, "not in a section"},
		{"wrong size", testSym{"go:link.pkghashbytes.fmt", testRodataIndex, testRodataAddr, 16}, "size 16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := parseTestELF(t, buildTestELF(t, elf.ELFCLASS64, binary.LittleEndian, elf.EM_X86_64, elf.SHT_DYNSYM, rodata, []testSym{tc.sym}))
			_, err := PackageHashes(f)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestThisPluginPathSynthetic(t *testing.T) {
	const pp = "example.com/app/plugins/hello"
	rodata := []byte("xx" + pp + "yy")
	f := parseTestELF(t, buildTestELF(t, elf.ELFCLASS32, binary.BigEndian, elf.EM_MIPS, elf.SHT_SYMTAB, rodata,
		[]testSym{{thisPluginPathSym, testRodataIndex, testRodataAddr + 2, uint64(len(pp))}}))
	got, err := thisPluginPath(f)
	if err != nil || got != pp {
		t.Errorf("thisPluginPath = %q, %v; want %q", got, err, pp)
	}
}
