package manifests

import (
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

const (
	pkgHashBytesPrefix = "go:link.pkghashbytes."
	pkgHashBytesSize   = 8
	thisPluginPathSym  = "go:link.thispluginpath"

	// maxSymbolRead bounds reads of symbol contents, so a corrupt symbol
	// size cannot make us allocate unbounded memory.
	maxSymbolRead = 1 << 20
)

// NotGoBinaryError reports a file that is not an ELF file or carries no Go
// build information.
type NotGoBinaryError struct {
	Path string
	Err  error
}

func (e *NotGoBinaryError) Error() string {
	return fmt.Sprintf("inspect %s: not a Go ELF binary: %v", e.Path, e.Err)
}

func (e *NotGoBinaryError) Unwrap() error { return e.Err }

// InspectFile reads the artifact at path without loading it and returns its
// Size, SHA256, PluginPath, BuildInfo and Packages. Name, Kind and File are
// left empty for the caller.
//
// PluginPath is set for plugins only: the value of the go:link.thispluginpath
// symbol, or, when the symbol table has been stripped, the build info's path
// if the file was built with -buildmode=plugin. For a plugin built from a
// package directory the two agree; for one built from a list of .go files
// the linker's path is "plugin/unnamed-..." and only the symbol has it.
//
// A file that is not ELF or has no Go build info gives a *NotGoBinaryError.
func InspectFile(path string) (Artifact, error) {
	f, err := os.Open(path)
	if err != nil {
		return Artifact{}, fmt.Errorf("inspect %s: %w", path, err)
	}
	defer f.Close()

	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return Artifact{}, fmt.Errorf("inspect %s: %w", path, err)
	}
	a := Artifact{
		Size:   size,
		SHA256: hex.EncodeToString(h.Sum(nil)),
	}

	magic := make([]byte, len(elf.ELFMAG))
	if _, err := f.ReadAt(magic, 0); err != nil && !errors.Is(err, io.EOF) {
		return Artifact{}, fmt.Errorf("inspect %s: %w", path, err)
	}
	if string(magic) != elf.ELFMAG {
		return Artifact{}, &NotGoBinaryError{Path: path, Err: errors.New("no ELF header")}
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Artifact{}, &NotGoBinaryError{Path: path, Err: err}
		}
		return Artifact{}, fmt.Errorf("inspect %s: %w", path, err)
	}
	bi, err := buildinfo.Read(f)
	if err != nil {
		return Artifact{}, &NotGoBinaryError{Path: path, Err: err}
	}
	a.BuildInfo = convertBuildInfo(bi)

	if a.Packages, err = PackageHashes(ef); err != nil {
		return Artifact{}, fmt.Errorf("inspect %s: %w", path, err)
	}

	pp, err := thisPluginPath(ef)
	if err != nil {
		return Artifact{}, fmt.Errorf("inspect %s: %w", path, err)
	}
	if pp == "" && a.BuildInfo.Settings["-buildmode"] == "plugin" {
		pp = bi.Path
	}
	a.PluginPath = pp
	return a, nil
}

func convertBuildInfo(bi *buildinfo.BuildInfo) BuildInfo {
	out := BuildInfo{
		GoVersion: bi.GoVersion,
		Path:      bi.Path,
		Main:      bi.Main.Path,
		Deps:      make(map[string]string, len(bi.Deps)),
		Settings:  make(map[string]string, len(bi.Settings)),
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" && bi.Main.Path != "" {
		out.Main += "@" + v
	}
	for _, d := range bi.Deps {
		if d == nil {
			continue
		}
		v := d.Version
		if d.Replace != nil {
			v = d.Replace.Version
		}
		out.Deps[d.Path] = v
	}
	for _, s := range bi.Settings {
		out.Settings[s.Key] = s.Value
	}
	return out
}

// thisPluginPath returns the value of go:link.thispluginpath from .symtab,
// or "" when there is no such symbol or no symbol table.
func thisPluginPath(f *elf.File) (string, error) {
	syms, err := f.Symbols()
	if err != nil {
		if errors.Is(err, elf.ErrNoSymbols) {
			return "", nil
		}
		return "", err
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

// PackageHashes returns the go:link.pkghashbytes.<importpath> symbols of f as
// import path -> 16 lowercase hex digits. It reads the dynamic symbol table,
// which survives stripping, and falls back to .symtab when .dynsym has none
// of these symbols. It works for ELF files of any class, byte order and
// machine. The result is empty, not nil, when there are no such symbols.
func PackageHashes(f *elf.File) (map[string]string, error) {
	dyn, err := f.DynamicSymbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return nil, fmt.Errorf("reading .dynsym: %w", err)
	}
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
