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
// Paths for which skip reports true (the output directory and what pbuild
// keeps beside it) are left out; skip may be nil. The user's files are only
// read.
func Stage(ws *Workspace, dst, goVersion string, skip func(path string) bool) error {
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
			if rel == "go.mod" {
				if err := relativeReplaces(to, m, ws); err != nil {
					return fmt.Errorf("stage module %s: %w", m.Path, err)
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
	for _, r := range ws.WorkReplaces {
		// The project's go.work replacements by module versions.
		if err := wf.AddReplace(r.Old.Path, r.Old.Version, r.New.Path, r.New.Version); err != nil {
			return fmt.Errorf("write go.work: %w", err)
		}
	}
	wf.SortBlocks()
	wf.Cleanup()
	if err := os.WriteFile(filepath.Join(dst, "go.work"), modfile.Format(wf.Syntax), 0o644); err != nil {
		return err
	}
	return StampTimes(dst)
}

// relativeReplaces points the staged go.mod's replacements by absolute
// directories at the staged copies of those modules: the absolute path is
// the user's, and means nothing where the staged workspace is built.
func relativeReplaces(file string, m *Module, ws *Workspace) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	f, err := modfile.Parse(file, data, nil)
	if err != nil {
		return err
	}
	changed := false
	for _, r := range f.Replace {
		if r.New.Version != "" || !filepath.IsAbs(r.New.Path) {
			continue
		}
		target := filepath.Clean(r.New.Path)
		for _, w := range ws.Modules {
			if w.Dir != target {
				continue
			}
			rel, err := filepath.Rel(filepath.FromSlash(m.Rel), filepath.FromSlash(w.Rel))
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			if !strings.HasPrefix(rel, "../") {
				rel = "./" + rel
			}
			if err := f.AddReplace(r.Old.Path, r.Old.Version, rel, ""); err != nil {
				return err
			}
			changed = true
		}
	}
	if !changed {
		return nil
	}
	out, err := f.Format()
	if err != nil {
		return err
	}
	return os.WriteFile(file, out, 0o644)
}

// StampTimes gives every file of the staged workspace in dir the time its
// content decides (fsx.ContentTime): no fact the go command caches about
// a staged file by its time outlives the file's content. The builder calls
// it again once the resolve step added vendor/.
func StampTimes(dir string) error {
	if err := fsx.StampContentTimes(dir); err != nil {
		return fmt.Errorf("stage: %w", err)
	}
	return nil
}

// moduleFiles lists, sorted and slash-separated, the files that belong to the
// module rooted at dir as the go command sees them: everything but nested
// modules, version control directories, a top-level vendor directory and
// the paths skip reports (nil: none). Symbolic links are followed, as the
// go command follows them in a local module: a linked file is the file it
// points at, a linked directory is walked (once: a link back up is not).
func moduleFiles(dir string, skip func(string) bool) ([]string, error) {
	var files []string
	seen := map[string]bool{}
	var walk func(d, rel string) error
	walk = func(d, rel string) error {
		real, err := filepath.EvalSymlinks(d)
		if err != nil {
			return err
		}
		if seen[real] {
			return nil // a link back into what is being walked
		}
		seen[real] = true
		defer delete(seen, real)
		entries, err := os.ReadDir(d)
		if err != nil {
			return err
		}
		for _, e := range entries {
			p := filepath.Join(d, e.Name())
			r := path.Join(rel, e.Name())
			mode := e.Type()
			if mode&fs.ModeSymlink != 0 {
				fi, err := os.Stat(p)
				if err != nil {
					continue // a dangling link holds nothing
				}
				mode = fi.Mode().Type()
			}
			if skip != nil && skip(p) {
				continue
			}
			switch {
			case mode.IsDir():
				switch e.Name() {
				case ".git", ".hg", ".svn", ".bzr":
					continue
				}
				if r == "vendor" {
					continue
				}
				if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
					continue // another module
				}
				if err := walk(p, r); err != nil {
					return err
				}
			case mode.IsRegular():
				if strings.ContainsAny(r, "\n\r") {
					return &FileNameError{Module: dir, File: r}
				}
				files = append(files, r)
			}
		}
		return nil
	}
	err := walk(dir, "")
	sort.Strings(files)
	return files, err
}

// FileNameError is a module file whose name pbuild cannot record.
type FileNameError struct {
	Module string // the module's directory
	File   string // slash path relative to it
}

func (e *FileNameError) Error() string {
	return fmt.Sprintf("%s: file %q has a line break in its name, which a module's hash (go.sum's dirhash) cannot record", e.Module, e.File)
}

// Hint tells the user what to do.
func (e *FileNameError) Hint() string {
	return "rename or remove that file: no Go module may hold a file whose name has a line break"
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
