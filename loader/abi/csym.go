package abi

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"io"
	"slices"
	"sort"
	"strings"
)

// CSymbol is a symbol a file defines for the dynamic linker outside the Go
// linker's part of it: a C function or variable of cgo code, of a C
// library linked in, or the C side of an //export. Go's own symbols do not
// count: two plugins share Go packages by design, and the package hashes
// guard them.
//
// The dynamic linker binds every use of a symbol through a dynamic
// relocation to the first definition in the process: the host's, or that
// of the plugin loaded first (Go opens plugins with RTLD_GLOBAL). A plugin
// that defines a C symbol an earlier object defines too therefore loads,
// and its own calls reach the earlier object's code.
type CSymbol struct {
	Name    string `json:"name"`
	Section string `json:"section"` // ".text", ".data", ".bss", ...
	Value   uint64 `json:"value"`
	Size    uint64 `json:"size"`
	// Data: a variable, not code.
	Data bool `json:"data,omitempty"`
	// Weak: a weak definition.
	Weak bool `json:"weak,omitempty"`
	// Sum, for an initialized variable, is the start of the sha256 of its
	// bytes, with the words dynamic relocations fill in zeroed; "" for code
	// and zero-initialized variables.
	Sum string `json:"sum,omitempty"`
	// Used: the file itself refers to the symbol through a dynamic
	// relocation, which the dynamic linker binds to the first definition in
	// the process.
	Used bool `json:"used,omitempty"`
}

// cgoAnchorPrefix starts the C wrappers cgo writes for a package's calls
// into C: _cgo_<12 hex digits>_Cfunc_name, the digits a hash of the
// package's import path and the content of its cgo files.
const cgoAnchorPrefix = "_cgo_"

// cgoPrefix returns the 12 hex digits of a cgo wrapper symbol
// (_cgo_3fc950ec24c3_Cfunc_f) or of an export's Go side
// (_cgoexp_3fc950ec24c3_F), and the rest of the name.
func cgoPrefix(name, lead string) (prefix, rest string, ok bool) {
	s, ok := strings.CutPrefix(name, lead)
	if !ok || len(s) < 13 || s[12] != '_' {
		return "", "", false
	}
	for i := 0; i < 12; i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", "", false
		}
	}
	return s[:12], s[13:], true
}

// isGoSymbolName reports a name only the Go toolchain writes: a package
// path and a name, or a linker symbol.
func isGoSymbolName(name string) bool {
	return strings.Contains(name, ".") || strings.HasPrefix(name, "go:") || strings.HasPrefix(name, "type:")
}

// harmlessCSymbol reports a C symbol every cgo object defines alike, or
// whose binding to another object's definition is intended:
//   - the runtime/cgo glue every cgo host and plugin exports (x_cgo_*,
//     _cgo_*, crosscall*, fatalf, ...), the same code for one toolchain, and
//     the runtime/cgo package hash must match for the plugin to load at all;
//   - cgo's wrappers, _cgo_<hash>_Cfunc_f: the hash covers the package path
//     and its cgo files, so the same name is the same code;
//   - symbols the static linker and the C runtime start files define
//     (_start, _init, __bss_start, _end, ...);
//   - C++ vague linkage (weak _Z... symbols: inline functions, template
//     instances, vtables), which the C++ ABI means to be merged.
//
// Found by listing what a cgo plugin and a cgo host built by go1.22 to
// go1.26 export besides Go's symbols.
func harmlessCSymbol(s CSymbol) bool {
	for _, p := range []string{"_cgo_", "x_cgo_", "xx_cgo_", "_cgoexp_", "crosscall", "x_crosscall", "darwin_arm_"} {
		if strings.HasPrefix(s.Name, p) {
			return true
		}
	}
	switch s.Name {
	case "fatalf", "_start", "_init", "_fini", "__bss_start", "_edata", "_end", "__data_start", "data_start",
		"_IO_stdin_used", "__dso_handle", "__libc_csu_init", "__libc_csu_fini", "_DYNAMIC", "_GLOBAL_OFFSET_TABLE_", "__TMC_END__":
		return true
	}
	return s.Weak && strings.HasPrefix(s.Name, "_Z")
}

// exported reports whether a defined C symbol is one a C program uses
// from the file: a global (not weak) function or variable, other than the
// glue every cgo object defines (harmlessCSymbol): what a C host finds with
// dlsym, or a C program's link with the library.
func exported(bind elf.SymBind, typ elf.SymType, name string) bool {
	return bind == elf.STB_GLOBAL && (typ == elf.STT_FUNC || typ == elf.STT_OBJECT) &&
		!isGoSymbolName(name) && !harmlessCSymbol(CSymbol{Name: name})
}

// maxRelocSection bounds the dynamic relocation sections readCSymbols
// reads.
const maxRelocSection = 256 << 20

// readCSymbols lists the C symbols f defines in dyn (its .dynsym), sorted
// by section and address, the C exports of cgo packages (C name -> the
// cgo hash of the package that exports it), and the names a C program can
// use (see File.CExports), sorted.
//
// A symbol is Go's when its name is one only Go writes, or when it lies in
// the Go linker's part of its section: the Go linker hands the external
// linker one object holding all Go code and data, so in every section Go's
// symbols form one range, which the package-qualified names mark out.
func readCSymbols(f *elf.File, dyn []elf.Symbol) ([]CSymbol, map[string]string, []string) {
	type span struct{ lo, hi uint64 }
	goSpan := map[elf.SectionIndex]*span{}
	exports := map[string]string{}
	for _, s := range dyn {
		if s.Section == elf.SHN_UNDEF || s.Section >= elf.SHN_LORESERVE {
			continue
		}
		if prefix, name, ok := cgoPrefix(s.Name, "_cgoexp_"); ok && name != "" {
			exports[name] = prefix
		}
		if !isGoSymbolName(s.Name) {
			continue
		}
		sp := goSpan[s.Section]
		if sp == nil {
			sp = &span{s.Value, s.Value + s.Size}
			goSpan[s.Section] = sp
		}
		sp.lo = min(sp.lo, s.Value)
		sp.hi = max(sp.hi, s.Value+s.Size)
	}
	used, relocated := dynamicRelocations(f, len(dyn))
	var out []CSymbol
	var cExports []string
	for i, s := range dyn {
		bind, typ := elf.ST_BIND(s.Info), elf.ST_TYPE(s.Info)
		if s.Section == elf.SHN_UNDEF || s.Section >= elf.SHN_LORESERVE || int(s.Section) >= len(f.Sections) ||
			(bind != elf.STB_GLOBAL && bind != elf.STB_WEAK) || isGoSymbolName(s.Name) || s.Name == "" {
			continue
		}
		switch typ {
		case elf.STT_FUNC, elf.STT_OBJECT, elf.STT_TLS, elf.STT_NOTYPE, elf.SymType(10): // 10: STT_GNU_IFUNC
		default:
			continue
		}
		if sp := goSpan[s.Section]; sp != nil && s.Value >= sp.lo && s.Value < sp.hi {
			continue
		}
		sec := f.Sections[s.Section]
		c := CSymbol{Name: s.Name, Section: sec.Name, Value: s.Value, Size: s.Size, Weak: bind == elf.STB_WEAK,
			Data: typ == elf.STT_OBJECT || typ == elf.STT_TLS || (typ == elf.STT_NOTYPE && sec.Flags&elf.SHF_EXECINSTR == 0),
			Used: used[i+1]}
		if c.Data && sec.Type != elf.SHT_NOBITS && s.Size > 0 {
			c.Sum = dataSum(f, s, relocated)
		}
		out = append(out, c)
		if exported(bind, typ, s.Name) {
			cExports = append(cExports, s.Name)
		}
	}
	sort.Strings(cExports)
	cExports = slices.Compact(cExports)
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Section != b.Section {
			return a.Section < b.Section
		}
		if a.Value != b.Value {
			return a.Value < b.Value
		}
		return a.Name < b.Name
	})
	return out, exports, cExports
}

// dataSum is the start of the sha256 of a variable's bytes, with the words
// at relocated addresses zeroed; "" when they cannot be read.
func dataSum(f *elf.File, s elf.Symbol, relocated []uint64) string {
	b, err := symbolData(f, s)
	if err != nil {
		return ""
	}
	word := uint64(8)
	if f.Class == elf.ELFCLASS32 {
		word = 4
	}
	for i := sort.Search(len(relocated), func(i int) bool { return relocated[i] >= s.Value }); i < len(relocated) && relocated[i] < s.Value+s.Size; i++ {
		for k := relocated[i] - s.Value; k < relocated[i]-s.Value+word && k < uint64(len(b)); k++ {
			b[k] = 0
		}
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// dynamicRelocations reads the relocation sections that refer to .dynsym:
// which symbols (by .dynsym index, 1-based) the file uses through them,
// and which addresses they fill in, sorted.
func dynamicRelocations(f *elf.File, nsyms int) (used map[int]bool, relocated []uint64) {
	used = map[int]bool{}
	defer func() { sort.Slice(relocated, func(i, j int) bool { return relocated[i] < relocated[j] }) }()
	dynsym := -1
	for i, s := range f.Sections {
		if s.Type == elf.SHT_DYNSYM {
			dynsym = i
		}
	}
	if dynsym < 0 {
		return used, relocated
	}
	for _, s := range f.Sections {
		if (s.Type != elf.SHT_RELA && s.Type != elf.SHT_REL) || int(s.Link) != dynsym || s.Size > maxRelocSection {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(s.Open(), maxRelocSection))
		if err != nil {
			continue
		}
		rela := s.Type == elf.SHT_RELA
		var size int
		switch {
		case f.Class == elf.ELFCLASS64 && rela:
			size = 24
		case f.Class == elf.ELFCLASS64:
			size = 16
		case rela:
			size = 12
		default:
			size = 8
		}
		for off := 0; off+size <= len(data); off += size {
			var addr uint64
			var sym int
			if f.Class == elf.ELFCLASS64 {
				addr = f.ByteOrder.Uint64(data[off:])
				sym = int(f.ByteOrder.Uint64(data[off+8:]) >> 32)
			} else {
				addr = uint64(f.ByteOrder.Uint32(data[off:]))
				sym = int(f.ByteOrder.Uint32(data[off+4:]) >> 8)
			}
			relocated = append(relocated, addr)
			if sym > 0 && sym <= nsyms {
				used[sym] = true
			}
		}
	}
	return used, relocated
}

// cIndex maps a file's C symbol names to their index in CSymbols.
func cIndex(f *File) map[string]int {
	m := make(map[string]int, len(f.CSymbols))
	for i, s := range f.CSymbols {
		if _, dup := m[s.Name]; !dup {
			m[s.Name] = i
		}
	}
	return m
}

// sameCCode reports whether name, defined by both earlier and p, is the
// same code in both, so that p's uses of it reaching earlier's definition
// are harmless: the C side of the same cgo package's //export, or a
// function of the same cgo package (by the wrappers of the package that
// precede it, with every exported C symbol in between alike by name and
// size in both files; a package's C objects lie together, after its
// wrappers), or a variable of the same size and content in two files that
// share a cgo package's C code.
//
// It cannot tell apart a function that sits, in both files, right after
// the C code of a cgo package they share and has the same name and size in
// both, but other code.
func sameCCode(earlier, p *File, ei, pi map[string]int, name string) bool {
	if pe, ok := earlier.CgoExports[name]; ok && pe == p.CgoExports[name] {
		return true
	}
	i, j := ei[name], pi[name]
	a, b := earlier.CSymbols[i], p.CSymbols[j]
	if a.Size != b.Size || a.Data != b.Data {
		return false
	}
	if a.Data {
		return a.Sum == b.Sum && shareCgoCode(earlier, p, pi)
	}
	for i > 0 && j > 0 {
		i, j = i-1, j-1
		x, y := earlier.CSymbols[i], p.CSymbols[j]
		if x.Section != a.Section || y.Section != b.Section || x.Name != y.Name || x.Size != y.Size {
			return false
		}
		if _, _, ok := cgoPrefix(x.Name, cgoAnchorPrefix); ok {
			return true
		}
	}
	return false
}

// shareCgoCode reports whether the two files hold a cgo wrapper of the same
// name: the C code of one cgo package with the same cgo files.
func shareCgoCode(a, b *File, bi map[string]int) bool {
	for _, s := range a.CSymbols {
		if _, _, ok := cgoPrefix(s.Name, cgoAnchorPrefix); ok {
			if _, both := bi[s.Name]; both {
				return true
			}
		}
	}
	return false
}
