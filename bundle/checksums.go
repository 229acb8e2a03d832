package bundle

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// maxChecksumsSize bounds the checksums file pbuild reads: tens of
// thousands of lines.
const maxChecksumsSize = 4 << 20

// Checksums maps file names (no directories) to lowercase hex sha256.
type Checksums map[string]string

// Marshal writes the checksums in sha256sum's format, "<sha256>  <name>",
// one line each, sorted by name.
func (c Checksums) Marshal() []byte {
	var b bytes.Buffer
	for _, name := range slices.Sorted(maps.Keys(c)) {
		fmt.Fprintf(&b, "%s  %s\n", c[name], name)
	}
	return b.Bytes()
}

// ParseChecksums reads a checksums file strictly: every line exactly
// "<64 lowercase hex>  <name>" with a plain file name, a final newline, no
// name twice.
func ParseChecksums(data []byte) (Checksums, error) {
	c := Checksums{}
	if len(data) == 0 {
		return nil, fmt.Errorf("%s is empty", ChecksumsFile)
	}
	if data[len(data)-1] != '\n' {
		return nil, fmt.Errorf("%s does not end with a newline", ChecksumsFile)
	}
	for i, line := range strings.Split(string(data[:len(data)-1]), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || !isHexSHA256(sum) || !isPlainFileName(name) {
			return nil, fmt.Errorf("%s:%d: not a %q line: %q", ChecksumsFile, i+1, "<sha256>  <file name>", line)
		}
		if _, dup := c[name]; dup {
			return nil, fmt.Errorf("%s:%d: %s is listed twice", ChecksumsFile, i+1, name)
		}
		c[name] = sum
	}
	return c, nil
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// isPlainFileName reports whether s names a file in the same directory:
// no separators, no control characters, not "." or "..", no leading
// '*' or space (sha256sum's mode markers).
func isPlainFileName(s string) bool {
	if s == "" || s == "." || s == ".." || s[0] == '*' || s[0] == ' ' {
		return false
	}
	return !strings.ContainsFunc(s, func(c rune) bool { return c < 0x20 || c == 0x7f || c == '/' || c == '\\' })
}
