package resolve

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/pbuild/pbuild/internal/container/containertest"
)

// TestCheckOwnVendors: a module's own vendor/ was ignored without a word;
// a patched dependency in it was silently dropped.
func TestCheckOwnVendors(t *testing.T) {
	build := files{
		"stage/vendor/modules.txt":                    "# golang.org/x/text v0.21.0\n## explicit\ngolang.org/x/text/cases\n# golang.org/x/sync v0.10.0\ngolang.org/x/sync/errgroup\n",
		"stage/vendor/golang.org/x/text/cases/map.go": "package cases // published\n",
	}
	for _, c := range []struct {
		name   string
		vendor files
		notes  []string
		err    bool
	}{
		{"same copy", files{
			"vendor/modules.txt":                    "# golang.org/x/text v0.21.0\ngolang.org/x/text/cases\n",
			"vendor/golang.org/x/text/cases/map.go": "package cases // published\n",
		}, nil, false},
		{"another version", files{
			"vendor/modules.txt":                    "# golang.org/x/text v0.20.0\ngolang.org/x/text/cases\n",
			"vendor/golang.org/x/text/cases/map.go": "package cases // older\n",
		}, []string{"example.com/greeter/plugins/hello's vendor/ holds golang.org/x/text v0.20.0; the build uses v0.21.0 (a module's own vendor/ is not used)"}, false},
		{"a module the build does not link", files{
			"vendor/modules.txt": "# example.com/gone v1.0.0\nexample.com/gone\n",
		}, []string{"example.com/greeter/plugins/hello's vendor/ holds example.com/gone v1.0.0; the build links none of it"}, false},
		{"a patched copy", files{
			"vendor/modules.txt":                    "# golang.org/x/text v0.21.0\ngolang.org/x/text/cases\n",
			"vendor/golang.org/x/text/cases/map.go": "package cases // patched!\n",
		}, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := realDir(t, t.TempDir())
			containertest.WriteFiles(t, root, greeterFiles())
			containertest.WriteFiles(t, root, build)
			own := files{}
			for k, v := range c.vendor {
				own["plugins/hello/"+k] = v
			}
			containertest.WriteFiles(t, root, own)
			ws, err := Discover(greeterTargets(root))
			if err != nil {
				t.Fatal(err)
			}
			notes, err := CheckOwnVendors(ws, filepath.Join(root, "stage"))
			var pe *PatchedVendorError
			if c.err != errors.As(err, &pe) {
				t.Fatalf("err %v, want a PatchedVendorError: %v", err, c.err)
			}
			if c.err && pe.File != "golang.org/x/text/cases/map.go" {
				t.Errorf("patched file %q", pe.File)
			}
			var got []string
			for _, n := range notes {
				got = append(got, n.String())
			}
			if len(got) != len(c.notes) || len(got) > 0 && got[0] != c.notes[0] {
				t.Errorf("notes %q\nwant  %q", got, c.notes)
			}
		})
	}
}
