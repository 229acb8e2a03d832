package abi

import (
	"debug/buildinfo"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"

	"github.com/pbuild/pbuild/loader/internal/regfile"
)

// File is what an executable or plugin tells about its ABI.
type File struct {
	Path    string
	Class   elf.Class
	Machine elf.Machine
	// Plugin reports a file built with -buildmode=plugin.
	Plugin bool
	// PluginPath is the pluginpath the runtime compares (and reports
	// "plugin already loaded" on), in the linker's form (see [LinkerPath]):
	// the value of the go:link.thispluginpath symbol, which the linker
	// emits into plugins only, or, when the symbol table has been stripped,
	// the build info's path escaped the way the linker escapes it. For a
	// plugin built from a package directory the two agree; for one built
	// from a list of .go files the linker's path is "plugin/unnamed-..."
	// and only the symbol has it (a stripped one cannot be told apart). It
	// is "" for other files.
	PluginPath string
	// RealPath and FileID identify the file the way plugin.Open (by its
	// real path) and the dynamic linker (by device and inode) do; set by
	// ReadFile and [Identify], "" when unknown.
	RealPath string
	FileID   string
	// Packages maps the import path of every package linked in to the first
	// 8 bytes of the hash of its export data, in hex (see [PackageHashes]).
	// Hosts have them only when they link package plugin.
	Packages map[string]string
	// GoVersion, MainPath (the main package), MainModule and MainVersion
	// (the main module's version, "(devel)" for a local build) come from the
	// build info; Deps maps module path to version (a replacement's
	// version, or "=> dir" for a directory replacement the build info
	// gives no version); DepVersions maps module path to the version the
	// build info records, the replacement's as it is (possibly "" or
	// "(devel)" for a directory); Settings holds the build settings
	// (-trimpath, -tags, CGO_ENABLED, GOAMD64, ...).
	GoVersion   string
	MainPath    string
	MainModule  string
	MainVersion string
	Deps        map[string]string
	DepVersions map[string]string
	// Replaces maps a replaced dependency to its replacement, as the build
	// info records it: a directory ("../api") or a module and version
	// ("example.com/fork v1.2.0").
	Replaces map[string]string
	Settings map[string]string
	// CSymbols are the C symbols the file defines for the dynamic linker
	// (see [CSymbol]), sorted by section and address; CgoExports maps the
	// C name of a cgo //export to the hash of its package's cgo files.
	CSymbols   []CSymbol
	CgoExports map[string]string
	// CExports are the C symbols a C program can use from the file, sorted:
	// the defined global functions and variables of its .dynsym (for a
	// c-archive, of its members' symbol tables; see [ReadArchive]) that are
	// neither Go's nor the cgo and runtime glue every cgo object defines
	// alike (see [CSymbol]). For a c-shared library they are what a C
	// host can dlsym: the //export functions of its Go code and the
	// global C functions and variables of its cgo code.
	CExports []string
	// GLIBC is the highest GLIBC_x.y symbol version the file needs, or "";
	// GLIBCNeeds lists every GLIBC_* version it needs, sorted by
	// [CompareGLIBC] (nil for none, and for a c-archive, whose needs are
	// decided when a C program links it).
	GLIBC      string
	GLIBCNeeds []string
	// Corrupt is damage found in the structures the dynamic linker trusts
	// (see [CorruptError]); nil when there is none or when the file was not
	// checked (only plugins are). A damaged file's other facts may be
	// incomplete; Check reports it as [CorruptELF].
	Corrupt *CorruptError
}

// Errors a *ReadError wraps for a file that is not a Go ELF binary at all,
// as opposed to one that cannot be read or is corrupt.
var (
	// ErrNotELF: the file has no valid ELF header.
	ErrNotELF = errors.New("not an ELF file")
	// ErrNoBuildInfo: the file is ELF but carries no Go build info.
	ErrNoBuildInfo = errors.New("no Go build info")
	// ErrNotRegular: ReadFile was given a named pipe, a device, a socket
	// or a directory ("not a regular file: a named pipe"), which it refuses
	// without reading (and without blocking on a pipe).
	ErrNotRegular = regfile.ErrNotRegular
)

// ReadError is a file that is not a readable Go ELF binary. Err wraps
// [ErrNotELF] or [ErrNoBuildInfo] when the file is not a Go ELF binary,
// [ErrNotRegular] when it is not a regular file.
type ReadError struct {
	Path string
	Err  error
}

func (e *ReadError) Error() string { return fmt.Sprintf("read %s: %v", e.Path, e.Err) }
func (e *ReadError) Unwrap() error { return e.Err }

// ReadFile reads the ABI facts of an ELF file, and its identity
// (File.RealPath, File.FileID). It opens only regular files: a named
// pipe, a device or a directory is a *ReadError wrapping [ErrNotRegular],
// returned at once (the file is opened non-blocking and checked with fstat
// before anything is read).
func ReadFile(path string) (*File, error) {
	f, fi, err := regfile.Open(path)
	if err != nil {
		return nil, &ReadError{Path: path, Err: err}
	}
	defer f.Close()
	out, err := Read(f, path)
	if err != nil {
		return nil, err
	}
	if abs, err := filepath.Abs(path); err == nil {
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			out.RealPath, out.FileID = real, fileID(fi)
		}
	}
	return out, nil
}

// Read reads the ABI facts of an ELF file; name is used in messages.
//
// A plugin (a file whose build info says -buildmode=plugin) is also checked
// for damage to the structures the dynamic linker trusts when it maps and
// relocates it; damage is not an error but sets File.Corrupt, so that Check
// gives a verdict on the file. So is an ELF shared object whose sections
// debug/elf cannot read because of such damage, and one that has a
// .go.buildinfo section but no readable build info. Every error is a
// *ReadError: a file that is not ELF at all wraps [ErrNotELF], one without
// Go build info [ErrNoBuildInfo].
func Read(r io.ReaderAt, name string) (*File, error) {
	ef, err := elf.NewFile(r)
	if err != nil {
		if f := damagedSharedObject(r, name, false); f != nil {
			return f, nil
		}
		var fe *elf.FormatError
		if errors.As(err, &fe) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w: %w", ErrNotELF, err)
		}
		return nil, &ReadError{Path: name, Err: err}
	}
	defer ef.Close()
	bi, err := buildinfo.Read(r)
	if err != nil {
		// The Go linker always writes .go.buildinfo: a shared object that
		// has the section but no readable build info is a damaged Go one.
		if ef.Type == elf.ET_DYN && ef.Section(".go.buildinfo") != nil {
			f := damagedSharedObject(r, name, true)
			if f == nil {
				f = damagedFile(name, ef.Class, ef.Machine, &CorruptError{Structure: "Go build info (.go.buildinfo)", Offset: -1, Detail: err.Error()})
			}
			return f, nil
		}
		return nil, &ReadError{Path: name, Err: fmt.Errorf("%w: %w", ErrNoBuildInfo, err)}
	}
	out := fromBuildInfo(name, bi)
	out.Class, out.Machine = ef.Class, ef.Machine
	out.Plugin = out.Settings["-buildmode"] == "plugin"
	if out.Plugin {
		out.Corrupt = validate(r, true)
	}
	dyn, err := ef.DynamicSymbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		if out.Corrupt == nil {
			return nil, &ReadError{Path: name, Err: fmt.Errorf("reading .dynsym: %w", err)}
		}
		dyn = nil
	}
	if out.Packages, err = packageHashes(ef, dyn); err != nil {
		if out.Corrupt == nil {
			return nil, &ReadError{Path: name, Err: err}
		}
		out.Packages = map[string]string{}
	}
	if out.PluginPath, err = thisPluginPath(ef); err != nil && out.Corrupt == nil {
		return nil, &ReadError{Path: name, Err: err}
	}
	if out.PluginPath == "" && out.Plugin {
		out.PluginPath = LinkerPath(bi.Path)
	}
	if out.Corrupt == nil {
		out.CSymbols, out.CgoExports, out.CExports = readCSymbols(ef, dyn)
	}
	out.GLIBCNeeds = glibcNeeds(ef)
	if n := len(out.GLIBCNeeds); n > 0 {
		out.GLIBC = out.GLIBCNeeds[n-1]
	}
	return out, nil
}

// fromBuildInfo is the File of a Go binary with build info bi, its ELF
// facts left for the caller.
func fromBuildInfo(name string, bi *debug.BuildInfo) *File {
	out := &File{
		Path: name, GoVersion: bi.GoVersion, MainPath: bi.Path, MainModule: bi.Main.Path, MainVersion: bi.Main.Version,
		Packages:    map[string]string{},
		Deps:        make(map[string]string, len(bi.Deps)),
		DepVersions: make(map[string]string, len(bi.Deps)),
		Replaces:    map[string]string{},
		Settings:    make(map[string]string, len(bi.Settings)),
	}
	for _, d := range bi.Deps {
		if d == nil {
			continue
		}
		v := d.Version
		if d.Replace != nil {
			v = d.Replace.Version
		}
		out.DepVersions[d.Path] = v
		if r := d.Replace; r != nil {
			out.Replaces[d.Path] = strings.TrimSpace(r.Path + " " + r.Version)
			if isDirPath(r.Path) {
				out.Replaces[d.Path] = r.Path
			}
		}
		if d.Replace != nil && v == "" {
			v = "=> " + d.Replace.Path
		}
		out.Deps[d.Path] = v
	}
	for _, s := range bi.Settings {
		out.Settings[s.Key] = s.Value
	}
	return out
}

// BuildMode is the -buildmode the file was built with: the build info's,
// "exe" when it records none.
func (f *File) BuildMode() string { return orDefault(f.Settings["-buildmode"], "exe") }

// validate runs validateELF on r, whose size it finds out.
func validate(r io.ReaderAt, goPlugin bool) *CorruptError {
	size, err := readerSize(r)
	if err != nil {
		return &CorruptError{Structure: "file", Offset: -1, Detail: "cannot tell its size: " + err.Error()}
	}
	var ce *CorruptError
	if err := validateELF(r, size, goPlugin); err != nil && !errors.As(err, &ce) {
		ce = &CorruptError{Structure: "file", Offset: -1, Detail: err.Error()}
	}
	return ce
}

// damagedSharedObject returns the File of an ELF shared object that
// debug/elf or debug/buildinfo could not read because the structures the
// dynamic linker trusts are damaged, or nil when the file is not an ELF
// shared object or no such damage is found.
func damagedSharedObject(r io.ReaderAt, name string, goPlugin bool) *File {
	var ident [elf.EI_NIDENT + 4]byte
	if n, _ := r.ReadAt(ident[:], 0); n < len(ident) || string(ident[:4]) != elf.ELFMAG {
		return nil
	}
	var bo binary.ByteOrder
	switch elf.Data(ident[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
		bo = binary.LittleEndian
	case elf.ELFDATA2MSB:
		bo = binary.BigEndian
	default:
		return nil
	}
	class := elf.Class(ident[elf.EI_CLASS])
	if (class != elf.ELFCLASS32 && class != elf.ELFCLASS64) || elf.Type(bo.Uint16(ident[16:])) != elf.ET_DYN {
		return nil
	}
	ce := validate(r, goPlugin)
	if ce == nil {
		return nil
	}
	return damagedFile(name, class, elf.Machine(bo.Uint16(ident[18:])), ce)
}

// damagedFile is what Read returns for a damaged shared object: what its
// ELF header says, the damage, and empty tables.
func damagedFile(name string, class elf.Class, machine elf.Machine, ce *CorruptError) *File {
	return &File{Path: name, Class: class, Machine: machine, Corrupt: ce,
		Packages: map[string]string{}, Deps: map[string]string{}, DepVersions: map[string]string{}, Settings: map[string]string{}}
}

// readerSize is the size of what r reads: from its Size or Stat method,
// else found by reading.
func readerSize(r io.ReaderAt) (int64, error) {
	switch v := r.(type) {
	case interface{ Size() int64 }:
		return v.Size(), nil
	case interface{ Stat() (fs.FileInfo, error) }:
		fi, err := v.Stat()
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	// The smallest offset at which a one-byte read fails.
	var b [1]byte
	readable := func(off int64) bool { n, _ := r.ReadAt(b[:], off); return n == 1 }
	lo, hi := int64(0), int64(1)
	for readable(hi - 1) {
		if hi > 1<<50 {
			return 0, errors.New("larger than 1 PiB")
		}
		lo, hi = hi, hi*2
	}
	// readable(lo-1) holds (or lo is 0); readable(hi-1) does not.
	for lo < hi {
		mid := lo + (hi-lo)/2
		if readable(mid) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

const (
	pkgHashBytesPrefix = "go:link.pkghashbytes."
	pkgHashBytesSize   = 8
	thisPluginPathSym  = "go:link.thispluginpath"

	// maxSymbolRead bounds reads of symbol contents, so a corrupt symbol
	// size cannot make us allocate unbounded memory.
	maxSymbolRead = 1 << 20
)

// PackageHashes returns the go:link.pkghashbytes.<importpath> symbols of f as
// import path -> 16 lowercase hex digits. It reads the dynamic symbol table,
// which survives stripping, and falls back to .symtab when .dynsym has none
// of these symbols. It works for ELF files of any class, byte order and
// machine. The result is empty, not nil, when there are no such symbols.
//
// A symbol of another size than 8 bytes, with an empty import path, whose
// bytes lie outside its section or in a section without file contents, or
// defined twice with different values, is an error.
func PackageHashes(f *elf.File) (map[string]string, error) {
	dyn, err := f.DynamicSymbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return nil, fmt.Errorf("reading .dynsym: %w", err)
	}
	return packageHashes(f, dyn)
}

// packageHashes is PackageHashes with .dynsym already read.
func packageHashes(f *elf.File, dyn []elf.Symbol) (map[string]string, error) {
	hashes, err := collectPackageHashes(f, dyn)
	if err != nil {
		return nil, err
	}
	if len(hashes) > 0 {
		return hashes, nil
	}
	syms, err := f.Symbols()
	if err != nil {
		if errors.Is(err, elf.ErrNoSymbols) {
			return hashes, nil
		}
		return nil, fmt.Errorf("reading .symtab: %w", err)
	}
	return collectPackageHashes(f, syms)
}

func collectPackageHashes(f *elf.File, syms []elf.Symbol) (map[string]string, error) {
	hashes := make(map[string]string)
	for _, s := range syms {
		pkg, ok := strings.CutPrefix(s.Name, pkgHashBytesPrefix)
		if !ok || s.Section == elf.SHN_UNDEF {
			continue
		}
		if pkg == "" {
			return nil, fmt.Errorf("symbol %q: empty import path", s.Name)
		}
		if s.Size != pkgHashBytesSize {
			return nil, fmt.Errorf("symbol %s: size %d, want %d", s.Name, s.Size, pkgHashBytesSize)
		}
		b, err := symbolData(f, s)
		if err != nil {
			return nil, fmt.Errorf("symbol %s: %w", s.Name, err)
		}
		h := hex.EncodeToString(b)
		if prev, dup := hashes[pkg]; dup && prev != h {
			return nil, fmt.Errorf("symbol %s: conflicting values %s and %s", s.Name, prev, h)
		}
		hashes[pkg] = h
	}
	return hashes, nil
}

// thisPluginPath returns the value of go:link.thispluginpath from .symtab,
// or "" when there is no such symbol or no symbol table.
func thisPluginPath(f *elf.File) (string, error) {
	syms, err := f.Symbols()
	if err != nil {
		if errors.Is(err, elf.ErrNoSymbols) {
			return "", nil
		}
		return "", fmt.Errorf("reading .symtab: %w", err)
	}
	for _, s := range syms {
		if s.Name != thisPluginPathSym || s.Section == elf.SHN_UNDEF {
			continue
		}
		b, err := symbolData(f, s)
		if err != nil {
			return "", fmt.Errorf("symbol %s: %w", s.Name, err)
		}
		return string(b), nil
	}
	return "", nil
}

// symbolData returns the Size bytes a defined symbol's value points at, read
// from the section the symbol belongs to.
func symbolData(f *elf.File, s elf.Symbol) ([]byte, error) {
	if s.Size > maxSymbolRead {
		return nil, fmt.Errorf("size %d too large", s.Size)
	}
	if s.Section == elf.SHN_UNDEF || s.Section >= elf.SHN_LORESERVE {
		return nil, fmt.Errorf("not in a section (section index %v)", s.Section)
	}
	if int(s.Section) >= len(f.Sections) {
		return nil, fmt.Errorf("section index %d out of range", s.Section)
	}
	sec := f.Sections[s.Section]
	if sec.Type == elf.SHT_NOBITS {
		return nil, fmt.Errorf("in section %s, which has no file contents", sec.Name)
	}
	// In relocatable objects a symbol's value is an offset into its section;
	// elsewhere it is an address.
	off := s.Value
	if f.Type != elf.ET_REL {
		if s.Value < sec.Addr {
			return nil, fmt.Errorf("address %#x outside section %s", s.Value, sec.Name)
		}
		off = s.Value - sec.Addr
	}
	if off > sec.Size || s.Size > sec.Size-off {
		return nil, fmt.Errorf("%d bytes at %#x extend beyond section %s", s.Size, s.Value, sec.Name)
	}
	buf := make([]byte, s.Size)
	if s.Size == 0 {
		return buf, nil
	}
	r := sec.Open()
	if _, err := r.Seek(int64(off), io.SeekStart); err != nil {
		return nil, fmt.Errorf("section %s: %w", sec.Name, err)
	}
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("section %s: %w", sec.Name, err)
	}
	return buf, nil
}

// glibcNeeds lists the GLIBC_* versions of the imported symbols, sorted
// by CompareGLIBC; nil when there are none.
func glibcNeeds(f *elf.File) []string {
	syms, err := f.ImportedSymbols()
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, s := range syms {
		if strings.HasPrefix(s.Version, "GLIBC_") && !seen[s.Version] {
			seen[s.Version] = true
			out = append(out, s.Version)
		}
	}
	SortGLIBC(out)
	return out
}

// SortGLIBC sorts versions such as "GLIBC_2.34" by CompareGLIBC, ties
// (GLIBC_2.3 and GLIBC_2.3.0) by name.
func SortGLIBC(vs []string) {
	sort.Slice(vs, func(i, j int) bool {
		if c := CompareGLIBC(vs[i], vs[j]); c != 0 {
			return c < 0
		}
		return vs[i] < vs[j]
	})
}

// CompareGLIBC compares versions such as "GLIBC_2.34" or "2.34"; "" is the
// lowest.
func CompareGLIBC(a, b string) int {
	pa, pb := glibcParts(a), glibcParts(b)
	for i := 0; i < len(pa) || i < len(pb); i++ {
		x, y := part(pa, i), part(pb, i)
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

func glibcParts(v string) []int {
	v = strings.TrimPrefix(v, "GLIBC_")
	if v == "" {
		return nil
	}
	var out []int
	for _, p := range strings.Split(v, ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			break
		}
		out = append(out, n)
	}
	if out == nil {
		return []int{-1}
	}
	return out
}

func part(p []int, i int) int {
	if i < len(p) {
		return p[i]
	}
	if len(p) == 0 {
		return -1
	}
	return 0
}

// isDirPath reports whether a replacement path is a directory, as the go
// command tells it: absolute, or starting with ./ or ../.
func isDirPath(p string) bool {
	return filepath.IsAbs(p) || p == "." || p == ".." || strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../") ||
		strings.HasPrefix(p, `.\`) || strings.HasPrefix(p, `..\`)
}

// isStd reports whether an import path is in the standard library.
func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}
