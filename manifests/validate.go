package manifests

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/pbuild/pbuild/config"
)

// FieldError is a manifest value that breaks a rule of the format.
type FieldError struct {
	Field string // e.g. "artifacts[2].file"
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate checks the values of m against the rules of the format (the
// JSON Schema says the same where it can): the ABI key, against, the
// platform words, the toolchain's packages (Debian NAME[:ARCH][=VERSION]),
// and every artifact: a valid, unique name; a known kind (C-ABI kinds only
// from schema version 2 on), at most one host; a file that is a clean
// relative slash path inside the output directory, unique, not inside
// another artifact's file and not the manifest's own name; a size >= 0; a
// sha256 of 64 lowercase hex digits; package hashes of 16; LoadedBy
// without control characters; a header on every C-ABI library and on
// nothing else, its file held to the rules of an artifact's file (unique
// among every artifact's and header's file); no pluginpath on a C-ABI
// library, C symbols on C-ABI libraries only; C symbol names without
// spaces or control
// characters; GLIBC versions GLIBC_x.y[.z] (or GLIBC_PRIVATE). The
// first broken rule is returned as a *FieldError. Read validates every
// manifest it returns.
func (m *Manifest) Validate() error {
	fail := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if h, ok := strings.CutPrefix(m.ABIKey, "sha256:"); !ok || !isHex(h, 64) {
		return fail("abiKey", `%q is not "sha256:" and 64 lowercase hex digits`, m.ABIKey)
	}
	if m.Against != "" && !isHex(m.Against, 64) {
		return fail("against", "%q is not 64 lowercase hex digits", m.Against)
	}
	if !isWord(m.Toolchain.GOOS) {
		return fail("toolchain.goos", "%q is not a lowercase word", m.Toolchain.GOOS)
	}
	if !isWord(m.Toolchain.GOARCH) {
		return fail("toolchain.goarch", "%q is not a lowercase word", m.Toolchain.GOARCH)
	}
	if g := m.Toolchain.GOAMD64; g != "" && !slices.Contains([]string{"v1", "v2", "v3", "v4"}, g) {
		return fail("toolchain.goamd64", "%q is not v1, v2, v3 or v4", g)
	}
	for i, p := range m.Toolchain.Packages {
		if err := CheckPackage(p); err != nil {
			return fail(fmt.Sprintf("toolchain.packages[%d]", i), "%v", err)
		}
	}
	names := map[string]int{}
	// files maps every artifact's and header's file to its field.
	files := map[string]string{}
	host := -1
	for i, a := range m.Artifacts {
		at := fmt.Sprintf("artifacts[%d]", i)
		if err := CheckName(a.Name); err != nil {
			return fail(at+".name", "%v", err)
		}
		if j, dup := names[a.Name]; dup {
			return fail(at+".name", "%q is also artifacts[%d].name", a.Name, j)
		}
		names[a.Name] = i
		switch a.Kind {
		case KindHost:
			if host >= 0 {
				return fail(at+".kind", "a second host; artifacts[%d] is the host", host)
			}
			host = i
		case KindPlugin:
		case KindCShared, KindCArchive:
			if m.SchemaVersion == MinSchemaVersion {
				return fail(at+".kind", "kind %q needs schemaVersion %d", a.Kind, SchemaVersion)
			}
		default:
			return fail(at+".kind", "unknown kind %q; want one of %s", a.Kind, quoteList(Kinds()))
		}
		if err := fileFields(files, at, a.File, a.Size, a.SHA256); err != nil {
			return err
		}
		for _, pkg := range slices.Sorted(maps.Keys(a.Packages)) {
			if h := a.Packages[pkg]; !isHex(h, 16) {
				return fail(fmt.Sprintf("%s.packages[%q]", at, pkg), "%q is not 16 lowercase hex digits", h)
			}
		}
		if hasControl(a.LoadedBy) {
			return fail(at+".loadedBy", "%q has a control character", a.LoadedBy)
		}
		if a.PluginPath != "" && a.Kind != KindPlugin && a.Kind != KindHost {
			// (A host's is tolerated: version 1 never forbade it.)
			return fail(at+".pluginpath", "a %s has no pluginpath", a.Kind)
		}
		switch h := a.Header; {
		case IsCABI(a.Kind) && h == nil:
			return fail(at+".header", "missing: a %s library has a C header", a.Kind)
		case !IsCABI(a.Kind) && h != nil:
			return fail(at+".header", "a %s has no C header; only c-shared and c-archive libraries do", a.Kind)
		case h != nil:
			if err := fileFields(files, at+".header", h.File, h.Size, h.SHA256); err != nil {
				return err
			}
		}
		if len(a.CSymbols) > 0 && !IsCABI(a.Kind) {
			return fail(at+".cSymbols", "a %s lists no C symbols; only c-shared and c-archive libraries do", a.Kind)
		}
		for j, sym := range a.CSymbols {
			if err := checkSymbol(sym); err != nil {
				return fail(fmt.Sprintf("%s.cSymbols[%d]", at, j), "%v", err)
			}
		}
		for j, v := range a.GLIBC {
			if !isGLIBCVersion(v) {
				return fail(fmt.Sprintf("%s.glibc[%d]", at, j), "%q is not GLIBC_x.y or GLIBC_PRIVATE", v)
			}
		}
	}
	// A file cannot also be a directory of another artifact's or header's
	// file.
	for _, f := range slices.Sorted(maps.Keys(files)) {
		for d := path.Dir(f); d != "."; d = path.Dir(d) {
			if other, ok := files[d]; ok {
				return fail(files[f], "%q is inside %s %q", f, other, d)
			}
		}
	}
	return nil
}

// fileFields checks the file, size and sha256 of an artifact or a header
// (at names it: the fields are at+".file" and so on), in that order, and
// records the file in files; another use of the same file is an error.
func fileFields(files map[string]string, at, f string, size int64, sum string) error {
	field := at + ".file"
	if err := CheckFile(f); err != nil {
		return &FieldError{Field: field, Msg: err.Error()}
	}
	if other, dup := files[f]; dup {
		return &FieldError{Field: field, Msg: fmt.Sprintf("%q is also %s", f, other)}
	}
	files[f] = field
	if size < 0 {
		return &FieldError{Field: at + ".size", Msg: fmt.Sprintf("%d is negative", size)}
	}
	if !isHex(sum, 64) {
		return &FieldError{Field: at + ".sha256", Msg: fmt.Sprintf("%q is not 64 lowercase hex digits", sum)}
	}
	return nil
}

// CheckPackage reports whether s may be a toolchain package: a Debian
// package name (lowercase letters, digits, '+', '-', '.', starting with a
// letter or digit, at least two characters), an optional ":ARCH" and an
// optional "=VERSION" (letters, digits, '.', '+', '~', '-', ':').
func CheckPackage(s string) error {
	rest, version, hasVersion := strings.Cut(s, "=")
	name, arch, hasArch := strings.Cut(rest, ":")
	switch {
	case len(name) < 2 || !isAlnum(name[0]) || strings.IndexFunc(name, func(c rune) bool { return !(c < 0x80 && (isAlnum(byte(c)) || strings.ContainsRune("+-.", c))) }) >= 0:
		return fmt.Errorf("%q is not a Debian package NAME[:ARCH][=VERSION]: bad name %q", s, name)
	case hasArch && (arch == "" || strings.IndexFunc(arch, func(c rune) bool { return !(c < 0x80 && (isAlnum(byte(c)) || c == '-')) }) >= 0):
		return fmt.Errorf("%q is not a Debian package NAME[:ARCH][=VERSION]: bad architecture %q", s, arch)
	case hasVersion && (version == "" || !isAlnum(version[0]) && !('A' <= version[0] && version[0] <= 'Z') || strings.IndexFunc(version, func(c rune) bool {
		return !(c < 0x80 && (isAlnum(byte(c)) || 'A' <= c && c <= 'Z' || strings.ContainsRune(".+~-:", c)))
	}) >= 0):
		return fmt.Errorf("%q is not a Debian package NAME[:ARCH][=VERSION]: bad version %q", s, version)
	}
	return nil
}

// checkSymbol reports whether s may be a C symbol's name: not empty, at
// most 4096 bytes, no spaces or control characters.
func checkSymbol(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case len(s) > 4096:
		return fmt.Errorf("%.20q... is longer than 4096 bytes", s)
	case strings.ContainsFunc(s, func(c rune) bool { return c <= ' ' || c == 0x7f }):
		return fmt.Errorf("%q has a space or a control character", s)
	}
	return nil
}

// isGLIBCVersion reports whether s is GLIBC_ and dot-separated numbers
// (at least two), or GLIBC_PRIVATE.
func isGLIBCVersion(s string) bool {
	v, ok := strings.CutPrefix(s, "GLIBC_")
	if !ok {
		return false
	}
	if v == "PRIVATE" {
		return true
	}
	parts := strings.Split(v, ".")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 9 || strings.IndexFunc(p, func(c rune) bool { return c < '0' || c > '9' }) >= 0 {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(c rune) bool { return c < 0x20 || c == 0x7f })
}

func isAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// quoteList is `"a", "b" or "c"`.
func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = strconv.Quote(v)
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// CheckName reports whether s is a valid artifact name: letters, digits,
// '.', '_' and '-', starting with a letter or digit, at most 64 bytes. The
// config allows the same names.
func CheckName(s string) error {
	if msg := config.CheckName(s); msg != "" {
		return errors.New(msg)
	}
	return nil
}

// CheckFile reports whether f may be an artifact's file: a clean,
// relative, slash-separated path inside the output directory (no "..",
// "." or empty elements, not absolute, no backslashes or control
// characters), and not the manifest's own name.
func CheckFile(f string) error {
	switch {
	case f == "":
		return fmt.Errorf("empty")
	case hasControl(f):
		return fmt.Errorf("%q has a control character", f)
	case strings.Contains(f, `\`):
		return fmt.Errorf(`%q has a backslash; separate directories with "/"`, f)
	case strings.HasPrefix(f, "/"):
		return fmt.Errorf("%q is absolute; it must be relative to the output directory", f)
	}
	depth := 0
	for _, e := range strings.Split(f, "/") {
		if e == ".." {
			if depth--; depth < 0 {
				return fmt.Errorf("%q leaves the output directory", f)
			}
		} else if e != "." && e != "" {
			depth++
		}
	}
	for _, e := range strings.Split(f, "/") {
		switch e {
		case "..":
			return fmt.Errorf(`%q is not a clean path: ".." elements are not allowed`, f)
		case ".":
			return fmt.Errorf(`%q is not a clean path: "." elements are not allowed`, f)
		case "":
			return fmt.Errorf("%q is not a clean path: empty elements are not allowed", f)
		}
	}
	if f == FileName {
		return fmt.Errorf("%q is the manifest's own name", f)
	}
	// Implied by the above; kept as the definition.
	if !filepath.IsLocal(filepath.FromSlash(f)) || path.Clean(f) != f {
		return fmt.Errorf("%q is not a local path", f)
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// isWord reports whether s is a GOOS or GOARCH-like word: lowercase
// letters and digits, not empty.
func isWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
