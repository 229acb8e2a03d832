package manifests

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
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
// platform words, and every artifact: a valid, unique name; a known kind,
// at most one host; a file that is a clean relative slash path inside the
// output directory, unique, not inside another artifact's file and not the
// manifest's own name; a size >= 0; a sha256 of 64 lowercase hex digits;
// package hashes of 16. The first broken rule is returned as a
// *FieldError. Read validates every manifest it returns.
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
	names := map[string]int{}
	files := map[string]int{}
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
		default:
			return fail(at+".kind", "unknown kind %q; want %q or %q", a.Kind, KindHost, KindPlugin)
		}
		if err := CheckFile(a.File); err != nil {
			return fail(at+".file", "%v", err)
		}
		if j, dup := files[a.File]; dup {
			return fail(at+".file", "%q is also artifacts[%d].file", a.File, j)
		}
		files[a.File] = i
		if a.Size < 0 {
			return fail(at+".size", "%d is negative", a.Size)
		}
		if !isHex(a.SHA256, 64) {
			return fail(at+".sha256", "%q is not 64 lowercase hex digits", a.SHA256)
		}
		for _, pkg := range slices.Sorted(maps.Keys(a.Packages)) {
			if h := a.Packages[pkg]; !isHex(h, 16) {
				return fail(fmt.Sprintf("%s.packages[%q]", at, pkg), "%q is not 16 lowercase hex digits", h)
			}
		}
	}
	// A file cannot also be a directory of another artifact's file.
	for i, a := range m.Artifacts {
		for d := path.Dir(a.File); d != "."; d = path.Dir(d) {
			if j, ok := files[d]; ok {
				return fail(fmt.Sprintf("artifacts[%d].file", i), "%q is inside artifacts[%d].file %q", a.File, j, d)
			}
		}
	}
	return nil
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
	case strings.ContainsFunc(f, func(c rune) bool { return c < 0x20 || c == 0x7f }):
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
