package loader

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// retryHostSource opens every plugin named on the command line twice with
// plain plugin.Open, recovering a panic, and says what each call did; a
// call that has not returned after 3 s is reported as hung.
const retryHostSource = `package main

import (
	"fmt"
	"os"
	"plugin"
	"time"

	"example.com/rt/api"
)

var _ = api.Hello

func open(p string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	_, err = plugin.Open(p)
	return err
}

func main() {
	for _, p := range os.Args[1:] {
		for i := 1; i <= 2; i++ {
			done := make(chan error, 1)
			go func() { done <- open(p) }()
			select {
			case err := <-done:
				fmt.Printf("%s %d: %v\n", p, i, err)
			case <-time.After(3 * time.Second):
				fmt.Printf("%s %d: hung\n", p, i)
			}
		}
	}
}
`

// retryToolchains are the releases TestRetryAfterFailedOpen measures,
// besides the machine's own, when the module cache has them.
var retryToolchains = []string{"go1.22.12", "go1.23.12", oldGo, "go1.25.14"}

// TestRetryAfterFailedOpen measures, for every Go release at hand, what
// plugin.Open does when a path whose load failed is opened again: the
// loader's documentation (doc.go, PoisonedError) says what this finds.
//
//   - the dynamic linker refused it (a missing shared library): the second
//     call tries again and fails the same way, at once;
//   - the runtime refused it (a package built differently): the second
//     call returns at once with "... (previous failure)";
//   - an init function panicked and the caller recovered: the second call
//     blocks forever.
func TestRetryAfterFailedOpen(t *testing.T) {
	if testing.Short() {
		t.Skip("builds hosts and plugins with several toolchains")
	}
	skipUnlessPluginsBuild(t, "plugins")
	src := t.TempDir()
	writeFiles(t, src, map[string]string{
		"api/go.mod":      goMod("example.com/rt/api"),
		"api/api.go":      "package api\n\nfunc Hello() string { return \"hi\" }\n",
		"apiskew/go.mod":  goMod("example.com/rt/api"),
		"apiskew/api.go":  "package api\n\nfunc Hello() string { return \"hi\" }\n\nfunc Edited() {}\n",
		"host/go.mod":     goMod("example.com/rt/host", "example.com/rt/api", "../api"),
		"host/main.go":    retryHostSource,
		"skew/go.mod":     goMod("example.com/rt/skew", "example.com/rt/api", "../apiskew"),
		"skew/main.go":    "package main\n\nimport \"example.com/rt/api\"\n\nvar X = api.Hello()\n\nfunc main() {}\n",
		"broken/go.mod":   goMod("example.com/rt/broken"),
		"broken/main.go":  "package main\n\n/*\n#cgo LDFLAGS: -L${SRCDIR}/../clib -lrtmissing\nint lt_answer(void);\n*/\nimport \"C\"\n\nfunc Answer() int { return int(C.lt_answer()) }\n\nfunc main() {}\n",
		"panicky/go.mod":  goMod("example.com/rt/panicky"),
		"panicky/main.go": "package main\n\nfunc init() { panic(\"boom in init\") }\n\nfunc main() {}\n",
		"clib/lt.c":       clibSource,
	})
	lib := filepath.Join(src, "clib", "librtmissing.so")
	if b, err := exec.Command("gcc", "-shared", "-fPIC", "-o", lib, filepath.Join(src, "clib", "lt.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}

	toolchains := append([]string{"local"}, retryToolchains...)
	type build struct {
		dir  string
		errs []error
	}
	builds := make([]build, len(toolchains))
	var wg sync.WaitGroup
	for i, tc := range toolchains {
		builds[i].dir = filepath.Join(t.TempDir(), tc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := &builds[i]
			if err := os.MkdirAll(b.dir, 0o755); err != nil {
				b.errs = append(b.errs, err)
				return
			}
			// One toolchain at a time would be slower; two cores are
			// plenty for the go command's own parallelism.
			b.errs = append(b.errs, goBuild(filepath.Join(src, "host"), tc, "-o", filepath.Join(b.dir, "host"), "."))
			for _, p := range []string{"broken", "skew", "panicky"} {
				b.errs = append(b.errs, goBuild(filepath.Join(src, p), tc, "-buildmode=plugin", "-o", filepath.Join(b.dir, p+".so"), "."))
			}
		}()
	}
	wg.Wait()
	if err := os.Remove(lib); err != nil {
		t.Fatal(err)
	}

	var table strings.Builder
	table.WriteString("release     second plugin.Open after: dlopen failed | runtime refused | init panicked (recovered)\n")
	measured := 0
	for i, tc := range toolchains {
		var failed []string
		for _, err := range builds[i].errs {
			if err != nil {
				failed = append(failed, err.Error())
			}
		}
		if len(failed) > 0 {
			if tc == "local" {
				t.Fatalf("build with the machine's go: %s", strings.Join(failed, "\n"))
			}
			t.Logf("%s is not at hand (GOPROXY=off: only the module cache): skipped\n%s", tc, firstLines(failed[0], 2))
			continue
		}
		dir := builds[i].dir
		broken, skew, panicky := filepath.Join(dir, "broken.so"), filepath.Join(dir, "skew.so"), filepath.Join(dir, "panicky.so")
		lines, code := runHost(t, filepath.Join(dir, "host"), broken, skew, panicky)
		if code != 0 || len(lines) != 6 {
			t.Errorf("%s: host exit %d, output:\n%s", tc, code, strings.Join(lines, "\n"))
			continue
		}
		second := func(p string) string {
			for _, l := range lines {
				if rest, ok := strings.CutPrefix(l, p+" 2: "); ok {
					return rest
				}
			}
			return "(no line)"
		}
		version := tc
		if tc == "local" {
			out, err := exec.Command("go", "env", "GOVERSION").Output()
			if err != nil {
				t.Fatal(err)
			}
			version = strings.TrimSpace(string(out))
		}
		// What every release measured so far does.
		checks := []struct {
			what, got, want string
		}{
			{"dlopen failure", second(broken), `plugin.Open("` + strings.TrimSuffix(broken, ".so") + `.so"): librtmissing.so: cannot open shared object file: No such file or directory`},
			{"runtime refusal", second(skew), `plugin.Open("` + skew + `"): plugin was built with a different version of package example.com/rt/api (previous failure)`},
			{"recovered init panic", second(panicky), "hung"},
		}
		var row []string
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s: second plugin.Open after a %s:\n got: %s\nwant: %s", version, c.what, c.got, c.want)
			}
			switch {
			case c.got == "hung":
				row = append(row, "blocks forever")
			case strings.HasSuffix(c.got, "(previous failure)"):
				row = append(row, "at once, (previous failure)")
			default:
				row = append(row, "at once, the same error again")
			}
		}
		fmt.Fprintf(&table, "%-11s %s\n", version, strings.Join(row, " | "))
		measured++
	}
	t.Logf("measured %d releases:\n%s", measured, table.String())
}
