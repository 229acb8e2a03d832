package resolve

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"

	"github.com/pbuild/pbuild/manifests"
)

// Constraints are the module versions of a released host that a plugin
// build must use. The host's binary cannot change, so a plugin may not need
// a higher version of a module the host links: the build fails closed.
// Lower versions are raised to the host's.
type Constraints struct {
	// Versions maps module path to the host's version (dependencies only,
	// with their sums in Sums; local modules are compared by the builder).
	Versions map[string]string
	Sums     map[string]string
}

// HostConstraints are the constraints of a host's manifest.
func HostConstraints(m *manifests.Manifest) *Constraints {
	c := &Constraints{Versions: map[string]string{}, Sums: map[string]string{}}
	for _, mod := range m.Modules {
		if mod.Local {
			continue
		}
		v := mod.Version
		if mod.Replace != "" {
			// The host linked the replacement: a plugin must too.
			if _, rv, ok := strings.Cut(mod.Replace, "@"); ok {
				v = rv
			}
		}
		c.Versions[mod.Path], c.Sums[mod.Path] = v, mod.Sum
	}
	return c
}

// Ceiling is a module a plugin needs at a higher version than the host.
type Ceiling struct {
	Module     string   `json:"module"`
	Host       string   `json:"host"`
	Requested  string   `json:"requested"`
	RequiredBy []string `json:"requiredBy"`
	// Direct lists the project's own modules whose go.mod asks for the
	// module at the version requested; none when other modules' needs
	// pull it in (then fixing those fixes this).
	Direct []string `json:"direct,omitempty"`
}

// CeilingError is a plugin build that cannot use the host's versions.
type CeilingError struct {
	Ceilings []Ceiling
}

func (e *CeilingError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the plugins need newer versions of %d modules than the released host links:", len(e.Ceilings))
	for _, c := range e.Ceilings {
		fmt.Fprintf(&b, "\n  %s: host has %s, plugins request %s (required by %s)", c.Module, c.Host, c.Requested, strings.Join(c.RequiredBy, ", "))
		if len(c.Direct) == 0 {
			fmt.Fprintf(&b, ", pulled in by another module's requirement")
		}
	}
	return b.String()
}

// Hint tells the user what to do: about the requirement one of the
// project's own go.mod files makes, when there is one, since the others
// follow from it.
func (e *CeilingError) Hint() string {
	for _, c := range e.Ceilings {
		if len(c.Direct) > 0 {
			return fmt.Sprintf("a released host cannot change: in %s's go.mod, require %s %s (the host's) instead of %s, or build against a newer host release",
				c.Direct[0], c.Module, c.Host, c.Requested)
		}
	}
	c := e.Ceilings[0]
	return fmt.Sprintf("a released host cannot change: require %s %s (or older) in your modules, or build against a newer host release", c.Module, c.Host)
}

// SumError is a dependency whose checksum differs from the host's.
type SumError struct {
	Module, Version, Got, Host string
}

func (e *SumError) Error() string {
	return fmt.Sprintf("%s %s has checksum %s here, but the host was built with %s", e.Module, e.Version, e.Got, e.Host)
}

// Hint tells the user what to do.
func (e *SumError) Hint() string {
	return "check GOPROXY, GOSUMDB and any replace directives: this is not the module the host links"
}

// MaxRounds is how many times a build list may be raised to the host's
// versions before Round gives up.
const MaxRounds = 3

// Round is one round of keeping a build list to the host's versions, the
// same on every backend. list is the output of `go list -m -json all` over
// the workspace (with the pins module, after the first round). A module
// above the host's version fails closed with a *CeilingError, whose
// RequiredBy comes from graph (the output of `go mod graph`). Otherwise
// the host's versions of the modules listed below them are added to pins,
// and the pins module's go.mod is returned: stage it at PinsDir (in
// go.work) and list again. Nil means the build list keeps to the host's
// versions.
func (c *Constraints) Round(round int, list []byte, pins map[string]string, graph []byte) ([]byte, error) {
	listed, err := ParseBuildList(list)
	if err != nil {
		return nil, err
	}
	// Raising a module may bring in its own newer requirements: check the
	// ceilings again after every raise.
	if ceilings := c.ceilings(listed); len(ceilings) > 0 {
		whoRequires(ceilings, graph)
		return nil, &CeilingError{Ceilings: ceilings}
	}
	if !c.raises(listed, pins) {
		return nil, nil
	}
	if round >= MaxRounds {
		return nil, fmt.Errorf("resolve: raising modules to the host's versions does not settle: %v", pins)
	}
	return pinsGoMod(pins), nil
}

// ceilings lists the modules of the build list above the host's versions.
func (c *Constraints) ceilings(listed []Listed) []Ceiling {
	var out []Ceiling
	for _, l := range listed {
		if l.Main {
			continue
		}
		if hv, ok := c.Versions[l.Path]; ok && semver.Compare(effective(l), hv) > 0 {
			out = append(out, Ceiling{Module: l.Path, Host: hv, Requested: effective(l)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Module < out[j].Module })
	return out
}

// PinsModule is the module pbuild adds to a workspace built against a
// host: it requires the host's versions of the modules the plugins use at
// lower ones, so minimal version selection raises them. A replacement
// would not do: a replaced module's files are recorded under the old
// version's path, so its packages' export data differs from the host's.
const PinsModule = "pbuild.invalid/pins"

// PinsDir is where the pins module is staged, relative to the workspace.
const PinsDir = ".pbuild-pins"

// raises adds to pins the host's version of every module listed below it,
// and reports whether it added any.
func (c *Constraints) raises(listed []Listed, pins map[string]string) bool {
	added := false
	for _, l := range listed {
		if l.Main {
			continue
		}
		if hv, ok := c.Versions[l.Path]; ok && semver.Compare(effective(l), hv) < 0 && pins[l.Path] != hv {
			pins[l.Path] = hv
			added = true
		}
	}
	return added
}

// pinsGoMod is the go.mod of the pins module.
func pinsGoMod(pins map[string]string) []byte {
	f := new(modfile.File)
	f.AddComment("// Added by pbuild: the released host's versions.")
	f.AddModuleStmt(PinsModule)
	f.AddGoStmt("1.21")
	for _, p := range slices.Sorted(maps.Keys(pins)) {
		f.AddNewRequire(p, pins[p], false)
	}
	f.Cleanup()
	return modfile.Format(f.Syntax)
}

// effective is the version of a listed module that is built: its
// replacement's when it is replaced by another version of itself.
func effective(l Listed) string {
	if l.Replace != nil && l.Replace.Path == l.Path && l.Replace.Version != "" {
		return l.Replace.Version
	}
	return l.Version
}

// whoRequires fills RequiredBy from `go mod graph` output.
func whoRequires(ceilings []Ceiling, graph []byte) {
	sc := bufio.NewScanner(bytes.NewReader(graph))
	for sc.Scan() {
		from, to, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		for i, c := range ceilings {
			if to == c.Module+"@"+c.Requested {
				ceilings[i].RequiredBy = append(ceilings[i].RequiredBy, from)
				if !strings.Contains(from, "@") && from != PinsModule {
					// The graph names the workspace's own modules
					// without a version.
					ceilings[i].Direct = append(ceilings[i].Direct, from)
				}
			}
		}
	}
	for i := range ceilings {
		sort.Strings(ceilings[i].RequiredBy)
		sort.Strings(ceilings[i].Direct)
	}
}

// checkSums makes sure every dependency the host also links is the very
// module the host was built with.
func (c *Constraints) checkSums(mods []manifests.Module) error {
	for _, m := range mods {
		if m.Local {
			continue
		}
		hv, ok := c.Versions[m.Path]
		v := m.Version
		if m.Replace != "" {
			_, v, _ = strings.Cut(m.Replace, "@")
		}
		if !ok || hv != v {
			continue
		}
		if c.Sums[m.Path] != m.Sum {
			return &SumError{Module: m.Path, Version: v, Got: m.Sum, Host: c.Sums[m.Path]}
		}
	}
	return nil
}
