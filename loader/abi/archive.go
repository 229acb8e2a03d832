package abi

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// ArchiveMagic starts an ar archive, the file -buildmode=c-archive writes.
const ArchiveMagic = "!<arch>\n"

// Bounds of ReadArchive.
const (
	// maxArchiveMembers bounds the members of an archive: the Go linker
	// writes its own object and one per C file, hundreds at most.
	maxArchiveMembers = 1 << 16
	// maxLongNames bounds the GNU long-name table ("//").
	maxLongNames = 16 << 20
	// maxBuildInfoSection bounds the .go.buildinfo section read.
	maxBuildInfoSection = 16 << 20
)

// ErrThinArchive: an ar archive whose members are other files ("!<thin>").
var ErrThinArchive = errors.New("a thin archive: its members are other files")

// IsArchive reports whether r starts like an ar archive.
func IsArchive(r io.ReaderAt) bool {
	var b [len(ArchiveMagic)]byte
	n, _ := r.ReadAt(b[:], 0)
	return n == len(b) && string(b[:]) == ArchiveMagic
}

// ReadArtifact reads the ABI facts of a built file: an ar archive (a
// c-archive) with ReadArchive, anything else with Read.
func ReadArtifact(r io.ReaderAt, name string) (*File, error) {
	if IsArchive(r) {
		return ReadArchive(r, name)
	}
	return Read(r, name)
}

// ReadArchive reads the ABI facts of an ar archive written by
// -buildmode=c-archive: the Go linker's object (go.o) and one object per C
// file of the cgo packages. The build info comes from the .go.buildinfo
// section of the Go object (its strings inline, as every toolchain since
// go1.18 writes it); Class and Machine from the first ELF member; CExports
// from the members' symbol tables: every defined global function and
// variable (common symbols too) that is neither Go's nor cgo's glue, the
// same rule as for a c-shared library's .dynsym. The archive's own symbol
// index is not trusted: the members are read.
//
// GLIBCNeeds stay empty: relocatable objects need no symbol versions;
// the C program's link decides them. Packages is empty (the linker writes
// package hashes only into dynamically linked Go code).
//
// Every read is bounded by the archive's size: at most 65536 members, a
// long-name table of 16 MiB, a .go.buildinfo section of 16 MiB. An
// archive with no Go object carrying build info is a *ReadError wrapping
// ErrNoBuildInfo; one that is not an ar archive wraps ErrNotELF (it is
// neither).
func ReadArchive(r io.ReaderAt, name string) (*File, error) {
	fail := func(err error) (*File, error) { return nil, &ReadError{Path: name, Err: err} }
	size, err := readerSize(r)
	if err != nil {
		return fail(err)
	}
	var magic [len(ArchiveMagic)]byte
	if n, _ := r.ReadAt(magic[:], 0); n < len(magic) || string(magic[:]) != ArchiveMagic {
		if n == len(magic) && string(magic[:]) == "!<thin>\n" {
			return fail(ErrThinArchive)
		}
		return fail(fmt.Errorf("%w: not an ar archive either", ErrNotELF))
	}
	members, err := archiveMembers(r, size)
	if err != nil {
		return fail(err)
	}
	var out *File
	var class elf.Class
	var machine elf.Machine
	var exports []string
	for _, m := range members {
		sr := io.NewSectionReader(r, m.off, m.size)
		var head [4]byte
		if n, _ := sr.ReadAt(head[:], 0); n < 4 || string(head[:]) != elf.ELFMAG {
			continue // not an object file
		}
		ef, err := elf.NewFile(sr)
		if err != nil {
			return fail(fmt.Errorf("member %s: %w", m.name, err))
		}
		if class == elf.ELFCLASSNONE {
			class, machine = ef.Class, ef.Machine
		} else if ef.Class != class || ef.Machine != machine {
			ef.Close()
			return fail(fmt.Errorf("member %s is %s %s, an earlier one %s %s", m.name, ef.Class, ef.Machine, class, machine))
		}
		if out == nil {
			bi, err := sectionBuildInfo(ef)
			if err != nil {
				ef.Close()
				return fail(fmt.Errorf("member %s: %w", m.name, err))
			}
			if bi != nil {
				out = fromBuildInfo(name, bi)
			}
		}
		syms, err := ef.Symbols()
		ef.Close()
		if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
			return fail(fmt.Errorf("member %s: reading .symtab: %w", m.name, err))
		}
		for _, s := range syms {
			defined := s.Section == elf.SHN_COMMON || (s.Section != elf.SHN_UNDEF && s.Section < elf.SHN_LORESERVE)
			if defined && exported(elf.ST_BIND(s.Info), elf.ST_TYPE(s.Info), s.Name) {
				exports = append(exports, s.Name)
			}
		}
	}
	if out == nil {
		return fail(fmt.Errorf("%w: no member of the archive holds Go build info (.go.buildinfo)", ErrNoBuildInfo))
	}
	out.Class, out.Machine = class, machine
	sort.Strings(exports)
	out.CExports = slices.Compact(exports)
	return out, nil
}

// member is one file of an ar archive: its name and where its bytes are.
type member struct {
	name      string
	off, size int64
}

// archiveMembers lists the members of the ar archive r of the given size,
// leaving out the symbol index and the long-name table. It reads the GNU
// (System V) and the BSD formats.
func archiveMembers(r io.ReaderAt, size int64) ([]member, error) {
	const headerSize = 60
	var out []member
	var longNames []byte
	off := int64(len(ArchiveMagic))
	for off < size {
		if len(out) >= maxArchiveMembers {
			return nil, fmt.Errorf("more than %d members", maxArchiveMembers)
		}
		if size-off < headerSize {
			return nil, fmt.Errorf("truncated member header at offset %d", off)
		}
		var h [headerSize]byte
		if _, err := r.ReadAt(h[:], off); err != nil {
			return nil, fmt.Errorf("member header at offset %d: %w", off, err)
		}
		if string(h[58:60]) != "`\n" {
			return nil, fmt.Errorf("member header at offset %d: bad terminator %q", off, h[58:60])
		}
		n, err := strconv.ParseInt(strings.TrimRight(string(h[48:58]), " "), 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("member header at offset %d: bad size %q", off, h[48:58])
		}
		data := off + headerSize
		if n > size-data {
			return nil, fmt.Errorf("member at offset %d: %d bytes, past the end of the archive", off, n)
		}
		name := strings.TrimRight(string(h[:16]), " ")
		m := member{off: data, size: n}
		switch {
		case name == "/" || name == "/SYM64/" || name == "__.SYMDEF" || name == "__.SYMDEF SORTED":
			m.size = -1 // the symbol index
		case name == "//":
			if n > maxLongNames {
				return nil, fmt.Errorf("long-name table of %d bytes, over the limit of %d", n, maxLongNames)
			}
			longNames = make([]byte, n)
			if _, err := r.ReadAt(longNames, data); err != nil {
				return nil, fmt.Errorf("long-name table: %w", err)
			}
			m.size = -1
		case strings.HasPrefix(name, "#1/"): // BSD: the name starts the data
			k, err := strconv.ParseInt(name[3:], 10, 64)
			if err != nil || k < 0 || k > n || k > 4096 {
				return nil, fmt.Errorf("member at offset %d: bad BSD name length %q", off, name)
			}
			b := make([]byte, k)
			if _, err := r.ReadAt(b, data); err != nil {
				return nil, fmt.Errorf("member at offset %d: %w", off, err)
			}
			m.name, m.off, m.size = string(bytes.TrimRight(b, "\x00")), data+k, n-k
		case strings.HasPrefix(name, "/") && len(name) > 1: // GNU: an offset into the long-name table
			k, err := strconv.Atoi(name[1:])
			if err != nil || k < 0 || k >= len(longNames) {
				return nil, fmt.Errorf("member at offset %d: bad long name %q", off, name)
			}
			end := bytes.Index(longNames[k:], []byte("/\n"))
			if end < 0 {
				end = len(longNames) - k
			}
			m.name = string(longNames[k : k+end])
		default:
			m.name = strings.TrimSuffix(name, "/")
		}
		if m.size >= 0 {
			out = append(out, m)
		}
		off = data + n + n%2
	}
	return out, nil
}

// buildInfoMagic starts the build info blob in .go.buildinfo.
const buildInfoMagic = "\xff Go buildinf:"

// sectionBuildInfo reads the build info of the .go.buildinfo section of
// an object file: nil when it has none. Only the form with the strings
// inline (go1.18 and later) is read; a relocatable object's pointers are
// not relocated yet, so the older form cannot be.
func sectionBuildInfo(f *elf.File) (*debug.BuildInfo, error) {
	sec := f.Section(".go.buildinfo")
	if sec == nil || sec.Type == elf.SHT_NOBITS {
		return nil, nil
	}
	if sec.Size > maxBuildInfoSection {
		return nil, fmt.Errorf(".go.buildinfo: %d bytes, over the limit of %d", sec.Size, maxBuildInfoSection)
	}
	data, err := io.ReadAll(io.LimitReader(sec.Open(), maxBuildInfoSection))
	if err != nil {
		return nil, fmt.Errorf(".go.buildinfo: %w", err)
	}
	const headerSize, flagsInline = 32, 0x2
	i := bytes.Index(data, []byte(buildInfoMagic))
	if i < 0 || len(data)-i < headerSize {
		return nil, errors.New(".go.buildinfo: no build info in it")
	}
	data = data[i:]
	if data[15]&flagsInline == 0 {
		return nil, errors.New(".go.buildinfo: build info of a toolchain before go1.18, whose strings are not inline")
	}
	version, rest, ok := inlineString(data[headerSize:])
	if !ok {
		return nil, errors.New(".go.buildinfo: damaged Go version")
	}
	mod, _, ok := inlineString(rest)
	if !ok {
		return nil, errors.New(".go.buildinfo: damaged module information")
	}
	// The module information is framed by 16 bytes on either side.
	if len(mod) >= 33 && mod[len(mod)-17] == '\n' {
		mod = mod[16 : len(mod)-16]
	} else {
		mod = ""
	}
	bi, err := debug.ParseBuildInfo(mod)
	if err != nil {
		return nil, fmt.Errorf(".go.buildinfo: %w", err)
	}
	bi.GoVersion = version
	return bi, nil
}

// inlineString reads a string the linker writes as its length (a uvarint)
// and its bytes.
func inlineString(b []byte) (s string, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return "", nil, false
	}
	return string(b[k : k+int(n)]), b[k+int(n):], true
}
