package resolve

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/sumdb/dirhash"

	"github.com/pbuild/pbuild/internal/fsx"
)

// Stage copies every module of ws into dst, at its path relative to the
// workspace root, and writes dst/go.work over them with go line goVersion.
// Directories listed in skip (absolute; the output directory, say) are left
// out. The user's files are only read.
func Stage(ws *Workspace, dst, goVersion string, skip []string) error {
	for _, m := range ws.Modules {
		files, err := moduleFiles(m.Dir, skip)
		if err != nil {
			return fmt.Errorf("stage module %s: %w", m.Path, err)
		}
		for _, rel := range files {
			to := filepath.Join(dst, filepath.FromSlash(m.Rel), filepath.FromSlash(rel))
			if err := fsx.CopyFile(filepath.Join(m.Dir, filepath.FromSlash(rel)), to); err != nil {
				return fmt.Errorf("stage module %s: %w", m.Path, err)
			}
			if m.StagedPath != m.Path {
				if err := movePath(to, rel, m.Path, m.StagedPath); err != nil {
					return fmt.Errorf("stage module %s as %s: %w", m.Path, m.StagedPath, err)
				}
			}
		}
	}
	wf := new(modfile.WorkFile)
	wf.Syntax = new(modfile.FileSyntax)
	if err := wf.AddGoStmt(goVersion); err != nil {
		return fmt.Errorf("write go.work: %w", err)
	}
	for _, m := range ws.Modules {
		dir := "./" + m.Rel
		if m.Rel == "." {
			dir = "."
		}
		if err := wf.AddUse(dir, m.StagedPath); err != nil {
			return fmt.Errorf("write go.work: %w", err)
		}
	}
	wf.SortBlocks()
	wf.Cleanup()
	return os.WriteFile(filepath.Join(dst, "go.work"), modfile.Format(wf.Syntax), 0o644)
}

// moduleFiles lists, sorted and slash-separated, the files that belong to the
// module rooted at dir: everything but nested modules, version control
// directories, a top-level vendor directory, symbolic links and the
// directories in skip.
func moduleFiles(dir string, skip []string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(must(filepath.Rel(dir, p)))
		if d.IsDir() {
			if p == dir {
				return nil
			}
			switch d.Name() {
			case ".git", ".hg", ".svn", ".bzr":
				return filepath.SkipDir
			}
			if rel == "vendor" || contains(skip, p) {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			files = append(files, rel)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if filepath.Clean(x) == s {
			return true
		}
	}
	return false
}

// DirHash is the h1 hash of a staged local module's files (named by their
// path relative to the module), the way go.sum hashes module zips. It does
// not depend on where the project was checked out.
func DirHash(stagedRoot string, m *Module) (string, error) {
	dir := filepath.Join(stagedRoot, filepath.FromSlash(m.Rel))
	files, err := moduleFiles(dir, nil)
	if err != nil {
		return "", fmt.Errorf("hash module %s: %w", m.Path, err)
	}
	if m.Rel == "." {
		// The workspace root also holds go.work, go.work.sum and vendor/.
		files = dropRootFiles(files)
	}
	return dirhash.Hash1(files, func(name string) (io.ReadCloser, error) {
		return os.Open(filepath.Join(dir, filepath.FromSlash(name)))
	})
}

func dropRootFiles(files []string) []string {
	out := files[:0]
	for _, f := range files {
		if f == "go.work" || f == "go.work.sum" || strings.HasPrefix(f, "vendor/") || path.Dir(f) == "vendor" {
			continue
		}
		out = append(out, f)
	}
	return out
}
