package manifests

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
)

// abiKeyFormat names the layout of abiKeyDoc; change it whenever the set of
// inputs or their meaning changes, so old and new keys never collide.
const abiKeyFormat = "pbuild-abikey/1"

// abiKeyDoc is what ABIKey hashes. Its JSON encoding is canonical:
// struct fields in declaration order, map keys sorted, slices pre-sorted where
// order carries no meaning.
type abiKeyDoc struct {
	Format    string          `json:"format"`
	Toolchain abiKeyToolchain `json:"toolchain"`
	Build     abiKeyBuild     `json:"build"`
	Modules   []abiKeyModule  `json:"modules"`
}

type abiKeyToolchain struct {
	Go        string `json:"go"`
	ModuleSum string `json:"moduleSum"`
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	GOAMD64   string `json:"goamd64"`
	CC        string `json:"cc"`
}

type abiKeyBuild struct {
	Flags   []string          `json:"flags"`
	Tags    []string          `json:"tags"`
	Ldflags string            `json:"ldflags"`
	Env     map[string]string `json:"env"`
}

type abiKeyModule struct {
	Path    string `json:"path"`
	Version string `json:"version"`
	Sum     string `json:"sum"`
	Replace string `json:"replace"`
}

// ABIKey returns "sha256:<64 hex>", a digest over everything that must match
// for a host and plugins to load together. It can be computed before building.
//
// Inputs: the toolchain's Go version, module sum, GOOS, GOARCH, GOAMD64 and C
// compiler; the build's flags (in order), tags (as a set: order and
// duplicates do not matter, as for go build -tags), ldflags and environment;
// and each module's path, version, sum and replacement (as a set: module order
// does not matter). Machine-local facts (image references and IDs, a local
// module's directory and its Local flag, which is implied by its sum) are not
// inputs. Nil and empty slices and maps give the same key.
func ABIKey(t Toolchain, b Build, mods []Module) string {
	tags := slices.Clone(b.Tags)
	slices.Sort(tags)
	tags = slices.Compact(tags)

	ms := make([]abiKeyModule, 0, len(mods))
	for _, m := range mods {
		ms = append(ms, abiKeyModule{Path: m.Path, Version: m.Version, Sum: m.Sum, Replace: m.Replace})
	}
	slices.SortFunc(ms, func(a, b abiKeyModule) int {
		return cmp.Or(
			strings.Compare(a.Path, b.Path),
			strings.Compare(a.Version, b.Version),
			strings.Compare(a.Sum, b.Sum),
			strings.Compare(a.Replace, b.Replace),
		)
	})

	doc := abiKeyDoc{
		Format: abiKeyFormat,
		Toolchain: abiKeyToolchain{
			Go:        t.Go,
			ModuleSum: t.ModuleSum,
			GOOS:      t.GOOS,
			GOARCH:    t.GOARCH,
			GOAMD64:   t.GOAMD64,
			CC:        t.CC,
		},
		Build: abiKeyBuild{
			Flags:   nonNilSlice(b.Flags),
			Tags:    nonNilSlice(tags),
			Ldflags: b.Ldflags,
			Env:     nonNilMap(b.Env),
		},
		Modules: ms,
	}
	data, err := json.Marshal(doc)
	if err != nil {
		// Only strings, string slices and string maps: cannot fail.
		panic("manifests: encoding ABI key input: " + err.Error())
	}
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}
