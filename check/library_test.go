package check

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbuild/pbuild/internal/safefile/safefiletest"
	"github.com/pbuild/pbuild/loader/abi"
	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/manifests/manifeststest"
)

// library is a fake C-ABI library file.
func library(path, mode string, exports ...string) *abi.File {
	return &abi.File{Path: path, Class: elf.ELFCLASS64, Machine: elf.EM_X86_64, GoVersion: "go1.24.4", CExports: exports, GLIBC: "GLIBC_2.34",
		GLIBCNeeds: []string{"GLIBC_2.2.5", "GLIBC_2.34"},
		Settings:   map[string]string{"-buildmode": mode, "GOOS": "linux", "GOARCH": "amd64", "GOAMD64": "v1"}}
}

func libraries(opts Options, files ...*abi.File) *Result {
	r := &Result{Report: abi.Check(nil, nil, abi.Options{})}
	for _, f := range files {
		r.Libraries = append(r.Libraries, checkLibrary(f, "", "", opts))
	}
	return r
}

func TestRenderLibraries(t *testing.T) {
	nbd := library("lib/nbd.so", "c-shared", "plugin_init", "plugin_open")
	static := library("lib/nbd.a", "c-archive", "plugin_init")
	static.GLIBC, static.GLIBCNeeds = "", nil
	plugin := file("plugins/greet.so", true, "go1.24.4", map[string]string{"runtime": "r1"}, nil)

	r := libraries(Options{Symbols: []string{"plugin_init"}}, nbd, static)
	var b bytes.Buffer
	Render(&b, r)
	want := `ok      lib/nbd.so  (c-shared, go1.24.4, linux/amd64 v1, needs GLIBC_2.34)
  loaded by: a C host, with dlopen (not Go)
  exports: plugin_init, plugin_open
ok      lib/nbd.a  (c-archive, go1.24.4, linux/amd64 v1)
  loaded by: a C program's link (not Go)
  exports: plugin_init
verdict: all 2 C-ABI libraries are fit for C hosts
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	if !r.OK() || r.Err() != nil {
		t.Errorf("OK %v, Err %v", r.OK(), r.Err())
	}

	// A Go plugin where a C host expects a C-ABI library, and a symbol
	// the host looks up that the library does not export.
	r = libraries(Options{Symbols: []string{"plugin_open", "plugin_close"}}, plugin, nbd)
	b.Reset()
	Render(&b, r)
	want = `FAIL    plugins/greet.so  (plugin, go1.24.4, linux/amd64 v1)
  a Go plugin (-buildmode=plugin), not a C-ABI library: only a Go host can load it; a C host that dlopens it hangs or crashes (nbdkit hangs), as nothing starts its Go runtime
  fix: build it as a library: libraries: [{name, path, buildmode: c-shared}] in pbuild.yaml (buildmode: c-archive for a C program's link)
FAIL    lib/nbd.so  (c-shared, go1.24.4, linux/amd64 v1, needs GLIBC_2.34)
  loaded by: a C host, with dlopen (not Go)
  exports: plugin_init, plugin_open
  does not export the C symbol plugin_close: a C host's dlsym finds no such symbol
  fix: export it from the library's Go source: put //export plugin_close right above the Go function of that name in its main package (which imports "C"), and build it again
verdict: 2 of 2 C-ABI libraries are not fit for C hosts: plugins/greet.so: a Go plugin (-buildmode=plugin), not a C-ABI library
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	var le *LibraryError
	if err := r.Err(); !errors.As(err, &le) || le.Failed != 2 || le.Total != 2 ||
		le.Hint() != "build it as a library: libraries: [{name, path, buildmode: c-shared}] in pbuild.yaml (buildmode: c-archive for a C program's link)" {
		t.Errorf("Err = %v", err)
	}

	var j bytes.Buffer
	if err := WriteJSON(&j, r); err != nil {
		t.Fatal(err)
	}
	var decoded JSON
	if err := json.Unmarshal(j.Bytes(), &decoded); err != nil {
		t.Fatal(err)
	}
	if decoded.OK || decoded.Host != "" || len(decoded.Loads) != 0 || len(decoded.Libraries) != 2 {
		t.Fatalf("json: %s", j.String())
	}
	l0, l1 := decoded.Libraries[0], decoded.Libraries[1]
	if l0.BuildMode != "plugin" || l0.Status != "fail" || l0.Problems[0].Kind != abi.GoPluginForC || !strings.Contains(l0.Fixes[0], "libraries:") ||
		l1.BuildMode != "c-shared" || l1.LoadedBy != "a C host, with dlopen (not Go)" || l1.Problems[0].Kind != abi.MissingCSymbol ||
		strings.Join(l1.Problems[0].Symbols, ",") != "plugin_close" || strings.Join(l1.Exports, ",") != "plugin_init,plugin_open" ||
		strings.Join(l1.GLIBC, ",") != "GLIBC_2.2.5,GLIBC_2.34" {
		t.Errorf("json: %s", j.String())
	}
}

// TestVerdictMixed: a host with plugins and libraries beside them; a
// failing library fails the check with both counts.
func TestVerdictMixed(t *testing.T) {
	host := file("greeter", false, "go1.24.4", map[string]string{"runtime": "r1"}, nil)
	good := file("good.so", true, "go1.24.4", map[string]string{"runtime": "r1"}, nil)
	bad := file("bad.so", true, "go1.24.4", map[string]string{"runtime": "r2"}, nil)
	nbd := library("lib/nbd.so", "c-shared")
	r := result(host, good)
	r.Libraries = []Library{checkLibrary(nbd, "c-shared", "lib/nbd.h", Options{})}
	if got := Verdict(r); got != "all 1 plugins load into the host; all 1 C-ABI libraries are fit for C hosts" {
		t.Errorf("Verdict = %q", got)
	}
	var b bytes.Buffer
	Render(&b, r)
	if !strings.Contains(b.String(), "  header: lib/nbd.h\n  exports: (none)\n") {
		t.Errorf("render:\n%s", b.String())
	}
	r = result(host, bad)
	r.Libraries = []Library{checkLibrary(nbd, "c-archive", "", Options{})}
	var ie *IncompatibleError
	if err := r.Err(); !errors.As(err, &ie) || err.Error() != "check: 1 of 1 plugins cannot load into the host; 1 of 1 C-ABI libraries are not fit for C hosts" {
		t.Errorf("Err = %v", err)
	}
	// A Go host asked to load a C-ABI library is told what it is.
	r = result(host, nbd)
	if l := r.Report.Loads[0]; l.OK || l.Problems[0].Kind != abi.CLibrary || !strings.Contains(Fix(l.Problems[0]), "dlopen") {
		t.Errorf("a library as a plugin: %+v", l)
	}
}

// TestFixLibraries: every C-ABI problem has a fix naming what to do.
func TestFixLibraries(t *testing.T) {
	for _, c := range []struct {
		p    abi.Problem
		want string
	}{
		{abi.Problem{Kind: abi.GoPluginForC}, "libraries: [{name, path, buildmode: c-shared}] in pbuild.yaml"},
		{abi.Problem{Kind: abi.NotCLibrary}, "buildmode: c-shared"},
		{abi.Problem{Kind: abi.MissingCSymbol, Symbols: []string{"a", "b"}}, "//export a, //export b right above"},
		{abi.Problem{Kind: abi.CLibrary}, "dlopen"},
		{abi.Problem{Kind: abi.GLIBCTooNew}, "glibc"},
	} {
		if got := Fix(c.p); !strings.Contains(got, c.want) {
			t.Errorf("Fix(%s) = %q, want it to contain %q", c.p.Kind, got, c.want)
		}
	}
}

// dist is a dist directory of real artifacts: a host, a plugin, a
// c-shared and a c-archive library with their headers, and its manifest.
type dist struct {
	dir  string
	m    *manifests.Manifest
	arts *manifeststest.Artifacts
}

func buildDist(t *testing.T, arts *manifeststest.Artifacts) *dist {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "dist")
	ctx := context.Background()
	tc := manifests.Toolchain{Go: "go1.24.4", GOOS: "linux", GOARCH: "amd64"}
	d := &dist{dir: dir, arts: arts, m: &manifests.Manifest{SchemaVersion: manifests.SchemaVersion, ABIKey: manifests.ABIKey(tc, manifests.Build{}, nil), Toolchain: tc}}
	copyTo := func(src, rel string) {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []struct{ name, kind, src, file string }{
		{"host", manifests.KindHost, arts.Host, "host"},
		{"nbdplugin", manifests.KindPlugin, arts.Plugin, "plugins/nbdplugin.so"},
	} {
		copyTo(a.src, a.file)
		art, err := manifests.InspectFile(ctx, a.src)
		if err != nil {
			t.Fatal(err)
		}
		art.Name, art.Kind, art.File, art.LoadedBy = a.name, a.kind, a.file, "x"
		d.m.Artifacts = append(d.m.Artifacts, art)
	}
	for _, a := range []struct{ name, kind, src, header, file, hfile string }{
		{"nbd", manifests.KindCShared, arts.CShared, arts.CSharedHeader, "lib/nbd.so", "lib/nbd.h"},
		{"nbdstatic", manifests.KindCArchive, arts.CArchive, arts.CArchiveHeader, "lib/nbdstatic.a", "lib/nbdstatic.h"},
	} {
		copyTo(a.src, a.file)
		copyTo(a.header, a.hfile)
		art, err := manifests.InspectLibrary(ctx, a.src, a.header)
		if err != nil {
			t.Fatal(err)
		}
		art.Name, art.Kind, art.File, art.LoadedBy, art.Header.File = a.name, a.kind, a.file, "x", a.hfile
		d.m.Artifacts = append(d.m.Artifacts, art)
	}
	d.write(t)
	return d
}

func (d *dist) write(t *testing.T) string {
	t.Helper()
	p := filepath.Join(d.dir, manifests.FileName)
	writeManifest(t, p, d.m)
	return p
}

// only keeps the artifacts of the given names.
func (d *dist) only(names ...string) {
	var arts []manifests.Artifact
	for _, a := range d.m.Artifacts {
		for _, n := range names {
			if a.Name == n {
				arts = append(arts, a)
			}
		}
	}
	d.m.Artifacts = arts
}

func (d *dist) artifact(name string) *manifests.Artifact {
	for i := range d.m.Artifacts {
		if d.m.Artifacts[i].Name == name {
			return &d.m.Artifacts[i]
		}
	}
	panic(name)
}

// TestManifestWithLibraries: pbuild check --manifest on real artifacts:
// the plugin against the host, the libraries in C-ABI mode.
func TestManifestWithLibraries(t *testing.T) {
	arts := manifeststest.Build(t)
	d := buildDist(t, arts)
	ctx := context.Background()
	p := d.write(t)

	r, err := Manifest(ctx, p, Options{Symbols: []string{"plugin_init", "plugin_open"}})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || len(r.Libraries) != 2 || len(r.Report.Loads) != 1 {
		var b bytes.Buffer
		Render(&b, r)
		t.Fatalf("not OK:\n%s", b.String())
	}
	if got := Verdict(r); got != "all 1 plugins load into the host; all 2 C-ABI libraries are fit for C hosts" {
		t.Errorf("Verdict = %q", got)
	}
	var b bytes.Buffer
	Render(&b, r)
	for _, want := range []string{"ok      " + filepath.Join(d.dir, "lib/nbd.so") + "  (c-shared, ", "  header: lib/nbd.h\n",
		"  exports: pb_c_visible, pb_data, plugin_init, plugin_open\n", "  loaded by: a C program's link (not Go)\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("render lacks %q:\n%s", want, b.String())
		}
	}

	// A symbol the C host needs that the libraries do not export.
	r, err = Manifest(ctx, p, Options{Symbols: []string{"plugin_close"}})
	if err != nil {
		t.Fatal(err)
	}
	var le *LibraryError
	if err := r.Err(); !errors.As(err, &le) || le.Failed != 2 || le.First.Kind != abi.MissingCSymbol || !strings.Contains(le.Hint(), "//export plugin_close") {
		t.Errorf("Err = %v", err)
	}
	// --target-glibc applies to the c-shared library, not the c-archive.
	r, err = Manifest(ctx, p, Options{MaxGLIBC: "2.0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range r.Libraries {
		if want := l.Kind == manifests.KindCShared; !l.OK() != want || (want && l.Problems[0].Kind != abi.GLIBCTooNew) {
			t.Errorf("glibc 2.0: %s: %+v", l.Kind, l.Problems)
		}
	}

	// Libraries alone need no host: nothing Go loads them.
	d.only("nbd", "nbdstatic")
	r, err = Manifest(ctx, d.write(t), Options{})
	if err != nil || !r.OK() || r.Host != nil {
		t.Fatalf("libraries only: %v %+v", err, r)
	}
	if got := Verdict(r); got != "all 2 C-ABI libraries are fit for C hosts" {
		t.Errorf("Verdict = %q", got)
	}
	// Plugins without a host still need one.
	d = buildDist(t, arts)
	d.only("nbdplugin", "nbd")
	if _, err := Manifest(ctx, d.write(t), Options{}); err == nil || !strings.Contains(err.Error(), "manifest lists no host") {
		t.Errorf("plugins without a host: %v", err)
	}
}

// TestManifestLibraryMismatch: files that are not what the manifest says.
func TestManifestLibraryMismatch(t *testing.T) {
	arts := manifeststest.Build(t)
	d := buildDist(t, arts)
	ctx := context.Background()

	// A Go plugin listed as a c-shared library is refused with the fix.
	nbd := d.artifact("nbd")
	plugin := d.artifact("nbdplugin")
	copyFile(t, d.arts.Plugin, filepath.Join(d.dir, "lib/nbd.so"))
	nbd.SHA256, nbd.Size = plugin.SHA256, plugin.Size
	r, err := Manifest(ctx, d.write(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var le *LibraryError
	if err := r.Err(); !errors.As(err, &le) || le.First.Kind != abi.GoPluginForC || !strings.Contains(le.Hint(), "libraries: [{name, path, buildmode: c-shared}]") {
		t.Errorf("a plugin as c-shared: %v", err)
	}
	// A c-shared library listed as c-archive, and the other way round.
	d = buildDist(t, arts)
	d.artifact("nbd").Kind, d.artifact("nbdstatic").Kind = manifests.KindCArchive, manifests.KindCShared
	if r, err = Manifest(ctx, d.write(t), Options{}); err != nil {
		t.Fatal(err)
	}
	for _, l := range r.Libraries {
		if l.OK() || l.Problems[0].Kind != abi.NotCLibrary || !strings.Contains(l.Problems[0].Detail, "not "+l.Kind) {
			t.Errorf("%s listed as %s: %+v", l.File.Path, l.Kind, l.Problems)
		}
	}
	// A C-ABI library listed as a plugin is one a Go host cannot load.
	d = buildDist(t, arts)
	a := d.artifact("nbd")
	a.Kind, a.Header, a.CSymbols, a.GLIBC = manifests.KindPlugin, nil, nil, nil
	if r, err = Manifest(ctx, d.write(t), Options{}); err != nil {
		t.Fatal(err)
	}
	if r.OK() || len(r.Libraries) != 1 || r.Report.Loads[0].Problems[0].Kind != abi.CLibrary {
		t.Errorf("a library listed as a plugin: %+v", r.Report.Loads)
	}
}

// TestManifestHeaders: C headers are verified like artifacts: a changed
// one is tampered with, a missing or special one is an input error.
func TestManifestHeaders(t *testing.T) {
	d := buildDist(t, manifeststest.Build(t))
	ctx := context.Background()
	h := filepath.Join(d.dir, "lib", "nbd.h")
	if err := os.WriteFile(h, []byte("int evil(void);\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Manifest(ctx, d.write(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ie *IncompatibleError
	if len(r.Tampered) != 1 || r.Tampered[0].File != "lib/nbd.h" || !errors.As(r.Err(), &ie) {
		t.Errorf("tampered header: %+v %v", r.Tampered, r.Err())
	}
	var b bytes.Buffer
	Render(&b, r)
	if !strings.Contains(b.String(), "TAMPERED lib/nbd.h\n") {
		t.Errorf("render:\n%s", b.String())
	}

	for _, c := range []struct {
		name, want string
		make       func()
	}{
		{"missing", "no such file", func() { os.Remove(h) }},
		{"fifo", "named pipe", func() { os.Remove(h); safefiletest.Mkfifo(t, h) }},
		{"symlink out", "leaves", func() { os.Remove(h); os.Symlink("/etc/hostname", h) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.make()
			err := safefiletest.Within(t, 10*time.Second, "Manifest", func() error {
				_, err := Manifest(ctx, filepath.Join(d.dir, manifests.FileName), Options{})
				return err
			})
			var ie *InputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), "artifact nbd: C header") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("header %s: %v, want an InputError containing %q", c.name, err, c.want)
			}
		})
	}
}

// TestLibrariesFiles: pbuild check --c-abi FILE... on real files.
func TestLibrariesFiles(t *testing.T) {
	arts := manifeststest.Build(t)
	ctx := context.Background()
	r, err := Libraries(ctx, []string{arts.CShared, arts.CArchive}, Options{Symbols: []string{"plugin_init", "plugin_open"}, MaxGLIBC: "2.99"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.Host != nil || len(r.Libraries) != 2 {
		t.Fatalf("%+v", r)
	}
	r, err = Libraries(ctx, []string{arts.Plugin}, Options{Symbols: []string{"plugin_init"}})
	if err != nil {
		t.Fatal(err)
	}
	var le *LibraryError
	if err := r.Err(); !errors.As(err, &le) || le.First.Kind != abi.GoPluginForC ||
		err.Error() != "check: 1 of 1 C-ABI libraries are not fit for C hosts: "+arts.Plugin+": a Go plugin (-buildmode=plugin), not a C-ABI library" {
		t.Errorf("a plugin: %v", err)
	}
	// The hint is the fix for a Go plugin, even after another failure.
	r, err = Libraries(ctx, []string{arts.CShared, arts.Plugin}, Options{Symbols: []string{"plugin_close"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Err(); !errors.As(err, &le) || le.Failed != 2 || le.File != arts.Plugin || !strings.Contains(le.Hint(), "libraries: [{name, path, buildmode: c-shared}]") {
		t.Errorf("a library and a plugin: %v", err)
	}
	r, err = Libraries(ctx, []string{arts.Host}, Options{})
	if err != nil || r.OK() || r.Libraries[0].Problems[0].Kind != abi.NotCLibrary {
		t.Errorf("an executable: %v %+v", err, r)
	}
	// A header is no library: not a Go binary.
	if _, err := Libraries(ctx, []string{arts.CSharedHeader}, Options{}); err == nil {
		t.Error("a C header checked as a library")
	} else if _, ok := err.(*InputError); !ok {
		t.Errorf("a C header: %T %v", err, err)
	}
	// A C-ABI library given to a Go host as a plugin, and a c-archive:
	// neither is a plugin.
	r, err = Files(ctx, arts.Host, []string{arts.CShared, arts.CArchive, arts.Plugin}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{false, false, true} {
		if l := r.Report.Loads[i]; l.OK != want || (!want && l.Problems[0].Kind != abi.CLibrary) {
			t.Errorf("load %d: %+v", i, l)
		}
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
}
