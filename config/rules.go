package config

import (
	"encoding/base64"
	"fmt"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"unicode/utf8"
)

// The rules for values, shared by the config file and the settings pbuild
// reads from elsewhere (CheckSettings, CheckName). Each check* function
// explains why its argument breaks the rule, or returns "".

// checkVersion checks a plugin version: it becomes a path element, so
// letters, digits, '.', '-' and '_', starting with a digit (a leading "v" is
// allowed and dropped).
func checkVersion(s string) string {
	if v := strings.TrimPrefix(s, "v"); !only(v, ".-_") || !isDigit(rune(v[0])) || len(v) > 32 {
		return fmt.Sprintf("invalid version %q; use digits, letters, '.', '-' and '_', starting with a digit, like 0.2 or 1.4.0", s)
	}
	return ""
}

// checkGoVersion checks the Go release of the toolchain.
func checkGoVersion(v string) string {
	if rest, ok := strings.CutPrefix(v, "go"); ok {
		if _, _, ok := parseRelease(rest); ok {
			return fmt.Sprintf("%q has a \"go\" prefix; write it as %s", v, rest)
		}
	}
	major, minor, ok := parseRelease(v)
	if !ok {
		return fmt.Sprintf("%q is not an exact Go release; write it like 1.24.4", v)
	}
	if major < 1 || major == 1 && minor < minGoMinor {
		return fmt.Sprintf("Go %s is too old; pbuild needs Go 1.%d or later (for \"go work vendor\")", v, minGoMinor)
	}
	return ""
}

// parseRelease parses an exact Go release such as "1.24.4", "1.25rc1" or
// "1.18beta2" and returns its major and minor numbers.
func parseRelease(v string) (major, minor int, ok bool) {
	major, rest, ok1 := leadingNumber(v)
	rest, ok2 := strings.CutPrefix(rest, ".")
	minor, rest, ok3 := leadingNumber(rest)
	sep := ""
	for _, s := range []string{".", "rc", "beta"} {
		if r, ok := strings.CutPrefix(rest, s); ok {
			sep, rest = s, r
			break
		}
	}
	n, rest, ok4 := leadingNumber(rest)
	return major, minor, ok1 && ok2 && ok3 && ok4 && rest == "" && (sep == "." || sep != "" && n > 0)
}

// leadingNumber parses the decimal number without leading zeros at the
// start of s and returns it with the rest of s.
func leadingNumber(s string) (n int, rest string, ok bool) {
	i := 0
	for i < len(s) && isDigit(rune(s[i])) {
		i++
	}
	if i == 0 || i > 9 || i > 1 && s[0] == '0' {
		return 0, s, false
	}
	n, _ = strconv.Atoi(s[:i])
	return n, s[i:], true
}

// checkBase checks an image reference.
func checkBase(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Sprintf("%q is not a valid image reference", s)
	}
	return ""
}

// checkSum checks a module hash as go.sum has it: "h1:" and the standard
// base64 encoding of a SHA-256 sum.
func checkSum(s string) string {
	b64, ok := strings.CutPrefix(s, "h1:")
	if sum, err := base64.StdEncoding.Strict().DecodeString(b64); !ok || len(b64) != 44 || err != nil || len(sum) != 32 {
		return fmt.Sprintf("%q is not a module hash; expected \"h1:\" followed by 44 base64 characters, as in go.sum", s)
	}
	return ""
}

// checkTag checks a build tag.
func checkTag(s string) string {
	if !only(s, "_.") {
		return fmt.Sprintf("invalid tag %q; tags may contain only letters, digits, '_' and '.'", s)
	}
	return ""
}

// checkEnvName checks the name of a variable of build.env: a valid name
// that pbuild does not set itself.
func checkEnvName(name string) string {
	switch {
	case !only(name, "_") || isDigit(rune(name[0])):
		return fmt.Sprintf("invalid variable name %q", name)
	case isReservedEnv(name):
		return fmt.Sprintf("%s is set by pbuild and cannot be overridden", name)
	}
	return ""
}

// CheckSettings applies the config file's rules to toolchain and build
// settings that come from elsewhere (a manifest pbuild rebuilds from or
// builds against), so that input read from there gets the same checks as
// the config. source names it in errors, which are *Error.
func CheckSettings(source string, t Toolchain, b Build) error {
	fail := func(field, msg string) error {
		return &Error{File: source, Field: field, Msg: msg, hint: "pbuild does not use settings it would refuse in a config: use a manifest pbuild wrote, unchanged"}
	}
	if msg := checkGoVersion(t.Go); msg != "" {
		return fail("toolchain.go", msg)
	}
	if msg := checkBase(t.Base); msg != "" {
		return fail("toolchain.base", msg)
	}
	if t.Sum != "" {
		if msg := checkSum(t.Sum); msg != "" {
			return fail("toolchain.sum", msg)
		}
	}
	for i, pkg := range t.Packages {
		if msg := checkPackage(pkg); msg != "" {
			return fail(fmt.Sprintf("toolchain.packages[%d]", i), msg)
		}
	}
	for i, tag := range b.Tags {
		if msg := checkTag(tag); msg != "" {
			return fail(fmt.Sprintf("build.tags[%d]", i), msg)
		}
		if slices.Index(b.Tags, tag) != i {
			return fail(fmt.Sprintf("build.tags[%d]", i), fmt.Sprintf("duplicate tag %q", tag))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(b.Env)) {
		if msg := checkEnvName(name); msg != "" {
			return fail("build.env", msg)
		}
	}
	return nil
}

// CheckName returns a message explaining why s is not a valid artifact
// name, or "" if it is valid. Manifests hold the same names.
func CheckName(s string) string {
	switch {
	case len(s) > maxNameLen:
		return fmt.Sprintf("name is %d characters long; the limit is %d", len(s), maxNameLen)
	case !only(s, "._-") || !isAlnum(rune(s[0])):
		return fmt.Sprintf("invalid name %q; use letters, digits, '.', '_' and '-', starting with a letter or digit", s)
	}
	return ""
}

// isReservedEnv reports whether the environment variable name is set by
// pbuild itself and so may not appear in build.env.
func isReservedEnv(name string) bool {
	switch name {
	case "GOOS", "GOARCH", "CGO_ENABLED", "GOFLAGS", "GOTOOLCHAIN", "GOROOT",
		"GOPATH", "GOCACHE", "GOMODCACHE", "GOPROXY", "GOWORK", "GO111MODULE", "GOENV",
		// The toolchain image's and pbuild's own: overriding them breaks
		// the commands pbuild runs in the container, not the build.
		"PATH", "HOME", "GOTELEMETRY":
		return true
	}
	return false
}

// within reports whether path is dir or lies inside it; both must be
// absolute and clean.
func within(dir, path string) bool {
	if path == dir {
		return true
	}
	if !strings.HasSuffix(dir, string(filepath.Separator)) {
		dir += string(filepath.Separator)
	}
	return strings.HasPrefix(path, dir)
}

// only reports whether s is not empty and holds only ASCII letters and
// digits and the characters of extra.
func only(s, extra string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r < utf8.RuneSelf && isAlnum(r)) && !strings.ContainsRune(extra, r)
	})
}

func isDigit(r rune) bool { return '0' <= r && r <= '9' }

func isAlnum(r rune) bool {
	return isDigit(r) || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
}

// Platforms are the os/arch pairs pbuild builds for: Go plugins need
// linux, and the toolchain image has a C cross compiler for these.
func Platforms() []string { return []string{"linux/amd64", "linux/arm64"} }

// checkPlatform explains why s is not a platform pbuild builds for, or
// returns "".
func checkPlatform(s string) string {
	if !slices.Contains(Platforms(), s) {
		return fmt.Sprintf("platform %q: pbuild builds for %s", s, strings.Join(Platforms(), " and "))
	}
	return ""
}

// checkPackage explains why s is not a Debian package pinned to a
// version (NAME=VERSION), or returns "".
func checkPackage(s string) string {
	name, version, ok := strings.Cut(s, "=")
	valid := ok && len(name) > 1 && only(name, "+-.") && !strings.ContainsAny(name[:1], "+-.") && strings.ToLower(name) == name &&
		version != "" && only(version, ".+~:-")
	if !valid {
		return fmt.Sprintf("package %q: write a Debian package pinned to its version, NAME=VERSION (apt-cache policy NAME shows the versions)", s)
	}
	return ""
}

// FileData are the fields a file template may use.
type FileData struct {
	Name, Version, OS, Arch string
}

// RenderFile renders a file template.
func RenderFile(tmpl string, d FileData) (string, error) {
	t, err := template.New("file").Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return "", err
	}
	return b.String(), nil
}

// checkFileTemplate explains why s is not a template of a file name in the
// output directory, or returns "".
func checkFileTemplate(s string) string {
	f, err := RenderFile(s, FileData{Name: "name", Version: "1.0", OS: "linux", Arch: "amd64"})
	if err != nil {
		return fmt.Sprintf("file %q: %v; the template may use {{.Name}}, {{.Version}}, {{.OS}} and {{.Arch}}", s, err)
	}
	if msg := CheckFile(f); msg != "" {
		return fmt.Sprintf("file %q: %s", s, msg)
	}
	return ""
}

// CheckFile explains why f cannot be a file in the output directory, or
// returns "": a clean, relative, slash-separated path inside it, not
// hidden, and not the manifest's name.
func CheckFile(f string) string {
	switch {
	case f == "":
		return "empty"
	case strings.ContainsFunc(f, func(c rune) bool { return c < 0x20 || c == 0x7f || c == '\\' }):
		return "has a control character or a backslash"
	case path.IsAbs(f) || path.Clean(f) != f || f == "." || f == ".." || strings.HasPrefix(f, "../"):
		return fmt.Sprintf("%q is not a clean path inside the output directory", f)
	case strings.HasPrefix(f, ".") || strings.Contains(f, "/."):
		return fmt.Sprintf("%q is hidden: pbuild keeps its own files there", f)
	case f == "pbuild.manifest.json":
		return "that is the manifest's name"
	}
	return ""
}
