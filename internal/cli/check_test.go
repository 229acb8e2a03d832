package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/manifests/manifeststest"
)

// runCheckCmd runs pbuild with args and returns the exit code, stdout and
// stderr.
func runCheckCmd(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), args, Env{}, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// libraryDist writes a dist of the given artifacts (host, plugin, nbd,
// nbdstatic) of arts with its manifest, and returns the manifest's path.
func libraryDist(t *testing.T, arts *manifeststest.Artifacts, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	tc := manifests.Toolchain{Go: "go1.24.4", GOOS: "linux", GOARCH: "amd64"}
	m := &manifests.Manifest{ABIKey: manifests.ABIKey(tc, manifests.Build{}, nil), Toolchain: tc}
	cp := func(src, rel string) {
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
	for _, name := range names {
		var a manifests.Artifact
		var err error
		switch name {
		case "host", "plugin":
			src, kind, file := arts.Host, manifests.KindHost, "host"
			if name == "plugin" {
				src, kind, file = arts.Plugin, manifests.KindPlugin, "plugins/nbd.so"
			}
			cp(src, file)
			a, err = manifests.InspectFile(ctx, src)
			a.Kind, a.File = kind, file
		case "nbd", "nbdstatic":
			src, header, kind, file := arts.CShared, arts.CSharedHeader, manifests.KindCShared, "lib/nbd.so"
			if name == "nbdstatic" {
				src, header, kind, file = arts.CArchive, arts.CArchiveHeader, manifests.KindCArchive, "lib/nbdstatic.a"
			}
			cp(src, file)
			cp(header, strings.TrimSuffix(file, filepath.Ext(file))+".h")
			a, err = manifests.InspectLibrary(ctx, src, header)
			if err == nil {
				a.Kind, a.File, a.Header.File = kind, file, strings.TrimSuffix(file, filepath.Ext(file))+".h"
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		a.Name, a.LoadedBy = name, "x"
		m.Artifacts = append(m.Artifacts, a)
	}
	var buf bytes.Buffer
	if err := manifests.Write(&buf, m); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, manifests.FileName)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheckCABI: pbuild check in C-ABI mode, on real files: the exit
// codes, verdicts and hints a user sees.
func TestCheckCABI(t *testing.T) {
	arts := manifeststest.Build(t)
	for _, c := range []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"libraries fit", []string{"check", "--c-abi", arts.CShared, arts.CArchive, "--symbols", "plugin_init,plugin_open"}, exitOK,
			[]string{"ok      " + arts.CShared + "  (c-shared, ", "  exports: pb_c_visible, pb_data, plugin_init, plugin_open\n",
				"  loaded by: a C program's link (not Go)\n", "verdict: all 2 C-ABI libraries are fit for C hosts\n"}, nil},
		{"symbols imply --c-abi", []string{"check", "--symbols", "plugin_init", arts.CShared}, exitOK,
			[]string{"verdict: all 1 C-ABI libraries are fit for C hosts\n"}, nil},
		{"a Go plugin for a C host", []string{"check", "--symbols", "plugin_init", arts.Plugin}, exitFailure,
			[]string{"FAIL    " + arts.Plugin + "  (plugin, ", "a Go plugin (-buildmode=plugin), not a C-ABI library",
				"  fix: build it as a library: libraries: [{name, path, buildmode: c-shared}] in pbuild.yaml"},
			[]string{"pbuild: check: 1 of 1 C-ABI libraries are not fit for C hosts: " + arts.Plugin + ": a Go plugin (-buildmode=plugin), not a C-ABI library\n",
				"hint: build it as a library: libraries: [{name, path, buildmode: c-shared}] in pbuild.yaml"}},
		{"a Go plugin with --c-abi", []string{"check", "--c-abi", arts.Plugin}, exitFailure, nil,
			[]string{"hint: build it as a library: libraries: [{name, path, buildmode: c-shared}] in pbuild.yaml"}},
		{"a missing symbol", []string{"check", "--symbols", "plugin_init,plugin_close", arts.CShared}, exitFailure,
			[]string{"does not export the C symbol plugin_close: a C host's dlsym finds no such symbol\n", "//export plugin_close"},
			[]string{"hint: export it from the library's Go source: put //export plugin_close right above"}},
		{"target glibc", []string{"check", "--c-abi", "--target-glibc", "2.0", arts.CShared}, exitFailure,
			[]string{"the target has glibc 2.0"}, nil},
		{"a library given to a Go host", []string{"check", arts.Host, arts.CShared}, exitFailure,
			[]string{"a C-ABI library (-buildmode=c-shared), for C hosts, not a Go plugin", "pbuild check --c-abi FILE"}, nil},
		{"no files", []string{"check", "--c-abi"}, exitUsage, nil, []string{"check --c-abi needs at least one C-ABI library"}},
		{"bad symbol", []string{"check", "--symbols", "plugin init", arts.CShared}, exitUsage, nil, []string{`--symbols: "plugin init" is not a C symbol name`}},
		{"empty symbol", []string{"check", "--symbols", "a,,b", arts.CShared}, exitUsage, nil, []string{`--symbols: "" is not a C symbol name`}},
		{"one file", []string{"check", arts.Host}, exitUsage, nil, []string{"check needs a host and at least one plugin, --c-abi with C-ABI libraries, or --manifest"}},
		{"a header", []string{"check", "--c-abi", arts.CSharedHeader}, exitUsage, nil, []string{"not an ELF file"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := runCheckCmd(c.args...)
			if code != c.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.code, stdout, stderr)
			}
			for _, want := range c.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			for _, want := range c.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
		})
	}
}

// TestCheckManifestCABI: check --manifest with C-ABI libraries.
func TestCheckManifestCABI(t *testing.T) {
	arts := manifeststest.Build(t)
	all := libraryDist(t, arts, "host", "plugin", "nbd", "nbdstatic")
	libs := libraryDist(t, arts, "nbd", "nbdstatic")
	goOnly := libraryDist(t, arts, "host", "plugin")

	code, stdout, stderr := runCheckCmd("check", "--manifest", all, "--symbols", "plugin_init,plugin_open")
	if code != exitOK || !strings.Contains(stdout, "verdict: all 1 plugins load into the host; all 2 C-ABI libraries are fit for C hosts\n") {
		t.Errorf("host, plugin and libraries: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCheckCmd("check", "--manifest", libs)
	if code != exitOK || !strings.Contains(stdout, "verdict: all 2 C-ABI libraries are fit for C hosts\n") || strings.Contains(stdout, "host ") {
		t.Errorf("libraries only: exit %d\n%s%s", code, stdout, stderr)
	}
	code, _, stderr = runCheckCmd("check", "--manifest", goOnly, "--symbols", "plugin_init")
	if code != exitUsage || !strings.Contains(stderr, "--symbols checks C-ABI libraries, and "+goOnly+" lists none") {
		t.Errorf("--symbols without libraries: exit %d\n%s", code, stderr)
	}
	code, _, stderr = runCheckCmd("check", "--manifest", libs, "--c-abi")
	if code != exitUsage || !strings.Contains(stderr, "--c-abi is for files") {
		t.Errorf("--manifest --c-abi: exit %d\n%s", code, stderr)
	}
	code, stdout, _ = runCheckCmd("--json", "check", "--manifest", libs, "--symbols", "plugin_close")
	var j struct {
		OK        bool
		Host      string
		Libraries []struct {
			File, BuildMode, Kind, Header, Status string
			Exports                               []string
			Fixes                                 []string
		}
	}
	if err := json.Unmarshal([]byte(stdout), &j); err != nil {
		t.Fatalf("json: %v\n%s", err, stdout)
	}
	if code != exitFailure || j.OK || j.Host != "" || len(j.Libraries) != 2 || j.Libraries[0].Kind != "c-shared" || j.Libraries[0].Header != "lib/nbd.h" ||
		j.Libraries[1].BuildMode != "c-archive" || j.Libraries[0].Status != "fail" || !strings.Contains(j.Libraries[0].Fixes[0], "//export plugin_close") {
		t.Errorf("json: exit %d\n%s", code, stdout)
	}
}
