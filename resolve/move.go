package resolve

import (
	"bytes"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/modfile"
)

// movePath rewrites a staged file of a module moving from path from to path
// to: the go.mod's module line, and the imports of the module's own
// packages in Go files. Everything else stays byte for byte.
func movePath(file, rel, from, to string) error {
	switch {
	case rel == "go.mod":
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		f, err := modfile.Parse(file, data, nil)
		if err != nil {
			return err
		}
		if err := f.AddModuleStmt(to); err != nil {
			return err
		}
		out, err := f.Format()
		if err != nil {
			return err
		}
		return os.WriteFile(file, out, 0o644)
	case strings.HasSuffix(rel, ".go"):
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		out, err := rewriteImports(file, data, from, to)
		if err != nil {
			return err
		}
		if !bytes.Equal(out, data) {
			return os.WriteFile(file, out, 0o644)
		}
	}
	return nil
}

// rewriteImports replaces the import paths from and from/... with to and
// to/... by splicing their literals, leaving the rest of the file intact.
func rewriteImports(name string, src []byte, from, to string) ([]byte, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly|parser.ParseComments)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	last := 0
	for _, imp := range f.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			return nil, err
		}
		if p != from && !strings.HasPrefix(p, from+"/") {
			continue
		}
		start := fset.Position(imp.Path.Pos()).Offset
		end := fset.Position(imp.Path.End()).Offset
		out.Write(src[last:start])
		out.WriteString(strconv.Quote(to + strings.TrimPrefix(p, from)))
		last = end
	}
	out.Write(src[last:])
	return out.Bytes(), nil
}
