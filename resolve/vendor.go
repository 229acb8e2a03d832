package resolve

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// A module's own vendor/ directory is not used: the build vendors one
// dependency set for the whole workspace (go work vendor). What a module's
// vendor/ asked for is compared with what the build uses, so that nothing
// it held is dropped without a word.

// VendorNote is a way a module's own vendor/ differs from the build's.
type VendorNote struct {
	Module  string // the module holding the vendor/ directory
	Dep     string // the vendored module
	Has     string // the version its vendor/ holds
	Builds  string // the version the build vendors
	Missing bool   // the build vendors none of it
}

func (n VendorNote) String() string {
	if n.Missing {
		return fmt.Sprintf("%s's vendor/ holds %s %s; the build links none of it", n.Module, n.Dep, n.Has)
	}
	return fmt.Sprintf("%s's vendor/ holds %s %s; the build uses %s (a module's own vendor/ is not used)", n.Module, n.Dep, n.Has, n.Builds)
}

// PatchedVendorError is a module whose vendor/ holds a changed copy of a
// dependency at the version the build uses: building from the module
// cache instead would quietly drop the change.
type PatchedVendorError struct {
	Module string // the module holding the vendor/ directory
	Dep    string
	File   string // the first differing file, slash path below vendor/
}

func (e *PatchedVendorError) Error() string {
	return fmt.Sprintf("%s's vendor/%s differs from %s as published: its vendor/ patches a dependency, which one workspace cannot build", e.Module, e.File, e.Dep)
}

// Hint tells the user what to do.
func (e *PatchedVendorError) Hint() string {
	return "make the patched copy a module of its own (a fork with its own path or version) and use it through a replace directive; pbuild builds every module from one vendored dependency set"
}

// CheckOwnVendors compares the vendor/ directory of every workspace module
// that has one with the staged workspace's vendor/ (in dir, after the
// resolve step). A dependency vendored at the version the build uses must
// be byte for byte the build's copy (else *PatchedVendorError); the other
// differences are returned as notes.
func CheckOwnVendors(ws *Workspace, dir string) ([]VendorNote, error) {
	built, err := vendoredVersions(filepath.Join(dir, "vendor", "modules.txt"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var notes []VendorNote
	for _, m := range ws.Modules {
		own := filepath.Join(m.Dir, "vendor")
		has, err := vendoredVersions(filepath.Join(own, "modules.txt"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("module %s: %w", m.Path, err)
		}
		deps := make([]string, 0, len(has))
		for d := range has {
			deps = append(deps, d)
		}
		sort.Strings(deps)
		for _, d := range deps {
			v, ok := built[d]
			switch {
			case !ok:
				notes = append(notes, VendorNote{Module: m.Path, Dep: d, Has: has[d], Missing: true})
			case v != has[d]:
				notes = append(notes, VendorNote{Module: m.Path, Dep: d, Has: has[d], Builds: v})
			default:
				if f, err := firstDifference(filepath.Join(own, filepath.FromSlash(d)), filepath.Join(dir, "vendor", filepath.FromSlash(d))); err != nil {
					return nil, err
				} else if f != "" {
					return nil, &PatchedVendorError{Module: m.Path, Dep: d + " " + v, File: path.Join(d, f)}
				}
			}
		}
	}
	return notes, nil
}

// vendoredVersions reads the "# path version" lines of a vendor/modules.txt
// (a replaced module's "# path version => new version": the new one).
func vendoredVersions(file string) (map[string]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "# ")
		if !ok {
			continue
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 2:
			out[f[0]] = f[1]
		case len(f) == 5 && f[2] == "=>" && f[3] == f[0]:
			out[f[0]] = f[4] // replaced by another version of itself
		case len(f) == 5 && f[2] == "=>":
			out[f[0]] = f[3] + "@" + f[4]
		case len(f) >= 3 && f[1] == "=>":
			out[f[0]] = "=> " + strings.Join(f[2:], " ")
		}
	}
	return out, sc.Err()
}

// firstDifference is the first Go-relevant file (slash path relative to
// own) of the vendored packages in own whose content differs from the
// build's copy in built; files the build did not vendor are not compared
// (the build needs fewer packages), nor is what own lacks.
func firstDifference(own, built string) (string, error) {
	var diff string
	err := filepath.WalkDir(own, func(p string, d fs.DirEntry, err error) error {
		if err != nil || diff != "" {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(own, p)
		theirs, err := os.ReadFile(filepath.Join(built, rel))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		mine, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Equal(mine, theirs) {
			diff = filepath.ToSlash(rel)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	return diff, err
}

// Replacement is a replace directive of a workspace module's go.mod or of
// the project's go.work by another module version: in one workspace it
// holds for every module, not only the one whose go.mod says it.
type Replacement struct {
	Module  string // the module whose go.mod says it; "" for go.work
	Old     string // "path" or "path@version"
	New     string // "path@version"
	OldPath string
}

func (r Replacement) String() string {
	where := "go.work"
	if r.Module != "" {
		where = r.Module + "'s go.mod"
	}
	return fmt.Sprintf("%s replaces %s => %s", where, r.Old, r.New)
}

// Replacements lists the replacements by module versions of every module
// of ws and of its go.work.
func Replacements(ws *Workspace) []Replacement {
	var out []Replacement
	add := func(module string, old, new modVersion) {
		r := Replacement{Module: module, Old: old.String(), New: new.String(), OldPath: old.path}
		if !slices.Contains(out, r) { // two copies of one module say it once
			out = append(out, r)
		}
	}
	for _, m := range ws.Modules {
		for _, r := range m.File.Replace {
			if r.New.Version == "" {
				continue // a directory: a workspace module
			}
			add(m.Path, modVersion{r.Old.Path, r.Old.Version}, modVersion{r.New.Path, r.New.Version})
		}
	}
	for _, r := range ws.WorkReplaces {
		add("", modVersion{r.Old.Path, r.Old.Version}, modVersion{r.New.Path, r.New.Version})
	}
	return out
}

type modVersion struct{ path, version string }

func (m modVersion) String() string {
	if m.version == "" {
		return m.path
	}
	return m.path + "@" + m.version
}
