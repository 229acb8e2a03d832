package abi

import (
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// File is what an executable or plugin tells about its ABI.
type File struct {
	Path    string
	Class   elf.Class
	Machine elf.Machine
	// Plugin reports a file built with -buildmode=plugin.
	Plugin     bool
	PluginPath string
	// Packages maps the import path of every package linked in to the first
	// 8 bytes of the hash of its export data, in hex. Hosts have them only
	// when they link package plugin.
	Packages map[string]string
	// GoVersion, MainPath (the main package) and MainModule come from the
	// build info; Deps maps module path to version (a replacement's
	// version, or "=> dir" for a directory replacement); Settings holds the
	// build settings (-trimpath, -tags, CGO_ENABLED, GOAMD64, ...).
	GoVersion  string
	MainPath   string
	MainModule string
	Deps       map[string]string
	Settings   map[string]string
	// GLIBC is the highest GLIBC_x.y symbol version the file needs, or "".
	GLIBC string
}

// ReadError is a file that is not a readable Go ELF binary.
type ReadError struct {
	Path string
	Err  error
}

func (e *ReadError) Error() string { return fmt.Sprintf("read %s: %v", e.Path, e.Err) }
func (e *ReadError) Unwrap() error { return e.Err }

// ReadFile reads the ABI facts of an ELF file.
func ReadFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &ReadError{Path: path, Err: err}
	}
	defer f.Close()
	return Read(f, path)
}

// Read reads the ABI facts of an ELF file; name is used in messages.
func Read(r io.ReaderAt, name string) (*File, error) {
	ef, err := elf.NewFile(r)
	if err != nil {
		return nil, &ReadError{Path: name, Err: fmt.Errorf("not an ELF file: %w", err)}
	}
	defer ef.Close()
	out := &File{Path: name, Class: ef.Class, Machine: ef.Machine, Deps: map[string]string{}, Settings: map[string]string{}}
	if out.Packages, err = packageHashes(ef); err != nil {
		return nil, &ReadError{Path: name, Err: err}
	}
	bi, err := buildinfo.Read(r)
	if err != nil {
		return nil, &ReadError{Path: name, Err: fmt.Errorf("no Go build info: %w", err)}
	}
	out.GoVersion, out.MainPath, out.MainModule = bi.GoVersion, bi.Path, bi.Main.Path
	for _, d := range bi.Deps {
		v := d.Version
		if d.Replace != nil {
			v = d.Replace.Version
			if v == "" {
				v = "=> " + d.Replace.Path
			}
		}
		out.Deps[d.Path] = v
	}
	for _, s := range bi.Settings {
		out.Settings[s.Key] = s.Value
	}
	out.Plugin = out.Settings["-buildmode"] == "plugin"
	if out.Plugin {
		out.PluginPath = thisPluginPath(ef)
		if out.PluginPath == "" {
			out.PluginPath = bi.Path
		}
	}
	out.GLIBC = highestGLIBC(ef)
	return out, nil
}

const hashPrefix = "go:link.pkghashbytes."

// packageHashes reads go:link.pkghashbytes.* from .dynsym, else .symtab.
func packageHashes(f *elf.File) (map[string]string, error) {
	out := map[string]string{}
	for _, load := range []func() ([]elf.Symbol, error){f.DynamicSymbols, f.Symbols} {
		syms, err := load()
		if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
			return nil, err
		}
		for _, s := range syms {
			pkg, ok := strings.CutPrefix(s.Name, hashPrefix)
			if !ok || s.Section == elf.SHN_UNDEF {
				continue
			}
			data, err := symbolData(f, s)
			if err != nil {
				return nil, fmt.Errorf("symbol %s: %w", s.Name, err)
			}
			out[pkg] = hex.EncodeToString(data)
		}
		if len(out) > 0 {
			break
		}
	}
	return out, nil
}

// thisPluginPath reads go:link.thispluginpath, present unless stripped.
func thisPluginPath(f *elf.File) string {
	syms, err := f.Symbols()
	if err != nil {
		return ""
	}
	for _, s := range syms {
		if s.Name == "go:link.thispluginpath" {
			if data, err := symbolData(f, s); err == nil {
				return string(data)
			}
		}
	}
	return ""
}

func symbolData(f *elf.File, s elf.Symbol) ([]byte, error) {
	if int(s.Section) >= len(f.Sections) {
		return nil, errors.New("no section")
	}
	sec := f.Sections[s.Section]
	if sec.Type == elf.SHT_NOBITS {
		return nil, errors.New("in a section without data")
	}
	if s.Value < sec.Addr || s.Value+s.Size > sec.Addr+sec.Size {
		return nil, errors.New("outside its section")
	}
	data := make([]byte, s.Size)
	if _, err := sec.ReadAt(data, int64(s.Value-sec.Addr)); err != nil {
		return nil, err
	}
	return data, nil
}

// highestGLIBC is the highest GLIBC_x.y version among the imported symbols.
func highestGLIBC(f *elf.File) string {
	syms, err := f.ImportedSymbols()
	if err != nil {
		return ""
	}
	best := ""
	for _, s := range syms {
		if strings.HasPrefix(s.Version, "GLIBC_") && CompareGLIBC(s.Version, best) > 0 {
			best = s.Version
		}
	}
	return best
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

// isStd reports whether an import path is in the standard library.
func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}
