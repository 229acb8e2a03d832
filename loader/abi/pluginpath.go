package abi

import (
	"fmt"
	"strings"
)

// LinkerPath is an import path as the Go linker writes it into symbol
// names and as a plugin's pluginpath (go:link.thispluginpath, the runtime's
// moduledata.pluginpath): every byte that is a control character, a space,
// '%', '"' or not ASCII is escaped as %xx, and so is every '.' in the last
// path element ("example.com/x.pkg" is "example.com/x%2epkg"). It is the
// rule of cmd/internal/objabi.PathToPrefix. File.PluginPath is always in
// this form, whether it was read from the symbol table or, for a stripped
// file, from the build info.
func LinkerPath(path string) string {
	last := strings.LastIndex(path, "/")
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		c := path[i]
		if c <= ' ' || c == '%' || c == '"' || c >= 0x7f || (c == '.' && i > last) {
			fmt.Fprintf(&b, "%%%02x", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
