package resolve

import (
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/pbuild/pbuild/plan"
)

// Module is a local module of the workspace.
type Module struct {
	Path string // module path
	Dir  string // absolute directory on the host
	Rel  string // slash path of Dir relative to the workspace root
	File *modfile.File
	// StagedPath is the module's path in the staging copy: Path, or a
	// versioned plugin's "<Path>/v<version>".
	StagedPath string
}

// Package is a target placed in the workspace.
type Package struct {
	plan.Target
	ImportPath string  // also the plugin's pluginpath
	Module     *Module // the module holding it
	Rel        string  // slash path of the package directory relative to the root
}

// Workspace is every local module the targets need, under one root.
type Workspace struct {
	Root     string    // absolute; the deepest directory holding every module
	Modules  []*Module // sorted by Rel
	Packages []Package // in target order
	// WorkFile is the project's own go.work, when it has one: the modules
	// it uses are joined to the workspace, and its version replacements
	// (WorkReplaces) kept.
	WorkFile     string
	WorkReplaces []*modfile.Replace
	// Joined are the modules only the project's go.work brought in.
	Joined []*Module
}

// Option tunes Discover.
type Option func(*discoverOptions)

type discoverOptions struct{ workFile string }

// WithWorkFile joins the modules the go.work file at path uses (the
// project's own workspace) and keeps its replacements, as the go command
// would for a build in that workspace.
func WithWorkFile(path string) Option {
	return func(o *discoverOptions) { o.workFile = path }
}

// FindWorkFile returns the go.work file governing dir, as the go command
// finds it (dir or the nearest directory above it holding one), or "".
func FindWorkFile(dir string) string {
	for d := dir; ; d = filepath.Dir(d) {
		if fi, err := os.Stat(filepath.Join(d, "go.work")); err == nil && fi.Mode().IsRegular() {
			return filepath.Join(d, "go.work")
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// TargetError is a target that cannot be built as asked.
type TargetError struct {
	Name, Kind, Dir string
	Msg             string
	hint            string
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("%s %s (%s): %s", e.Kind, e.Name, e.Dir, e.Msg)
}

// Hint tells the user what to do.
func (e *TargetError) Hint() string { return e.hint }

// Discover finds the modules of targets and of their local replacements
// (and, WithWorkFile, of the project's go.work).
func Discover(targets []plan.Target, options ...Option) (*Workspace, error) {
	var o discoverOptions
	for _, opt := range options {
		opt(&o)
	}
	mods := map[string]*Module{} // by Dir
	var pkgs []Package
	add := func(dir string) (*Module, error) {
		if m, ok := mods[dir]; ok {
			return m, nil
		}
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err != nil {
			return nil, fmt.Errorf("read module %s: %w", dir, err)
		}
		f, err := modfile.Parse(filepath.Join(dir, "go.mod"), data, nil)
		if err != nil {
			return nil, err
		}
		if f.Module == nil {
			return nil, fmt.Errorf("%s: no module directive", filepath.Join(dir, "go.mod"))
		}
		// Two directories declaring one module path are told apart, or
		// refused, by their staged paths once every module is found
		// (checkDuplicates).
		m := &Module{Path: f.Module.Mod.Path, Dir: dir, File: f, StagedPath: f.Module.Mod.Path}
		mods[dir] = m
		return m, nil
	}
	// addNew adds the module in the directory p names (a go.work use or a
	// directory replacement: relative to base unless absolute); nil when
	// that directory's module was added already.
	addNew := func(base, p string) (*Module, error) {
		dir := p
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(base, filepath.FromSlash(dir))
		}
		dir = filepath.Clean(dir)
		if _, seen := mods[dir]; seen {
			return nil, nil
		}
		return add(dir)
	}
	for _, t := range targets {
		fail := func(msg, hint string) error {
			return &TargetError{Name: t.Name, Kind: string(t.Kind), Dir: t.Dir, Msg: msg, hint: hint}
		}
		fi, err := os.Stat(t.Dir)
		if err != nil || !fi.IsDir() {
			return nil, fail("directory does not exist", "fix the path in the config")
		}
		modDir, ok := findModule(t.Dir)
		if !ok {
			return nil, fail("not inside a Go module (no go.mod above it)", "run `go mod init` for it")
		}
		m, err := add(modDir)
		if err != nil {
			return nil, err
		}
		name, err := packageName(t.Dir)
		if err != nil {
			return nil, fail(err.Error(), "point the path at a directory holding a main package")
		}
		if name != "main" {
			return nil, fail(fmt.Sprintf("package %s is not a main package", name), "a "+string(t.Kind)+" must be package main")
		}
		if t.Kind.Loaded() && m.Path == "main" {
			return nil, fail("its module is named main: the runtime cannot load a plugin whose package path is main",
				"rename the module in "+filepath.Join(modDir, "go.mod")+" (module example.com/"+t.Name+", say)")
		}
		if t.Version != "" {
			// Dots in a pluginpath's last element are escaped by the
			// linker (%2e); underscores read better.
			m.StagedPath = m.Path + "/v" + strings.ReplaceAll(t.Version, ".", "_")
		}
		rel, _ := filepath.Rel(modDir, t.Dir)
		ip := m.StagedPath
		if rel != "." {
			ip = path.Join(m.StagedPath, filepath.ToSlash(rel))
		}
		pkgs = append(pkgs, Package{Target: t, ImportPath: ip, Module: m})
	}
	var joined []*Module
	var workReplaces []*modfile.Replace
	if o.workFile != "" {
		wf, err := readWorkFile(o.workFile)
		if err != nil {
			return nil, err
		}
		for _, u := range wf.Use {
			m, err := addNew(filepath.Dir(o.workFile), u.Path)
			if err != nil {
				return nil, &ModuleError{Path: u.Path, Msg: fmt.Sprintf("used by %s: %v", o.workFile, err)}
			}
			if m != nil {
				joined = append(joined, m)
			}
		}
		for _, r := range wf.Replace {
			if r.New.Version != "" || !modfile.IsDirectoryPath(r.New.Path) {
				workReplaces = append(workReplaces, r)
				continue
			}
			// A directory: joined to the workspace like a module's local
			// replacement (go.work may not also replace a module it uses).
			m, err := addNew(filepath.Dir(o.workFile), r.New.Path)
			if err != nil {
				return nil, &ModuleError{Path: r.Old.Path, Msg: fmt.Sprintf("replaced by %s in %s: %v", r.New.Path, o.workFile, err)}
			}
			if m != nil {
				joined = append(joined, m)
			}
		}
	}
	// Follow local replacements, transitively.
	for queue := sortedModules(mods); len(queue) > 0; queue = queue[1:] {
		m := queue[0]
		for _, r := range m.File.Replace {
			if r.New.Version != "" || !modfile.IsDirectoryPath(r.New.Path) {
				continue
			}
			nm, err := addNew(m.Dir, r.New.Path)
			if err != nil {
				return nil, &ModuleError{Path: r.Old.Path, Msg: fmt.Sprintf("replaced by %s in %s: %v", r.New.Path, m.Path, err)}
			}
			if nm != nil {
				queue = append(queue, nm)
			}
		}
	}
	if err := checkDuplicates(pkgs, mods); err != nil {
		return nil, err
	}
	if err := checkPluginPaths(pkgs); err != nil {
		return nil, err
	}
	if err := checkVersioned(pkgs, mods); err != nil {
		return nil, err
	}
	ws := &Workspace{Root: commonRoot(mods), Modules: sortedModules(mods), WorkFile: o.workFile, WorkReplaces: workReplaces, Joined: joined}
	for _, m := range ws.Modules {
		m.Rel = slashRel(ws.Root, m.Dir)
	}
	sort.Slice(ws.Modules, func(i, j int) bool { return ws.Modules[i].Rel < ws.Modules[j].Rel })
	for i := range pkgs {
		pkgs[i].Rel = slashRel(ws.Root, pkgs[i].Dir)
	}
	ws.Packages = pkgs
	return ws, nil
}

// readWorkFile parses a go.work file.
func readWorkFile(path string) (*modfile.WorkFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	wf, err := modfile.ParseWork(path, data, nil)
	if err != nil {
		return nil, &ModuleError{Path: path, Msg: err.Error()}
	}
	return wf, nil
}

// checkDuplicates refuses two module directories that would be staged
// under one module path, and two copies of one module unless each is a
// versioned target's module: those are staged under paths of their own
// ("<path>/v0_1", "<path>/v0_2"), so two versions of one plugin build side
// by side, while an unversioned copy would be the one every requirement of
// the module path names.
func checkDuplicates(pkgs []Package, mods map[string]*Module) error {
	holds := map[*Module][]string{}
	hosts := map[*Module]bool{}
	for _, p := range pkgs {
		holds[p.Module] = append(holds[p.Module], p.Target.String())
		hosts[p.Module] = hosts[p.Module] || p.Kind == plan.Host
	}
	copyOf := func(m *Module) DuplicateCopy {
		return DuplicateCopy{Dir: m.Dir, Path: m.Path, StagedPath: m.StagedPath, Holds: holds[m], Versionable: len(holds[m]) > 0 && !hosts[m]}
	}
	dup := func(a, b *Module) error {
		return &DuplicateModuleError{Copies: [2]DuplicateCopy{copyOf(a), copyOf(b)}}
	}
	byStaged := map[string]*Module{}
	byPath := map[string]*Module{}
	for _, m := range sortedModules(mods) { // by Dir: the same error every time
		if o, ok := byStaged[m.StagedPath]; ok {
			return dup(o, m)
		}
		byStaged[m.StagedPath] = m
		if o, ok := byPath[m.Path]; ok && (o.StagedPath == o.Path || m.StagedPath == m.Path) {
			return dup(o, m)
		}
		if _, ok := byPath[m.Path]; !ok {
			byPath[m.Path] = m
		}
	}
	return nil
}

// checkPluginPaths refuses two plugins with one pluginpath: one process
// cannot load both.
func checkPluginPaths(pkgs []Package) error {
	for i, p := range pkgs {
		for _, o := range pkgs[:i] {
			if o.ImportPath == p.ImportPath && o.Kind.Loaded() && p.Kind.Loaded() {
				return &TargetError{Name: p.Name, Kind: string(p.Kind), Dir: p.Dir,
					Msg:  fmt.Sprintf("pluginpath %s is also plugin %s's", p.ImportPath, o.Name),
					hint: "two plugins with one pluginpath cannot be loaded into one process: give each its own package path"}
			}
		}
	}
	return nil
}

// DuplicateModuleError is two directories whose modules would be one
// module of the staged workspace: they declare one module path and are not
// both the modules of versioned targets, or their staged paths are equal
// (two copies of a plugin module with one version). It unwraps to a
// *ModuleError.
type DuplicateModuleError struct {
	Copies [2]DuplicateCopy // sorted by Dir
}

// DuplicateCopy is one of the two directories of a DuplicateModuleError.
type DuplicateCopy struct {
	Dir        string
	Path       string   // the module path its go.mod declares
	StagedPath string   // its path in the staging copy
	Holds      []string // the targets in it ("plugin greet-0.1"), if any
	// Versionable: it holds targets, none of them the host, so a
	// version in the config stages it under a path of its own.
	Versionable bool
}

func (e *DuplicateModuleError) Error() string {
	a, b := e.Copies[0], e.Copies[1]
	switch {
	case a.Path != b.Path:
		return fmt.Sprintf("module %s in %s and module %s in %s are both staged as %s", a.Path, a.Dir, b.Path, b.Dir, a.StagedPath)
	case a.StagedPath != a.Path && a.StagedPath == b.StagedPath:
		return fmt.Sprintf("module %s: declared twice, in %s and %s, both staged as %s", a.Path, a.Dir, b.Dir, a.StagedPath)
	}
	return fmt.Sprintf("module %s: declared twice, in %s and %s", a.Path, a.Dir, b.Dir)
}

// Hint tells the user what to do: a version for each copy when both hold
// targets (plugins), else one copy.
func (e *DuplicateModuleError) Hint() string {
	a, b := e.Copies[0], e.Copies[1]
	if a.Versionable && b.Versionable {
		return fmt.Sprintf("two copies of one module build side by side only as versioned plugins: give %s (in %s) and %s (in %s) a different `version:` each in the config",
			strings.Join(a.Holds, ", "), a.Dir, strings.Join(b.Holds, ", "), b.Dir)
	}
	return fmt.Sprintf("keep one copy of module %s: point every replace directive and go.work use at %s or at %s, not both", a.Path, a.Dir, b.Dir)
}

// Unwrap makes the error a *ModuleError too.
func (e *DuplicateModuleError) Unwrap() error {
	a := e.Copies[0]
	return &ModuleError{Path: a.Path, Msg: strings.TrimPrefix(e.Error(), "module "+a.Path+": ")}
}

// checkVersioned makes sure that moving a versioned plugin's module moves
// nothing else: the plugin must be the only artifact in its module, and no
// other module may require it.
func checkVersioned(pkgs []Package, mods map[string]*Module) error {
	for _, p := range pkgs {
		if p.Version == "" {
			continue
		}
		fail := func(msg string) error {
			return &TargetError{Name: p.Name, Kind: string(p.Kind), Dir: p.Dir, Msg: msg,
				hint: "give the versioned plugin a module of its own that nothing else requires"}
		}
		for _, o := range pkgs {
			if o.Name != p.Name && o.Module == p.Module {
				return fail(fmt.Sprintf("versioned, but its module %s also holds %s %s", p.Module.Path, o.Kind, o.Name))
			}
		}
		for _, m := range mods {
			for _, r := range m.File.Require {
				if m != p.Module && r.Mod.Path == p.Module.Path {
					return fail(fmt.Sprintf("versioned, but its module %s is required by %s", p.Module.Path, m.Path))
				}
			}
		}
	}
	return nil
}

// ModuleError is a problem with a local module.
type ModuleError struct {
	Path, Msg string
}

func (e *ModuleError) Error() string { return fmt.Sprintf("module %s: %s", e.Path, e.Msg) }

// Hint tells the user what to do.
func (e *ModuleError) Hint() string {
	return "check the module's go.mod and the replace directives that point at it"
}

func sortedModules(mods map[string]*Module) []*Module {
	out := make([]*Module, 0, len(mods))
	for _, m := range mods {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dir < out[j].Dir })
	return out
}

func slashRel(root, dir string) string {
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		return filepath.ToSlash(dir)
	}
	return filepath.ToSlash(rel)
}

// findModule returns the directory of the go.mod governing dir.
func findModule(dir string) (string, bool) {
	for d := dir; ; d = filepath.Dir(d) {
		if fi, err := os.Stat(filepath.Join(d, "go.mod")); err == nil && !fi.IsDir() {
			return d, true
		}
		if filepath.Dir(d) == d {
			return "", false
		}
	}
}

// commonRoot is the deepest directory holding every module.
func commonRoot(mods map[string]*Module) string {
	root := ""
	for dir := range mods {
		if root == "" {
			root = dir
			continue
		}
		for !within(root, dir) {
			root = filepath.Dir(root)
		}
	}
	return root
}

func within(root, dir string) bool {
	rel, err := filepath.Rel(root, dir)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// packageName reads the package clause of the non-test Go files in dir.
func packageName(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	fset := token.NewFileSet()
	names := map[string]bool{}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") || strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.PackageClauseOnly)
		if err != nil {
			return "", err
		}
		names[f.Name.Name] = true
	}
	switch len(names) {
	case 0:
		return "", errors.New("no Go files")
	case 1:
		for n := range names {
			return n, nil
		}
	}
	if names["main"] {
		return "main", nil
	}
	return "", errors.New("more than one package")
}
