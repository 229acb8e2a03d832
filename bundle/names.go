package bundle

import (
	"fmt"
	"strings"
)

// Suffixes of a bundle's files; they follow the base NAME_VERSION_OS_ARCH.
const (
	ArchiveSuffix     = ".tar.gz"
	SBOMSuffix        = ".cdx.json"
	AttestationSuffix = ".intoto.json"
	// ChecksumsFile is the name of the checksums file beside the bundles.
	ChecksumsFile = "checksums.txt"
)

// Base returns a bundle's base name, NAME_VERSION_OS_ARCH.
func Base(name, version, goos, goarch string) string {
	return name + "_" + version + "_" + goos + "_" + goarch
}

// CheckName reports whether s may be a bundle's name or version: letters,
// digits, '.', '_', '-' and '+', not starting with '.' or '-', at most 128
// bytes. Those are safe in file names, tar paths and checksums lines.
func CheckName(what, s string) error {
	if s == "" {
		return fmt.Errorf("empty %s", what)
	}
	if len(s) > 128 {
		return fmt.Errorf("%s %.20q... is longer than 128 bytes", what, s)
	}
	if s[0] == '.' || s[0] == '-' {
		return fmt.Errorf("%s %q may not start with %q", what, s, s[:1])
	}
	for _, c := range s {
		if !isNameChar(c) {
			return fmt.Errorf("%s %q has %q; use letters, digits, '.', '_', '-', '+'", what, s, c)
		}
	}
	return nil
}

func isNameChar(c rune) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("._-+", c)
}
