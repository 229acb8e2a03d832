package abi

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// CorruptError is damage in a structure of an ELF shared object that the
// dynamic linker (glibc's ld.so) trusts when it maps and relocates the
// file: the ELF header, the program headers, the dynamic section, the
// string, symbol and hash tables, the relocations, the version tables and
// the init and fini arrays. Such damage can make dlopen fault (SIGSEGV,
// SIGBUS), abort, loop or write anywhere in the process instead of failing.
//
// Its absence proves nothing about the code and data the file carries:
// only a manifest's sha256 or a signed bundle proves a plugin intact.
type CorruptError struct {
	// Structure names what is damaged: "ELF header", "program header 3
	// (PT_LOAD)", "dynamic entry 7 (DT_STRTAB)", "relocation 12 of DT_RELA".
	Structure string
	// Offset is the file offset of the damaged field, -1 when the field
	// has no place in the file (an address no segment maps).
	Offset int64
	// Detail says what is wrong.
	Detail string
}

func (e *CorruptError) Error() string {
	if e.Offset < 0 {
		return fmt.Sprintf("%s: %s", e.Structure, e.Detail)
	}
	return fmt.Sprintf("%s at offset %#x: %s", e.Structure, e.Offset, e.Detail)
}

// Dynamic tags debug/elf does not name in every Go release this module
// supports, and DT_FLAGS_1 values.
const (
	dtRELRSZ  elf.DynTag = 35
	dtRELR    elf.DynTag = 36
	dtRELRENT elf.DynTag = 37

	df1NOOPEN = 0x40
)

// maxStructure bounds what the validation reads of one structure, so that
// a damaged size cannot make it allocate without bound.
const maxStructure = 1 << 30

// minPageSize is the smallest page size of the platforms Go builds plugins
// for: segments the dynamic linker maps must not share one of its pages.
const minPageSize = 4096

// segment is a PT_LOAD program header.
type segment struct {
	index                     int
	off, vaddr, filesz, memsz uint64
	align                     uint64
	flags                     elf.ProgFlag
	hdrOff                    int64
}

func (s *segment) end() uint64     { return s.vaddr + s.memsz }
func (s *segment) fileEnd() uint64 { return s.vaddr + s.filesz }

// elfImage is the file as the dynamic linker will see it.
type elfImage struct {
	r        io.ReaderAt
	goPlugin bool
	// The section header table, which the dynamic linker ignores.
	shoff, shnum, shstrndx uint64
	size                   uint64
	bo                     binary.ByteOrder
	is64                   bool
	word                   uint64 // size of an address
	machine                elf.Machine
	loads                  []*segment
	tls                    *segment // PT_TLS, if any
	min                    uint64   // lowest mapped address
	max                    uint64   // end of the highest segment

	dynOff  uint64                  // file offset of the dynamic section
	dyn     map[elf.DynTag]dynEntry // last entry of each tag, as ld.so keeps it
	strings []dynEntry              // entries whose value is a string offset
	strsz   uint64
	strtab  []byte
	nsyms   uint64
	symOff  uint64 // file offset of the symbol table
	symtab  []byte // the nsyms dynamic symbols
	maxVer  uint64 // highest version index defined (verneed, verdef)
	arrays  []initArray
	// relocated holds every address a relocation writes.
	relocated map[uint64]struct{}
}

type dynEntry struct {
	index int
	tag   elf.DynTag
	val   uint64
	off   uint64 // file offset of the entry
}

// initArray is DT_INIT_ARRAY or DT_FINI_ARRAY: each word, once relocated,
// is a function the dynamic linker calls.
type initArray struct {
	tag    elf.DynTag
	addr   uint64
	off    uint64 // file offset
	n      uint64
	target []uint64 // final value of each entry; known[i] says whether it is known
	known  []bool
	set    []bool // a relocation or the file gives entry i its value
}

func corrupt(structure string, off int64, format string, args ...any) *CorruptError {
	return &CorruptError{Structure: structure, Offset: off, Detail: fmt.Sprintf(format, args...)}
}

// validateELF checks the structures the dynamic linker trusts when it maps
// and relocates the ELF shared object r of size bytes. It returns nil or a
// *CorruptError naming the structure and its offset. It reads what it
// checks with r and allocates at most what one structure holds.
//
// goPlugin adds what holds for every Go plugin but not for every shared
// object: an init array (the runtime's module registration), no text
// relocations, no symbolic binding, no addend beyond an empty symbol.
func validateELF(r io.ReaderAt, size int64, goPlugin bool) error {
	m := &elfImage{r: r, size: uint64(size), goPlugin: goPlugin}
	steps := []func() error{
		m.header,
		m.stringTable,
		m.hashTables,
		m.symbols,
		m.versions,
		m.relocations,
		m.functions,
		m.sections,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// read returns n bytes at file offset off.
func (m *elfImage) read(off, n uint64, what string) ([]byte, error) {
	if n > maxStructure {
		return nil, corrupt(what, int64(off), "%d bytes, more than this reader accepts", n)
	}
	if off > m.size || n > m.size-off {
		return nil, corrupt(what, int64(off), "%d bytes at %#x extend past the end of the file (%d bytes)", n, off, m.size)
	}
	buf := make([]byte, n)
	if k, err := m.r.ReadAt(buf, int64(off)); uint64(k) < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, corrupt(what, int64(off), "read: %v", err)
	}
	return buf, nil
}

func (m *elfImage) u16(b []byte) uint64 { return uint64(m.bo.Uint16(b)) }
func (m *elfImage) u32(b []byte) uint64 { return uint64(m.bo.Uint32(b)) }
func (m *elfImage) u64(b []byte) uint64 { return m.bo.Uint64(b) }

// addr reads an address-sized word.
func (m *elfImage) addr(b []byte) uint64 {
	if m.is64 {
		return m.bo.Uint64(b)
	}
	return uint64(m.bo.Uint32(b))
}

// fileRange finds the LOAD segment whose file contents hold the n bytes at
// address a, and their file offset.
func (m *elfImage) fileRange(a, n uint64) (*segment, uint64, bool) {
	for _, s := range m.loads {
		if a >= s.vaddr && a <= s.fileEnd() && n <= s.fileEnd()-a {
			return s, s.off + (a - s.vaddr), true
		}
	}
	return nil, 0, false
}

// memRange finds the LOAD segment whose memory holds the n bytes at a.
func (m *elfImage) memRange(a, n uint64) *segment {
	for _, s := range m.loads {
		if a >= s.vaddr && a <= s.end() && n <= s.end()-a {
			return s
		}
	}
	return nil
}

// readAddr reads the n bytes at address a, which a LOAD segment must map
// from the file.
func (m *elfImage) readAddr(a, n uint64, what string, fieldOff int64) ([]byte, uint64, error) {
	if n > maxStructure {
		return nil, 0, corrupt(what, fieldOff, "%d bytes, more than this reader accepts", n)
	}
	_, off, ok := m.fileRange(a, n)
	if !ok {
		return nil, 0, corrupt(what, fieldOff, "%d bytes at address %#x are not in the file contents of a PT_LOAD segment", n, a)
	}
	b, err := m.read(off, n, what)
	return b, off, err
}

// header checks the ELF header and the program headers.
func (m *elfImage) header() error {
	const what = "ELF header"
	ident, err := m.read(0, elf.EI_NIDENT, what)
	if err != nil {
		return err
	}
	if string(ident[:4]) != elf.ELFMAG {
		return corrupt(what, 0, "bad magic number %q", ident[:4])
	}
	switch elf.Class(ident[elf.EI_CLASS]) {
	case elf.ELFCLASS32:
		m.word = 4
	case elf.ELFCLASS64:
		m.is64, m.word = true, 8
	default:
		return corrupt(what, elf.EI_CLASS, "unknown class %d", ident[elf.EI_CLASS])
	}
	switch elf.Data(ident[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
		m.bo = binary.LittleEndian
	case elf.ELFDATA2MSB:
		m.bo = binary.BigEndian
	default:
		return corrupt(what, elf.EI_DATA, "unknown data encoding %d", ident[elf.EI_DATA])
	}
	if v := elf.Version(ident[elf.EI_VERSION]); v != elf.EV_CURRENT {
		return corrupt(what, elf.EI_VERSION, "ident version %d, want %d", v, elf.EV_CURRENT)
	}
	ehsize, phentsize, shentsize := uint64(52), uint64(32), uint64(40)
	if m.is64 {
		ehsize, phentsize, shentsize = 64, 56, 64
	}
	h, err := m.read(0, ehsize, what)
	if err != nil {
		return err
	}
	// Offsets of the fields after e_entry differ between the classes.
	var phoff, shoff, phoffAt, shoffAt, flagsAt uint64
	if m.is64 {
		phoffAt, shoffAt, flagsAt = 32, 40, 48
		phoff, shoff = m.u64(h[phoffAt:]), m.u64(h[shoffAt:])
	} else {
		phoffAt, shoffAt, flagsAt = 28, 32, 36
		phoff, shoff = m.u32(h[phoffAt:]), m.u32(h[shoffAt:])
	}
	typ := elf.Type(m.u16(h[16:]))
	m.machine = elf.Machine(m.u16(h[18:]))
	version := m.u32(h[20:])
	f := h[flagsAt+4:]
	hsize, phent, phnum, shent, shnum, shstrndx := m.u16(f), m.u16(f[2:]), m.u16(f[4:]), m.u16(f[6:]), m.u16(f[8:]), m.u16(f[10:])
	switch {
	case typ != elf.ET_DYN:
		return corrupt(what, 16, "e_type %v, want ET_DYN (a shared object)", typ)
	case version != uint64(elf.EV_CURRENT):
		return corrupt(what, 20, "e_version %d, want %d", version, elf.EV_CURRENT)
	case hsize != ehsize:
		return corrupt(what, int64(flagsAt+4), "e_ehsize %d, want %d", hsize, ehsize)
	case phent != phentsize:
		return corrupt(what, int64(flagsAt+6), "e_phentsize %d, want %d", phent, phentsize)
	case phnum == 0 || phnum == 0xffff:
		return corrupt(what, int64(flagsAt+8), "e_phnum %d", phnum)
	}
	if phoff < ehsize || phoff > m.size || phnum*phentsize > m.size-phoff {
		return corrupt(what, int64(phoffAt), "program header table (%d entries at %#x) is not inside the file (%d bytes)", phnum, phoff, m.size)
	}
	// The dynamic linker does not read section headers, but debug/elf and
	// with it everything this package reads does.
	m.shoff, m.shnum, m.shstrndx = shoff, shnum, shstrndx
	if shnum > 0 {
		if shent != shentsize {
			return corrupt(what, int64(flagsAt+10), "e_shentsize %d, want %d", shent, shentsize)
		}
		if shoff > m.size || shnum*shentsize > m.size-shoff {
			return corrupt(what, int64(shoffAt), "section header table (%d entries at %#x) is not inside the file (%d bytes)", shnum, shoff, m.size)
		}
		if shstrndx >= shnum && shstrndx != uint64(elf.SHN_XINDEX) {
			return corrupt(what, int64(flagsAt+14), "e_shstrndx %d, but there are %d sections", shstrndx, shnum)
		}
	}
	return m.programHeaders(phoff, phnum, phentsize)
}

// programHeaders checks the program headers: the LOAD segments inside the
// file, sorted, not sharing pages, aligned; the other segments the dynamic
// linker reads inside a LOAD segment's file contents.
func (m *elfImage) programHeaders(phoff, phnum, phentsize uint64) error {
	tab, err := m.read(phoff, phnum*phentsize, "program header table")
	if err != nil {
		return err
	}
	type ph struct {
		index                            int
		typ                              elf.ProgType
		flags                            elf.ProgFlag
		off, vaddr, filesz, memsz, align uint64
		at                               int64
	}
	var all []ph
	var dynamic *ph
	for i := uint64(0); i < phnum; i++ {
		b := tab[i*phentsize:]
		p := ph{index: int(i), typ: elf.ProgType(m.u32(b)), at: int64(phoff + i*phentsize)}
		if m.is64 {
			p.flags = elf.ProgFlag(m.u32(b[4:]))
			p.off, p.vaddr, p.filesz, p.memsz, p.align = m.u64(b[8:]), m.u64(b[16:]), m.u64(b[32:]), m.u64(b[40:]), m.u64(b[48:])
		} else {
			p.off, p.vaddr, p.filesz, p.memsz = m.u32(b[4:]), m.u32(b[8:]), m.u32(b[16:]), m.u32(b[20:])
			p.flags, p.align = elf.ProgFlag(m.u32(b[24:])), m.u32(b[28:])
		}
		all = append(all, p)
	}
	name := func(p ph) string { return fmt.Sprintf("program header %d (%v)", p.index, p.typ) }
	for i := range all {
		p := &all[i]
		switch p.typ {
		case elf.PT_LOAD:
			switch {
			case p.off > m.size || p.filesz > m.size-p.off:
				return corrupt(name(*p), p.at, "file range [%#x, %#x) extends past the end of the file (%d bytes)", p.off, p.off+p.filesz, m.size)
			case p.filesz > p.memsz:
				return corrupt(name(*p), p.at, "p_filesz %#x is larger than p_memsz %#x", p.filesz, p.memsz)
			case p.vaddr+p.memsz < p.vaddr:
				return corrupt(name(*p), p.at, "memory range at %#x of %#x bytes wraps around", p.vaddr, p.memsz)
			case p.align > 1 && bits.OnesCount64(p.align) != 1:
				return corrupt(name(*p), p.at, "p_align %#x is not a power of two", p.align)
			case p.align > 1 && (p.vaddr-p.off)%p.align != 0:
				return corrupt(name(*p), p.at, "p_vaddr %#x and p_offset %#x are not congruent modulo p_align %#x", p.vaddr, p.off, p.align)
			case (p.vaddr-p.off)%minPageSize != 0:
				return corrupt(name(*p), p.at, "p_vaddr %#x and p_offset %#x are not congruent modulo the page size", p.vaddr, p.off)
			case p.memsz > 0 && p.flags&elf.PF_R == 0:
				return corrupt(name(*p), p.at, "segment is not readable (p_flags %v)", p.flags)
			}
			s := &segment{index: p.index, off: p.off, vaddr: p.vaddr, filesz: p.filesz, memsz: p.memsz, align: p.align, flags: p.flags, hdrOff: p.at}
			if n := len(m.loads); n > 0 {
				prev := m.loads[n-1]
				if s.vaddr < prev.end() {
					return corrupt(name(*p), p.at, "PT_LOAD at %#x is not after the previous one, which ends at %#x", s.vaddr, prev.end())
				}
				if alignDown(s.vaddr, minPageSize) < alignUp(prev.end(), minPageSize) {
					return corrupt(name(*p), p.at, "PT_LOAD at %#x shares a page with the previous one, which ends at %#x", s.vaddr, prev.end())
				}
				// Linkers lay segments out in the file in the order of
				// their addresses, each byte in one segment.
				if s.filesz > 0 && prev.filesz > 0 && s.off < prev.off+prev.filesz {
					return corrupt(name(*p), p.at, "file range [%#x, %#x) overlaps the previous PT_LOAD's [%#x, %#x)", s.off, s.off+s.filesz, prev.off, prev.off+prev.filesz)
				}
			} else {
				m.min = s.vaddr
			}
			m.loads = append(m.loads, s)
			m.max = s.end()
		case elf.PT_DYNAMIC:
			if dynamic != nil {
				return corrupt(name(*p), p.at, "a second PT_DYNAMIC (the first is program header %d)", dynamic.index)
			}
			dynamic = p
		}
	}
	if len(m.loads) == 0 {
		return corrupt("program header table", int64(phoff), "no PT_LOAD segment")
	}
	if dynamic == nil {
		return corrupt("program header table", int64(phoff), "no PT_DYNAMIC segment")
	}
	// Segments the dynamic linker reads must lie in what it maps.
	for _, p := range all {
		switch p.typ {
		case elf.PT_DYNAMIC, elf.PT_INTERP, elf.PT_NOTE, elf.PT_GNU_EH_FRAME, elf.PT_PHDR, elf.PT_TLS, elf.PT_GNU_RELRO:
		default:
			continue
		}
		if p.off > m.size || p.filesz > m.size-p.off {
			return corrupt(name(p), p.at, "file range [%#x, %#x) extends past the end of the file (%d bytes)", p.off, p.off+p.filesz, m.size)
		}
		if p.filesz > p.memsz && p.typ != elf.PT_NOTE {
			return corrupt(name(p), p.at, "p_filesz %#x is larger than p_memsz %#x", p.filesz, p.memsz)
		}
		s, off, ok := m.fileRange(p.vaddr, p.filesz)
		if !ok || off != p.off {
			return corrupt(name(p), p.at, "[%#x, %#x) at file offset %#x is not in the file contents of a PT_LOAD segment", p.vaddr, p.vaddr+p.filesz, p.off)
		}
		switch p.typ {
		case elf.PT_DYNAMIC:
			if s.flags&elf.PF_W == 0 {
				return corrupt(name(p), p.at, "the dynamic section is in a segment that is not writable (program header %d), and the dynamic linker writes to it", s.index)
			}
			m.dynOff = p.off
			if err := m.readDynamic(p.filesz); err != nil {
				return err
			}
		case elf.PT_TLS:
			if p.memsz > 0 && (p.align == 0 || bits.OnesCount64(p.align) != 1) {
				return corrupt(name(p), p.at, "p_align %#x is not a power of two", p.align)
			}
			// Only the initialization image (filesz) is read from the
			// mapping; the rest of each thread's block is zeroed.
			m.tls = &segment{index: p.index, off: p.off, vaddr: p.vaddr, filesz: p.filesz, memsz: p.memsz, align: p.align, hdrOff: p.at}
		case elf.PT_GNU_RELRO:
			// After relocation the pages from the start of the range down to
			// its end, rounded down, become read-only: they must belong to
			// the one writable segment holding the range.
			if s.flags&elf.PF_W == 0 || p.memsz > s.end()-p.vaddr {
				return corrupt(name(p), p.at, "[%#x, %#x) is not inside a writable PT_LOAD segment", p.vaddr, p.vaddr+p.memsz)
			}
		}
	}
	return nil
}

func alignDown(a, n uint64) uint64 { return a &^ (n - 1) }
func alignUp(a, n uint64) uint64   { return (a + n - 1) &^ (n - 1) }

// readDynamic reads the dynamic section up to its DT_NULL.
func (m *elfImage) readDynamic(filesz uint64) error {
	const what = "dynamic section"
	ent := 2 * m.word
	b, err := m.read(m.dynOff, filesz, what)
	if err != nil {
		return err
	}
	m.dyn = map[elf.DynTag]dynEntry{}
	for i := uint64(0); ; i++ {
		if (i+1)*ent > uint64(len(b)) {
			return corrupt(what, int64(m.dynOff), "no DT_NULL within its %d bytes", filesz)
		}
		e := b[i*ent:]
		var tag elf.DynTag
		var val uint64
		if m.is64 {
			tag, val = elf.DynTag(m.u64(e)), m.u64(e[8:])
		} else {
			tag, val = elf.DynTag(int32(m.u32(e))), m.u32(e[4:])
		}
		d := dynEntry{index: int(i), tag: tag, val: val, off: m.dynOff + i*ent}
		if tag == elf.DT_NULL {
			break
		}
		if !knownTag(tag, m.goPlugin) {
			// glibc ignores a tag it does not know: damage to a tag would
			// silently drop what the entry said.
			return corrupt(d.name(), int64(d.off), "tag %#x is not a dynamic tag", uint64(tag))
		}
		switch tag {
		case elf.DT_NEEDED, elf.DT_SONAME, elf.DT_RPATH, elf.DT_RUNPATH, elf.DT_AUXILIARY, elf.DT_FILTER:
			m.strings = append(m.strings, d)
		}
		m.dyn[tag] = d
	}
	return nil
}

// knownTag reports whether tag is one the ELF specification, GNU or an
// operating system or processor range defines. For a Go plugin, whose
// linkers emit no operating system specific tags, only the tags defined
// in those ranges count.
func knownTag(tag elf.DynTag, goPlugin bool) bool {
	t := uint64(tag)
	switch {
	case t <= uint64(dtRELRENT): // DT_NULL to DT_RELRENT
		return true
	case t >= 0x6000000d && t <= 0x6ffff000: // DT_LOOS to DT_HIOS
		return !goPlugin
	case t >= 0x6ffffd00 && t <= 0x6ffffeff: // DT_VALRNGLO to DT_ADDRRNGHI
		// Defined: DT_GNU_FLAGS_1 to DT_SYMINENT, DT_GNU_HASH to DT_SYMINFO.
		return !goPlugin || t >= 0x6ffffdf4 && t <= 0x6ffffdff || t >= 0x6ffffef5
	case t >= 0x6ffffff0 && t <= 0x6fffffff: // DT_VERSYM to DT_VERNEEDNUM
		return !goPlugin || t == 0x6ffffff0 || t >= 0x6ffffff9
	case t >= 0x70000000 && t <= 0x7fffffff: // DT_LOPROC to DT_HIPROC, DT_AUXILIARY, DT_FILTER
		return !goPlugin || t <= 0x700000ff || t >= 0x7ffffffd
	}
	return false
}

func (d dynEntry) name() string { return fmt.Sprintf("dynamic entry %d (%v)", d.index, d.tag) }

// table checks that the dynamic entries addrTag and sizeTag describe a
// table in the file contents of a LOAD segment, and returns its address,
// size and file offset. ok is false when addrTag is absent.
func (m *elfImage) table(addrTag, sizeTag elf.DynTag, entSize uint64) (addr, size, off uint64, ok bool, err error) {
	a, ok := m.dyn[addrTag]
	if !ok {
		return 0, 0, 0, false, nil // a size alone is ignored
	}
	s, has := m.dyn[sizeTag]
	if !has {
		return 0, 0, 0, false, corrupt(a.name(), int64(a.off), "%v without %v", addrTag, sizeTag)
	}
	if entSize > 0 && s.val%entSize != 0 {
		return 0, 0, 0, false, corrupt(s.name(), int64(s.off), "size %d is not a multiple of the entry size %d", s.val, entSize)
	}
	if s.val > maxStructure {
		return 0, 0, 0, false, corrupt(s.name(), int64(s.off), "size %d is too large", s.val)
	}
	_, off, found := m.fileRange(a.val, s.val)
	if !found {
		return 0, 0, 0, false, corrupt(a.name(), int64(a.off), "%d bytes at %#x (%v) are not in the file contents of a PT_LOAD segment", s.val, a.val, sizeTag)
	}
	return a.val, s.val, off, true, nil
}

// stringTable checks DT_STRTAB and the strings the dynamic entries name.
func (m *elfImage) stringTable() error {
	// Every shared object has them, and glibc's dlopen faults on one
	// without them.
	for _, tag := range []elf.DynTag{elf.DT_STRTAB, elf.DT_SYMTAB} {
		if _, ok := m.dyn[tag]; !ok {
			return corrupt("dynamic section", int64(m.dynOff), "no %v", tag)
		}
	}
	// A Go plugin registers its module data from an init array function:
	// without one the runtime dies ("no plugin module data").
	if _, ok := m.dyn[elf.DT_INIT_ARRAY]; !ok && m.goPlugin {
		return corrupt("dynamic section", int64(m.dynOff), "no DT_INIT_ARRAY, which every Go plugin has")
	}
	_, size, off, ok, err := m.table(elf.DT_STRTAB, elf.DT_STRSZ, 0)
	if err != nil {
		return err
	}
	if !ok {
		if len(m.strings) > 0 {
			return corrupt(m.strings[0].name(), int64(m.strings[0].off), "a string, but there is no DT_STRTAB")
		}
		if _, v := m.dyn[elf.DT_VERNEED]; v {
			return corrupt("dynamic section", int64(m.dynOff), "DT_VERNEED without DT_STRTAB")
		}
		return nil
	}
	if size == 0 {
		return corrupt(m.dyn[elf.DT_STRSZ].name(), int64(m.dyn[elf.DT_STRSZ].off), "an empty string table")
	}
	// With the table ending in NUL, every offset inside it starts a
	// NUL-terminated string.
	tab, err := m.read(off, size, "string table (DT_STRTAB)")
	if err != nil {
		return err
	}
	if tab[size-1] != 0 {
		return corrupt("string table (DT_STRTAB)", int64(off+size-1), "does not end with a NUL byte")
	}
	m.strsz, m.strtab = size, tab
	for _, d := range m.strings {
		if d.val >= size {
			return corrupt(d.name(), int64(d.off), "string offset %d outside the string table (DT_STRSZ %d)", d.val, size)
		}
	}
	return nil
}

// hashEntry is the size of a DT_HASH word: 8 bytes on 64-bit s390x.
func (m *elfImage) hashEntry() uint64 {
	if m.is64 && m.machine == elf.EM_S390 {
		return 8
	}
	return 4
}

// hashTables checks DT_HASH and DT_GNU_HASH and derives from them the
// number of dynamic symbols, which the symbol table must hold.
func (m *elfImage) hashTables() error {
	sym, hasSym := m.dyn[elf.DT_SYMTAB]
	syment := m.syment()
	if e, ok := m.dyn[elf.DT_SYMENT]; ok && e.val != syment {
		return corrupt(e.name(), int64(e.off), "DT_SYMENT %d, want %d", e.val, syment)
	}
	var nsyms uint64
	if h, ok := m.dyn[elf.DT_HASH]; ok {
		n, err := m.sysvHash(h)
		if err != nil {
			return err
		}
		nsyms = n
	}
	if h, ok := m.dyn[elf.DT_GNU_HASH]; ok {
		n, err := m.gnuHash(h)
		if err != nil {
			return err
		}
		if n > nsyms {
			if _, sysv := m.dyn[elf.DT_HASH]; sysv {
				return corrupt(h.name(), int64(h.off), "covers %d symbols, DT_HASH %d", n, nsyms)
			}
			nsyms = n
		}
	}
	if !hasSym {
		if nsyms > 0 {
			return corrupt("dynamic section", int64(m.dynOff), "hash tables but no DT_SYMTAB")
		}
		return nil
	}
	_, sysv := m.dyn[elf.DT_HASH]
	_, gnu := m.dyn[elf.DT_GNU_HASH]
	if !sysv && !gnu {
		return corrupt(sym.name(), int64(sym.off), "a symbol table without DT_HASH or DT_GNU_HASH: nothing bounds it, and a Go plugin's symbols could not be looked up")
	}
	return m.symbolTable(sym, nsyms)
}

// symbolTable checks that the symbol table holds nsyms symbols.
func (m *elfImage) symbolTable(sym dynEntry, nsyms uint64) error {
	syment := m.syment()
	if nsyms > maxStructure/syment {
		return corrupt(sym.name(), int64(sym.off), "%d symbols are too many", nsyms)
	}
	_, off, ok := m.fileRange(sym.val, nsyms*syment)
	if !ok {
		return corrupt(sym.name(), int64(sym.off), "%d symbols at %#x are not in the file contents of a PT_LOAD segment", nsyms, sym.val)
	}
	m.nsyms, m.symOff = nsyms, off
	return nil
}

// sysvHash checks a DT_HASH table and returns its nchain, the number of
// symbols.
func (m *elfImage) sysvHash(h dynEntry) (uint64, error) {
	const what = "hash table (DT_HASH)"
	ent := m.hashEntry()
	hdr, off, err := m.readAddr(h.val, 2*ent, what, int64(h.off))
	if err != nil {
		return 0, err
	}
	word := func(b []byte) uint64 {
		if ent == 8 {
			return m.u64(b)
		}
		return m.u32(b)
	}
	nbucket, nchain := word(hdr), word(hdr[ent:])
	if nbucket == 0 {
		return 0, corrupt(what, int64(off), "nbucket is 0")
	}
	if nbucket > maxStructure/ent || nchain > maxStructure/ent {
		return 0, corrupt(what, int64(off), "nbucket %d, nchain %d: too large", nbucket, nchain)
	}
	b, off, err := m.readAddr(h.val, (2+nbucket+nchain)*ent, what, int64(h.off))
	if err != nil {
		return 0, err
	}
	buckets, chains := b[2*ent:], b[(2+nbucket)*ent:]
	seen := make([]bool, nchain)
	for i := uint64(0); i < nbucket; i++ {
		for s := word(buckets[i*ent:]); s != 0; s = word(chains[s*ent:]) {
			if s >= nchain {
				return 0, corrupt(what, int64(off), "bucket %d leads to symbol %d, but nchain is %d", i, s, nchain)
			}
			if seen[s] {
				return 0, corrupt(what, int64(off+(2+nbucket+s)*ent), "the chain through symbol %d loops or joins another", s)
			}
			seen[s] = true
		}
	}
	return nchain, nil
}

// gnuHash checks a DT_GNU_HASH table and returns the number of symbols
// its chains cover.
func (m *elfImage) gnuHash(h dynEntry) (uint64, error) {
	const what = "hash table (DT_GNU_HASH)"
	hdr, off, err := m.readAddr(h.val, 16, what, int64(h.off))
	if err != nil {
		return 0, err
	}
	nbuckets, symoffset, bloomSize, shift := m.u32(hdr), m.u32(hdr[4:]), m.u32(hdr[8:]), m.u32(hdr[12:])
	switch {
	case nbuckets == 0:
		return 0, corrupt(what, int64(off), "nbuckets is 0")
	case bloomSize == 0 || bits.OnesCount64(bloomSize) != 1:
		return 0, corrupt(what, int64(off+8), "bloom filter size %d is not a power of two", bloomSize)
	case shift >= 8*m.word:
		return 0, corrupt(what, int64(off+12), "bloom shift %d is not below %d", shift, 8*m.word)
	}
	head := 16 + bloomSize*m.word + nbuckets*4
	b, _, err := m.readAddr(h.val, head, what, int64(h.off))
	if err != nil {
		return 0, err
	}
	seg, _, _ := m.fileRange(h.val, head)
	chainsAt := h.val + head
	// The chains run to the end of the segment's file contents at most.
	avail := (seg.fileEnd() - chainsAt) / 4
	buckets := b[16+bloomSize*m.word:]
	n := symoffset
	var chains []byte
	// Every chain entry belongs to one bucket: a walk reaching one seen
	// before is damage, and the walks stay linear in the table's size.
	seen := make([]uint64, (avail+63)/64)
	for i := uint64(0); i < nbuckets; i++ {
		start := m.u32(buckets[i*4:])
		if start == 0 {
			continue
		}
		if start < symoffset {
			return 0, corrupt(what, int64(off+16+bloomSize*m.word+i*4), "bucket %d starts at symbol %d, below symoffset %d", i, start, symoffset)
		}
		for s := start; ; s++ {
			k := s - symoffset
			if k >= avail {
				return 0, corrupt(what, int64(off+16+bloomSize*m.word+i*4), "the chain of bucket %d runs past the end of its segment", i)
			}
			if k*4+4 > uint64(len(chains)) {
				// Read the chains on demand, doubling, up to the segment end.
				want := uint64(len(chains))*2 + 4096
				if want < k*4+4 {
					want = k*4 + 4
				}
				if want > avail*4 {
					want = avail * 4
				}
				if chains, _, err = m.readAddr(chainsAt, want, what, int64(h.off)); err != nil {
					return 0, err
				}
			}
			if seen[k/64]&(1<<(k%64)) != 0 {
				return 0, corrupt(what, int64(off+16+bloomSize*m.word+i*4), "the chain of bucket %d runs into another bucket's", i)
			}
			seen[k/64] |= 1 << (k % 64)
			if s+1 > n {
				n = s + 1
			}
			if m.u32(chains[k*4:])&1 != 0 {
				break
			}
		}
	}
	return n, nil
}

// symbolEntry decodes dynamic symbol i.
func (m *elfImage) symbolEntry(b []byte) (name uint64, info byte, shndx elf.SectionIndex, value, size uint64) {
	if m.is64 {
		return m.u32(b), b[4], elf.SectionIndex(m.u16(b[6:])), m.u64(b[8:]), m.u64(b[16:])
	}
	return m.u32(b), b[12], elf.SectionIndex(m.u16(b[14:])), m.u32(b[4:]), m.u32(b[8:])
}

// symbols checks every dynamic symbol: its name inside the string table,
// a defined symbol's bytes inside a LOAD segment (a TLS symbol's inside
// PT_TLS).
func (m *elfImage) symbols() error {
	if m.nsyms == 0 {
		return nil
	}
	syment := m.syment()
	tab, err := m.read(m.symOff, m.nsyms*syment, "symbol table (DT_SYMTAB)")
	if err != nil {
		return err
	}
	m.symtab = tab
	for i := uint64(1); i < m.nsyms; i++ {
		name, info, shndx, value, size := m.symbolEntry(tab[i*syment:])
		what := fmt.Sprintf("dynamic symbol %d", i)
		at := int64(m.symOff + i*syment)
		if name >= m.strsz && !(name == 0 && m.strsz == 0) {
			return corrupt(what, at, "name offset %d outside the string table (DT_STRSZ %d)", name, m.strsz)
		}
		if shndx == elf.SHN_UNDEF || shndx == elf.SHN_ABS || shndx == elf.SHN_COMMON {
			continue
		}
		if elf.ST_TYPE(info) == elf.STT_TLS {
			if m.tls == nil || value > m.tls.memsz || size > m.tls.memsz-value {
				return corrupt(what, at, "thread-local symbol at %#x of %d bytes is outside the PT_TLS segment", value, size)
			}
			continue
		}
		if m.memRange(value, size) == nil {
			return corrupt(what, at, "%d bytes at %#x are not inside a PT_LOAD segment", size, value)
		}
	}
	return nil
}

// versions checks DT_VERSYM, DT_VERNEED and DT_VERDEF.
func (m *elfImage) versions() error {
	m.maxVer = 1
	if err := m.verneed(); err != nil {
		return err
	}
	if err := m.verdef(); err != nil {
		return err
	}
	vs, ok := m.dyn[elf.DT_VERSYM]
	if !ok {
		return nil
	}
	if _, need := m.dyn[elf.DT_VERNEED]; !need {
		if _, def := m.dyn[elf.DT_VERDEF]; !def {
			return corrupt(vs.name(), int64(vs.off), "DT_VERSYM without DT_VERNEED or DT_VERDEF")
		}
	}
	if _, has := m.dyn[elf.DT_SYMTAB]; !has {
		return corrupt(vs.name(), int64(vs.off), "DT_VERSYM without DT_SYMTAB")
	}
	b, off, err := m.readAddr(vs.val, 2*m.nsyms, "version table (DT_VERSYM)", int64(vs.off))
	if err != nil {
		return err
	}
	for i := uint64(0); i < m.nsyms; i++ {
		if v := m.u16(b[2*i:]) & 0x7fff; v > m.maxVer {
			return corrupt("version table (DT_VERSYM)", int64(off+2*i), "symbol %d has version index %d, but the highest defined is %d", i, v, m.maxVer)
		}
	}
	return nil
}

// walkVersions walks a chain of version records (Verneed or Verdef) of
// recSize bytes, each with auxiliary records of auxSize bytes.
func (m *elfImage) walkVersions(d dynEntry, countTag elf.DynTag, recSize, auxSize uint64,
	rec func(b []byte, at uint64) (version, naux, aux, next uint64, err error),
	aux func(b []byte, at uint64, first bool) (next uint64, err error)) error {
	what := fmt.Sprintf("version records (%v)", d.tag)
	if m.strsz == 0 {
		return corrupt(d.name(), int64(d.off), "%v without a string table", d.tag)
	}
	cnt, ok := m.dyn[countTag]
	if !ok {
		return corrupt(d.name(), int64(d.off), "%v without %v", d.tag, countTag)
	}
	a := d.val
	for n := uint64(0); ; n++ {
		if n >= cnt.val {
			return corrupt(what, -1, "more records than %v %d", countTag, cnt.val)
		}
		b, at, err := m.readAddr(a, recSize, what, int64(d.off))
		if err != nil {
			return err
		}
		version, naux, auxOff, next, err := rec(b, at)
		if err != nil {
			return err
		}
		if version != 1 {
			return corrupt(what, int64(at), "record version %d, want 1", version)
		}
		x := a + auxOff
		for k := uint64(0); k < naux; k++ {
			ab, aat, err := m.readAddr(x, auxSize, what, int64(at))
			if err != nil {
				return err
			}
			anext, err := aux(ab, aat, k == 0)
			if err != nil {
				return err
			}
			if (anext == 0) != (k+1 == naux) {
				return corrupt(what, int64(aat), "auxiliary record %d of %d has next offset %d", k, naux, anext)
			}
			x += anext
		}
		if next == 0 {
			if n+1 != cnt.val {
				return corrupt(what, int64(at), "%d records, %v says %d", n+1, countTag, cnt.val)
			}
			return nil
		}
		a += next
	}
}

func (m *elfImage) str(off uint64, what string, at uint64) error {
	if off >= m.strsz {
		return corrupt(what, int64(at), "name offset %d outside the string table (DT_STRSZ %d)", off, m.strsz)
	}
	return nil
}

// stringAt is the NUL-terminated string at offset off (< m.strsz).
func (m *elfImage) stringAt(off uint64) string {
	b := m.strtab[off:]
	return string(b[:bytes.IndexByte(b, 0)])
}

func (m *elfImage) verneed() error {
	d, ok := m.dyn[elf.DT_VERNEED]
	if !ok {
		return nil
	}
	const what = "version needs (DT_VERNEED)"
	needed := map[string]bool{}
	for _, e := range m.strings {
		if e.tag == elf.DT_NEEDED {
			needed[m.stringAt(e.val)] = true
		}
	}
	return m.walkVersions(d, elf.DT_VERNEEDNUM, 16, 16,
		func(b []byte, at uint64) (uint64, uint64, uint64, uint64, error) {
			file := m.u32(b[4:])
			if err := m.str(file, what, at); err != nil {
				return 0, 0, 0, 0, err
			}
			// glibc asserts that the object a version is needed from is
			// one of the dependencies.
			if !needed[m.stringAt(file)] {
				return 0, 0, 0, 0, corrupt(what, int64(at+4), "versions needed from %q, which is not a DT_NEEDED dependency", m.stringAt(file))
			}
			return m.u16(b), m.u16(b[2:]), m.u32(b[8:]), m.u32(b[12:]), nil
		},
		func(b []byte, at uint64, _ bool) (uint64, error) {
			if v := m.u16(b[6:]) & 0x7fff; v > m.maxVer {
				m.maxVer = v
			}
			return m.u32(b[12:]), m.str(m.u32(b[8:]), what, at)
		})
}

func (m *elfImage) verdef() error {
	d, ok := m.dyn[elf.DT_VERDEF]
	if !ok {
		return nil
	}
	const what = "version definitions (DT_VERDEF)"
	return m.walkVersions(d, elf.DT_VERDEFNUM, 20, 8,
		func(b []byte, at uint64) (uint64, uint64, uint64, uint64, error) {
			if v := m.u16(b[4:]) & 0x7fff; v > m.maxVer {
				m.maxVer = v
			}
			naux := m.u16(b[6:])
			if naux == 0 {
				return 0, 0, 0, 0, corrupt(what, int64(at), "a definition without a name")
			}
			return m.u16(b), naux, m.u32(b[12:]), m.u32(b[16:]), nil
		},
		func(b []byte, at uint64, _ bool) (uint64, error) {
			return m.u32(b[4:]), m.str(m.u32(b), what, at)
		})
}

// relocKinds are the relocation types of one machine.
type relocKinds struct {
	relative, irelative uint32
	// known holds every type the dynamic linker applies in a shared
	// object; nil when this package does not know the machine's.
	known map[uint32]bool
	// tls holds the types that refer to thread-local storage; word the
	// types that write an aligned address-sized word; abs the types whose
	// value is a symbol's address plus the addend.
	tls, word, abs map[uint32]bool
	// rela reports whether the machine uses RELA relocations (else REL).
	rela bool
}

func set(ts ...uint32) map[uint32]bool {
	m := map[uint32]bool{}
	for _, t := range ts {
		m[t] = true
	}
	return m
}

func kindsOf(m elf.Machine) relocKinds {
	switch m {
	case elf.EM_X86_64:
		return relocKinds{relative: 8, irelative: 37, rela: true,
			known: set(0, 1, 2, 5, 6, 7, 8, 10, 16, 17, 18, 24, 32, 33, 36, 37), tls: set(16, 17, 18, 36),
			word: set(1, 6, 7, 8, 16, 17, 18, 24, 33, 36, 37), abs: set(1, 6)}
	case elf.EM_AARCH64:
		return relocKinds{relative: 1027, irelative: 1032, rela: true,
			known: set(0, 257, 1024, 1025, 1026, 1027, 1028, 1029, 1030, 1031, 1032), tls: set(1028, 1029, 1030, 1031),
			word: set(257, 1025, 1026, 1027, 1028, 1029, 1030, 1031, 1032), abs: set(257, 1025)}
	case elf.EM_386:
		return relocKinds{relative: 8, irelative: 42,
			known: set(0, 1, 2, 5, 6, 7, 8, 14, 35, 36, 37, 41, 42), tls: set(14, 35, 36, 37, 41),
			word: set(1, 6, 7, 8, 14, 35, 36, 37, 42)}
	case elf.EM_ARM:
		return relocKinds{relative: 23, irelative: 160,
			known: set(0, 2, 3, 13, 17, 18, 19, 20, 21, 22, 23, 160), tls: set(13, 17, 18, 19),
			word: set(2, 17, 18, 19, 21, 22, 23, 160)}
	case elf.EM_PPC64:
		return relocKinds{relative: 22, rela: true}
	case elf.EM_S390:
		return relocKinds{relative: 12, rela: true}
	case elf.EM_RISCV:
		return relocKinds{relative: 3, rela: true}
	case elf.EM_LOONGARCH:
		return relocKinds{relative: 3, rela: true}
	}
	return relocKinds{rela: true}
}

// relocations checks DT_RELA, DT_REL, DT_JMPREL and DT_RELR: entry sizes,
// types, symbol indices, the written address inside a writable segment,
// RELATIVE addends inside the image.
func (m *elfImage) relocations() error {
	k := kindsOf(m.machine)
	relaEnt, relEnt := 3*m.word, 2*m.word
	if e, ok := m.dyn[elf.DT_RELAENT]; ok && e.val != relaEnt {
		return corrupt(e.name(), int64(e.off), "DT_RELAENT %d, want %d", e.val, relaEnt)
	}
	if e, ok := m.dyn[elf.DT_RELENT]; ok && e.val != relEnt {
		return corrupt(e.name(), int64(e.off), "DT_RELENT %d, want %d", e.val, relEnt)
	}
	if e, ok := m.dyn[elf.DT_PLTREL]; ok && e.val != uint64(elf.DT_RELA) && e.val != uint64(elf.DT_REL) {
		return corrupt(e.name(), int64(e.off), "DT_PLTREL %d is neither DT_RELA nor DT_REL", e.val)
	}
	if _, ok := m.dyn[elf.DT_RELA]; ok {
		if _, ok := m.dyn[elf.DT_RELAENT]; !ok {
			return corrupt(m.dyn[elf.DT_RELA].name(), int64(m.dyn[elf.DT_RELA].off), "DT_RELA without DT_RELAENT")
		}
	}
	if _, ok := m.dyn[elf.DT_REL]; ok {
		if _, ok := m.dyn[elf.DT_RELENT]; !ok {
			return corrupt(m.dyn[elf.DT_REL].name(), int64(m.dyn[elf.DT_REL].off), "DT_REL without DT_RELENT")
		}
	}
	for _, tag := range []elf.DynTag{elf.DT_TEXTREL, elf.DT_SYMBOLIC} {
		if d, ok := m.dyn[tag]; ok && m.goPlugin {
			return corrupt(d.name(), int64(d.off), "%v: a Go plugin never has it", tag)
		}
	}
	if d, ok := m.dyn[elf.DT_FLAGS]; ok && m.goPlugin && d.val&uint64(elf.DF_TEXTREL|elf.DF_SYMBOLIC) != 0 {
		return corrupt(d.name(), int64(d.off), "DT_FLAGS %#x sets DF_TEXTREL or DF_SYMBOLIC: a Go plugin never does", d.val)
	}
	if d, ok := m.dyn[elf.DT_FLAGS_1]; ok && d.val&df1NOOPEN != 0 {
		return corrupt(d.name(), int64(d.off), "DT_FLAGS_1 %#x sets DF_1_NOOPEN", d.val)
	}
	if err := m.prepareArrays(); err != nil {
		return err
	}

	type table struct {
		addrTag, sizeTag elf.DynTag
		rela             bool
	}
	tables := []table{{elf.DT_RELA, elf.DT_RELASZ, true}, {elf.DT_REL, elf.DT_RELSZ, false}}
	// glibc reads the PLT relocations' address, size and GOT through the
	// entries' pointers: one missing is a NULL dereference in dlopen.
	if e, ok := m.dyn[elf.DT_PLTREL]; ok {
		for _, tag := range []elf.DynTag{elf.DT_JMPREL, elf.DT_PLTRELSZ, elf.DT_PLTGOT} {
			if _, ok := m.dyn[tag]; !ok {
				return corrupt(e.name(), int64(e.off), "DT_PLTREL without %v", tag)
			}
		}
		if got := m.dyn[elf.DT_PLTGOT]; m.memRange(got.val, 3*m.word) == nil || m.memRange(got.val, 3*m.word).flags&elf.PF_W == 0 {
			return corrupt(got.name(), int64(got.off), "the GOT at %#x is not inside a writable PT_LOAD segment", got.val)
		}
		tables = append(tables, table{elf.DT_JMPREL, elf.DT_PLTRELSZ, e.val == uint64(elf.DT_RELA)})
	} else if _, ok := m.dyn[elf.DT_JMPREL]; ok {
		return corrupt(m.dyn[elf.DT_JMPREL].name(), int64(m.dyn[elf.DT_JMPREL].off), "DT_JMPREL without DT_PLTREL")
	}
	for _, t := range tables {
		ent := relEnt
		if t.rela {
			ent = relaEnt
		}
		if t.rela != k.rela && k.known != nil {
			if _, ok := m.dyn[t.addrTag]; ok {
				return corrupt(m.dyn[t.addrTag].name(), int64(m.dyn[t.addrTag].off), "%v relocations on %v, which uses the other format", t.addrTag, m.machine)
			}
		}
		_, size, off, ok, err := m.table(t.addrTag, t.sizeTag, ent)
		if err != nil || !ok {
			if err != nil {
				return err
			}
			continue
		}
		b, err := m.read(off, size, fmt.Sprintf("relocations (%v)", t.addrTag))
		if err != nil {
			return err
		}
		count := uint64(0)
		if t.addrTag == elf.DT_RELA {
			if c, ok := m.dyn[elf.DT_RELACOUNT]; ok {
				count = c.val
			}
		} else if t.addrTag == elf.DT_REL {
			if c, ok := m.dyn[elf.DT_RELCOUNT]; ok {
				count = c.val
			}
		}
		if count > size/ent {
			return corrupt(fmt.Sprintf("dynamic entry (count of relative relocations of %v)", t.addrTag), -1, "%d relative relocations, but the table has %d", count, size/ent)
		}
		for i := uint64(0); i < size/ent; i++ {
			if err := m.relocation(k, t.addrTag, t.rela, i, b[i*ent:(i+1)*ent], off+i*ent, i < count); err != nil {
				return err
			}
		}
	}
	return m.relr()
}

// relocation checks one relocation entry.
func (m *elfImage) relocation(k relocKinds, tag elf.DynTag, rela bool, i uint64, b []byte, at uint64, mustBeRelative bool) error {
	what := fmt.Sprintf("relocation %d of %v", i, tag)
	offset, info := m.addr(b), m.addr(b[m.word:])
	var typ uint32
	var sym uint64
	if m.is64 {
		typ, sym = uint32(info), info>>32
	} else {
		typ, sym = uint32(info&0xff), info>>8
	}
	var addend uint64
	hasAddend := rela
	if rela {
		addend = m.addr(b[2*m.word:])
	}
	if k.known != nil && !k.known[typ] {
		return corrupt(what, int64(at+m.word), "unknown type %d for %v", typ, m.machine)
	}
	if mustBeRelative && typ != k.relative {
		return corrupt(what, int64(at+m.word), "type %d among the relative relocations the dynamic section counts", typ)
	}
	// glibc reads the symbol's version before it looks at the type.
	if sym != 0 && sym >= m.nsyms {
		return corrupt(what, int64(at+m.word), "symbol index %d, but there are %d dynamic symbols", sym, m.nsyms)
	}
	if typ == 0 && k.known != nil { // R_*_NONE
		return nil
	}
	s := m.memRange(offset, m.word)
	if s == nil || s.flags&elf.PF_W == 0 {
		return corrupt(what, int64(at), "writes %d bytes at %#x, which is not inside a writable PT_LOAD segment", m.word, offset)
	}
	// No linker emits these, so they are damage: a pointer-sized
	// relocation at an unaligned address, two relocations of one address,
	// an addend past the end of the symbol it is relative to.
	if k.word[typ] && offset%m.word != 0 {
		return corrupt(what, int64(at), "writes an address at %#x, which is not aligned to %d bytes", offset, m.word)
	}
	if err := m.relocatesOnce(offset, what, at); err != nil {
		return err
	}
	if rela && k.abs[typ] && sym != 0 {
		size := m.symbolSize(sym)
		if int64(addend) < 0 || addend > size && (size > 0 || m.goPlugin) {
			return corrupt(what, int64(at+2*m.word), "addend %#x outside symbol %d, of %d bytes", addend, sym, size)
		}
	}
	if !hasAddend {
		// REL: the addend is the word the relocation overwrites.
		if _, off, ok := m.fileRange(offset, m.word); ok {
			w, err := m.read(off, m.word, what)
			if err != nil {
				return err
			}
			addend = m.addr(w)
		}
	}
	switch {
	case typ == k.relative && k.relative != 0:
		if addend < m.min || addend > m.max {
			return corrupt(what, int64(at+2*m.word), "relative addend %#x points outside the image [%#x, %#x)", addend, m.min, m.max)
		}
	case typ == k.irelative && k.irelative != 0:
		if x := m.memRange(addend, 1); x == nil || x.flags&elf.PF_X == 0 {
			return corrupt(what, int64(at+2*m.word), "IFUNC resolver at %#x is not in an executable PT_LOAD segment", addend)
		}
	case k.tls[typ] && sym == 0 && m.tls == nil:
		return corrupt(what, int64(at+m.word), "thread-local relocation of the object itself, which has no PT_TLS")
	}
	m.noteArrayEntry(offset, typ == k.relative && k.relative != 0, sym, addend)
	return nil
}

// relocatesOnce records that a relocation writes at a, and reports a
// second one.
func (m *elfImage) relocatesOnce(a uint64, what string, at uint64) error {
	if m.relocated == nil {
		m.relocated = map[uint64]struct{}{}
	}
	if _, dup := m.relocated[a]; dup {
		return corrupt(what, int64(at), "a second relocation of address %#x", a)
	}
	m.relocated[a] = struct{}{}
	return nil
}

// syment is the size of one symbol table entry.
func (m *elfImage) syment() uint64 {
	if m.is64 {
		return elf.Sym64Size
	}
	return elf.Sym32Size
}

// symbolSize is the st_size of dynamic symbol i (< m.nsyms).
func (m *elfImage) symbolSize(i uint64) uint64 {
	syment := m.syment()
	_, _, _, _, size := m.symbolEntry(m.symtab[i*syment:])
	return size
}

// relr checks DT_RELR: every address it relocates is inside a writable
// segment.
func (m *elfImage) relr() error {
	if _, ok := m.dyn[dtRELR]; !ok {
		return nil
	}
	if e, ok := m.dyn[dtRELRENT]; !ok || e.val != m.word {
		return corrupt(m.dyn[dtRELR].name(), int64(m.dyn[dtRELR].off), "DT_RELR without a DT_RELRENT of %d", m.word)
	}
	_, size, off, _, err := m.table(dtRELR, dtRELRSZ, m.word)
	if err != nil {
		return err
	}
	b, err := m.read(off, size, "relocations (DT_RELR)")
	if err != nil {
		return err
	}
	var base uint64
	haveBase := false
	check := func(a uint64, i uint64) error {
		if s := m.memRange(a, m.word); s == nil || s.flags&elf.PF_W == 0 {
			return corrupt("relocations (DT_RELR)", int64(off+i*m.word), "relocates %#x, which is not inside a writable PT_LOAD segment", a)
		}
		if err := m.relocatesOnce(a, "relocations (DT_RELR)", off+i*m.word); err != nil {
			return err
		}
		// A relative relocation whose addend is the word it overwrites.
		var addend uint64
		if _, woff, ok := m.fileRange(a, m.word); ok {
			w, err := m.read(woff, m.word, "relocations (DT_RELR)")
			if err != nil {
				return err
			}
			addend = m.addr(w)
		}
		if addend < m.min || addend > m.max {
			return corrupt("relocations (DT_RELR)", int64(off+i*m.word), "relocates %#x to %#x, outside the image [%#x, %#x)", a, addend, m.min, m.max)
		}
		m.noteArrayEntry(a, true, 0, addend)
		return nil
	}
	for i := uint64(0); i < size/m.word; i++ {
		e := m.addr(b[i*m.word:])
		if e&1 == 0 {
			if err := check(e, i); err != nil {
				return err
			}
			base, haveBase = e+m.word, true
			continue
		}
		if !haveBase {
			return corrupt("relocations (DT_RELR)", int64(off+i*m.word), "a bitmap before any address")
		}
		for bit, a := uint64(1), base; bit < 8*m.word; bit, a = bit+1, a+m.word {
			if e>>bit&1 != 0 {
				if err := check(a, i); err != nil {
					return err
				}
			}
		}
		base += (8*m.word - 1) * m.word
	}
	return nil
}

// prepareArrays records DT_INIT_ARRAY and DT_FINI_ARRAY, whose entries the
// relocations fill in.
func (m *elfImage) prepareArrays() error {
	for _, p := range [][2]elf.DynTag{{elf.DT_INIT_ARRAY, elf.DT_INIT_ARRAYSZ}, {elf.DT_FINI_ARRAY, elf.DT_FINI_ARRAYSZ}} {
		addr, size, off, ok, err := m.table(p[0], p[1], m.word)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		n := size / m.word
		m.arrays = append(m.arrays, initArray{tag: p[0], addr: addr, off: off, n: n,
			target: make([]uint64, n), known: make([]bool, n), set: make([]bool, n)})
	}
	return nil
}

// noteArrayEntry records what a relocation writes into an init or fini
// array.
func (m *elfImage) noteArrayEntry(offset uint64, relative bool, sym, addend uint64) {
	for i := range m.arrays {
		a := &m.arrays[i]
		if offset < a.addr || offset >= a.addr+a.n*m.word || (offset-a.addr)%m.word != 0 {
			continue
		}
		j := (offset - a.addr) / m.word
		a.set[j] = true
		switch {
		case relative:
			a.target[j], a.known[j] = addend, true
		case sym != 0:
			// The value of a symbol: known when this object defines it.
			if v, ok := m.definedValue(sym); ok {
				a.target[j], a.known[j] = v+addend, true
			} else {
				a.known[j] = false
			}
		}
	}
}

// definedValue is the value of dynamic symbol i if this object defines it.
func (m *elfImage) definedValue(i uint64) (uint64, bool) {
	syment := m.syment()
	if i >= m.nsyms {
		return 0, false
	}
	_, _, shndx, value, _ := m.symbolEntry(m.symtab[i*syment:])
	if shndx == elf.SHN_UNDEF {
		return 0, false
	}
	return value, true
}

// functions checks DT_INIT, DT_FINI and every init and fini array entry
// the dynamic linker will call: each must be in an executable segment.
func (m *elfImage) functions() error {
	exec := func(a uint64) bool {
		s, _, ok := m.fileRange(a, 1)
		return ok && s.flags&elf.PF_X != 0
	}
	for _, tag := range []elf.DynTag{elf.DT_INIT, elf.DT_FINI} {
		if d, ok := m.dyn[tag]; ok && !exec(d.val) {
			return corrupt(d.name(), int64(d.off), "%v %#x is not in an executable PT_LOAD segment", tag, d.val)
		}
	}
	for _, a := range m.arrays {
		what := fmt.Sprintf("%v entry", a.tag)
		for j := uint64(0); j < a.n; j++ {
			at := int64(a.off + j*m.word)
			if !a.set[j] {
				return corrupt(what, at, "entry %d is not relocated, so the dynamic linker would call an address the file does not fix up", j)
			}
			if a.known[j] && !exec(a.target[j]) {
				return corrupt(what, at, "entry %d points to %#x, which is not in an executable PT_LOAD segment", j, a.target[j])
			}
		}
	}
	return nil
}

// sectionPairs are dynamic entries and the sections the linker made them
// from: a linker writes the same address (and size) into both, so a
// difference is damage to one of them.
// DT_INIT and DT_FINI are compared for Go plugins only: a C library may
// name any function (ld -init).
var sectionPairs = []struct {
	addr, size elf.DynTag
	sections   []string
}{
	{elf.DT_INIT, 0, []string{".init"}},
	{elf.DT_FINI, 0, []string{".fini"}},
	{elf.DT_INIT_ARRAY, elf.DT_INIT_ARRAYSZ, []string{".init_array"}},
	{elf.DT_FINI_ARRAY, elf.DT_FINI_ARRAYSZ, []string{".fini_array"}},
	{elf.DT_STRTAB, elf.DT_STRSZ, []string{".dynstr"}},
	{elf.DT_SYMTAB, 0, []string{".dynsym"}},
	{elf.DT_HASH, 0, []string{".hash"}},
	{elf.DT_GNU_HASH, 0, []string{".gnu.hash"}},
	{elf.DT_VERSYM, 0, []string{".gnu.version"}},
	{elf.DT_VERNEED, 0, []string{".gnu.version_r"}},
	{elf.DT_VERDEF, 0, []string{".gnu.version_d"}},
	{elf.DT_JMPREL, elf.DT_PLTRELSZ, []string{".rela.plt", ".rel.plt"}},
	{elf.DT_RELA, 0, []string{".rela.dyn"}},
	{elf.DT_REL, 0, []string{".rel.dyn"}},
}

// sections compares the dynamic entries with the section headers, where
// the file has them: the dynamic linker reads only the former, and a
// damaged address or size in them (a DT_INIT a few bytes into the code)
// shows as a difference from the latter.
func (m *elfImage) sections() error {
	if m.shnum == 0 || m.shstrndx >= m.shnum {
		return nil
	}
	shentsize := uint64(40)
	if m.is64 {
		shentsize = 64
	}
	tab, err := m.read(m.shoff, m.shnum*shentsize, "section header table")
	if err != nil {
		return err
	}
	type shdr struct{ name, typ, flags, addr, off, size uint64 }
	hdr := func(i uint64) shdr {
		b := tab[i*shentsize:]
		if m.is64 {
			return shdr{m.u32(b), m.u32(b[4:]), m.u64(b[8:]), m.u64(b[16:]), m.u64(b[24:]), m.u64(b[32:])}
		}
		return shdr{m.u32(b), m.u32(b[4:]), m.u32(b[8:]), m.u32(b[12:]), m.u32(b[16:]), m.u32(b[20:])}
	}
	strs := hdr(m.shstrndx)
	names, err := m.read(strs.off, strs.size, "section name table")
	if err != nil {
		return err
	}
	byName := map[string]shdr{}
	for i := uint64(1); i < m.shnum; i++ {
		h := hdr(i)
		if h.name >= uint64(len(names)) {
			return corrupt("section header table", int64(m.shoff+i*shentsize), "section %d's name offset %d is outside the name table", i, h.name)
		}
		n := names[h.name:]
		if j := bytes.IndexByte(n, 0); j >= 0 {
			n = n[:j]
		}
		byName[string(n)] = h
		// A section the program loads must be where a segment maps it
		// from: a segment whose offset moved by whole pages maps other
		// bytes (code from the symbol table) at the section's address.
		if h.flags&uint64(elf.SHF_ALLOC) != 0 && elf.SectionType(h.typ) != elf.SHT_NOBITS && h.size > 0 && h.addr != 0 {
			if s, off, ok := m.fileRange(h.addr, h.size); ok && off != h.off {
				return corrupt(fmt.Sprintf("program header %d (%v)", s.index, elf.PT_LOAD), s.hdrOff,
					"maps section %s (at %#x) from file offset %#x, but the section is at %#x", n, h.addr, off, h.off)
			}
		}
	}
	for _, p := range sectionPairs {
		d, ok := m.dyn[p.addr]
		if !ok || (p.addr == elf.DT_INIT || p.addr == elf.DT_FINI) && !m.goPlugin {
			continue
		}
		for _, name := range p.sections {
			h, ok := byName[name]
			if !ok {
				continue
			}
			if d.val != h.addr {
				return corrupt(d.name(), int64(d.off), "%v %#x, but section %s is at %#x", p.addr, d.val, name, h.addr)
			}
			if sz, ok := m.dyn[p.size]; ok && p.size != 0 && sz.val != h.size {
				return corrupt(sz.name(), int64(sz.off), "%v %d, but section %s has %d bytes", p.size, sz.val, name, h.size)
			}
		}
	}
	// DT_RELASZ (DT_RELSZ) covers the dynamic relocations, and the PLT's
	// too when they follow.
	for _, r := range []struct {
		size     elf.DynTag
		dyn, plt string
	}{{elf.DT_RELASZ, ".rela.dyn", ".rela.plt"}, {elf.DT_RELSZ, ".rel.dyn", ".rel.plt"}} {
		sz, ok := m.dyn[r.size]
		h, has := byName[r.dyn]
		if !ok || !has {
			continue
		}
		if sz.val != h.size && sz.val != h.size+byName[r.plt].size {
			return corrupt(sz.name(), int64(sz.off), "%v %d, but section %s has %d bytes", r.size, sz.val, r.dyn, h.size)
		}
	}
	return nil
}
