package abi

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

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
func buildTestELF(t testing.TB, class elf.Class, order binary.ByteOrder, machine elf.Machine, symType elf.SectionType, rodata []byte, syms []testSym) []byte {
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
			if !maps.Equal(got, want) {
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

func TestPackageHashesDuplicates(t *testing.T) {
	rodata := []byte{
		1, 1, 1, 1, 1, 1, 1, 1,
		1, 1, 1, 1, 1, 1, 1, 1,
		2, 2, 2, 2, 2, 2, 2, 2,
	}
	same := []testSym{
		{"go:link.pkghashbytes.fmt", testRodataIndex, testRodataAddr, 8},
		{"go:link.pkghashbytes.fmt", testRodataIndex, testRodataAddr + 8, 8},
	}
	f := parseTestELF(t, buildTestELF(t, elf.ELFCLASS64, binary.LittleEndian, elf.EM_X86_64, elf.SHT_DYNSYM, rodata, same))
	got, err := PackageHashes(f)
	if want := map[string]string{"fmt": "0101010101010101"}; err != nil || !maps.Equal(got, want) {
		t.Errorf("equal duplicates: PackageHashes = %v, %v; want %v", got, err, want)
	}

	conflicting := append(same, testSym{"go:link.pkghashbytes.fmt", testRodataIndex, testRodataAddr + 16, 8})
	f = parseTestELF(t, buildTestELF(t, elf.ELFCLASS64, binary.LittleEndian, elf.EM_X86_64, elf.SHT_DYNSYM, rodata, conflicting))
	if _, err := PackageHashes(f); err == nil || !strings.Contains(err.Error(), "conflicting values 0101010101010101 and 0202020202020202") {
		t.Errorf("conflicting duplicates: err = %v", err)
	}
}

func TestPackageHashesEmptyImportPath(t *testing.T) {
	f := parseTestELF(t, buildTestELF(t, elf.ELFCLASS64, binary.LittleEndian, elf.EM_X86_64, elf.SHT_DYNSYM, make([]byte, 8),
		[]testSym{{"go:link.pkghashbytes.", testRodataIndex, testRodataAddr, 8}}))
	if _, err := PackageHashes(f); err == nil || !strings.Contains(err.Error(), "empty import path") {
		t.Errorf("err = %v, want one about an empty import path", err)
	}
}

func TestThisPluginPathBad(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sym     testSym
		wantErr string
	}{
		{"too large", testSym{thisPluginPathSym, testRodataIndex, testRodataAddr, maxSymbolRead + 1}, "too large"},
		{"nobits", testSym{thisPluginPathSym, testBSSIndex, testBSSAddr, 8}, "no file contents"},
		{"beyond section", testSym{thisPluginPathSym, testRodataIndex, testRodataAddr, 64}, "beyond section"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := parseTestELF(t, buildTestELF(t, elf.ELFCLASS64, binary.LittleEndian, elf.EM_X86_64, elf.SHT_SYMTAB, make([]byte, 16), []testSym{tc.sym}))
			if got, err := thisPluginPath(f); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("thisPluginPath = %q, %v; want an error containing %q", got, err, tc.wantErr)
			}
		})
	}
	// No symbol table at all is no plugin path, not an error.
	f := parseTestELF(t, buildTestELF(t, elf.ELFCLASS64, binary.LittleEndian, elf.EM_X86_64, elf.SHT_DYNSYM, nil, nil))
	if got, err := thisPluginPath(f); got != "" || err != nil {
		t.Errorf("without .symtab: thisPluginPath = %q, %v", got, err)
	}
}

func TestReadNotGoBinary(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rodata := make([]byte, 8)
	for _, tc := range []struct {
		path string
		want error
	}{
		{write("notes.txt", []byte("just some text\n")), ErrNotELF},
		{write("empty", nil), ErrNotELF},
		{write("truncated.so", []byte("\x7fELF\x02\x01\x01")), ErrNotELF},
		// Well-formed ELF files without Go build info, one with a package
		// hash: the build info is what makes a Go binary.
		{write("nogo.so", buildTestELF(t, elf.ELFCLASS64, binary.LittleEndian, elf.EM_X86_64, elf.SHT_DYNSYM, nil, nil)), ErrNoBuildInfo},
		{write("nogo-hash.so", buildTestELF(t, elf.ELFCLASS32, binary.BigEndian, elf.EM_MIPS, elf.SHT_DYNSYM, rodata,
			[]testSym{{"go:link.pkghashbytes.fmt", testRodataIndex, testRodataAddr, 8}})), ErrNoBuildInfo},
	} {
		_, err := ReadFile(tc.path)
		var re *ReadError
		if !errors.As(err, &re) || re.Path != tc.path || !errors.Is(err, tc.want) {
			t.Errorf("ReadFile(%s) = %v (%T), want a *ReadError wrapping %v", filepath.Base(tc.path), err, err, tc.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), "read "+tc.path+": "+tc.want.Error()+": ") {
			t.Errorf("ReadFile(%s) error %q", filepath.Base(tc.path), err)
		}
	}

	_, err := ReadFile(filepath.Join(dir, "missing"))
	var re *ReadError
	if !errors.As(err, &re) || !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrNotELF) || errors.Is(err, ErrNoBuildInfo) {
		t.Errorf("ReadFile(missing) = %v, want a *ReadError wrapping only a not-exist error", err)
	}
}

// TestReadSelf reads the running test binary: a Go ELF executable that does
// not link package plugin.
func TestReadSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the test binary is not ELF")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	f, err := ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if f.GoVersion != runtime.Version() {
		t.Errorf("GoVersion = %q, want %q", f.GoVersion, runtime.Version())
	}
	if f.MainModule != "github.com/pbuild/pbuild/loader" || !strings.HasPrefix(f.MainPath, "github.com/pbuild/pbuild/loader/abi") {
		t.Errorf("MainModule/MainPath = %q/%q", f.MainModule, f.MainPath)
	}
	if f.Plugin || f.PluginPath != "" {
		t.Errorf("Plugin/PluginPath = %v/%q for an executable", f.Plugin, f.PluginPath)
	}
	if f.Packages == nil || f.Deps == nil || f.DepVersions == nil || f.Settings == nil {
		t.Errorf("nil maps: Packages %v, Deps %v, DepVersions %v, Settings %v", f.Packages, f.Deps, f.DepVersions, f.Settings)
	}
	if f.Settings["GOOS"] != runtime.GOOS || f.Settings["GOARCH"] != runtime.GOARCH {
		t.Errorf("Settings = %v", f.Settings)
	}
	if f.Class == elf.ELFCLASSNONE || f.Machine == elf.EM_NONE {
		t.Errorf("Class/Machine = %v/%v", f.Class, f.Machine)
	}
}

// sizeless hides the Size method of a *bytes.Reader.
type sizeless struct{ r *bytes.Reader }

func (s sizeless) ReadAt(p []byte, off int64) (int, error) { return s.r.ReadAt(p, off) }

func TestReaderSize(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 4095, 4096, 4097, 1 << 20} {
		data := make([]byte, n)
		for _, r := range []interface {
			ReadAt([]byte, int64) (int, error)
		}{bytes.NewReader(data), sizeless{bytes.NewReader(data)}} {
			if got, err := readerSize(r); err != nil || got != int64(n) {
				t.Errorf("readerSize(%T of %d bytes) = %d, %v", r, n, got, err)
			}
		}
	}
}
