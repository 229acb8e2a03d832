package config

import (
	"reflect"
	"testing"
)

// TestTargetsAndPlatforms: C-ABI libraries, platforms, file templates and
// pinned packages, and what the config refuses about them.
func TestTargetsAndPlatforms(t *testing.T) {
	project(t)
	const head = "version: 1\ntoolchain: {go: 1.24.4}\n"
	for _, c := range []struct {
		name, yaml, want string
	}{
		{"buildmode on a plugin", head + "host: {name: h, path: ./host}\nplugins:\n  - {name: p, path: ./plugins/hello, buildmode: c-shared}\n",
			`pbuild.yaml:5: plugins[0].buildmode: only libraries have a buildmode: plugins are built with -buildmode=plugin, the host as an executable`},
		{"unknown buildmode", head + "libraries:\n  - {name: l, path: ./plugins/hello, buildmode: pie}\n",
			`pbuild.yaml:4: libraries[0].buildmode: buildmode "pie": a library is c-shared (a .so and its .h, for C hosts that dlopen it) or c-archive (a .a and its .h)`},
		{"unknown platform", head + "host: {name: h, path: ./host}\nplatforms: [linux/amd64, windows/amd64]\n",
			`pbuild.yaml:4: platforms[1]: platform "windows/amd64": pbuild builds for linux/amd64 and linux/arm64`},
		{"duplicate platform", head + "host: {name: h, path: ./host}\nplatforms: [linux/arm64, linux/arm64]\n",
			`pbuild.yaml:4: platforms[1]: duplicate platform "linux/arm64" (also platforms[0])`},
		{"unpinned package", "version: 1\ntoolchain: {go: 1.24.4, packages: [zlib1g-dev]}\nhost: {name: h, path: ./host}\n",
			`pbuild.yaml:2: toolchain.packages[0]: package "zlib1g-dev": write a Debian package pinned to its version, NAME=VERSION (apt-cache policy NAME shows the versions)`},
		{"bad template", head + "host: {name: h, path: ./host}\nplugins:\n  - {name: p, path: ./plugins/hello, file: \"plugins/{{.Versoin}}.so\"}\n",
			`pbuild.yaml:5: plugins[0].file: file "plugins/{{.Versoin}}.so": template: file:1:10: executing "file" at <.Versoin>: can't evaluate field Versoin in type config.FileData; the template may use {{.Name}}, {{.Version}}, {{.OS}} and {{.Arch}}`},
		{"template leaving the output", head + "host: {name: h, path: ./host}\nplugins:\n  - {name: p, path: ./plugins/hello, file: \"../{{.Name}}.so\"}\n",
			`pbuild.yaml:5: plugins[0].file: file "../{{.Name}}.so": "../name.so" is not a clean path inside the output directory`},
		{"hidden file", head + "host: {name: h, path: ./host}\nplugins:\n  - {name: p, path: ./plugins/hello, file: \".p.so\"}\n",
			`pbuild.yaml:5: plugins[0].file: file ".p.so": ".p.so" is hidden: pbuild keeps its own files there`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("pbuild.yaml", []byte(c.yaml))
			if err == nil || err.Error() != c.want {
				t.Errorf("got  %v\nwant %s", err, c.want)
			}
		})
	}

	// Libraries only: no Go host is needed.
	cfg, err := Parse("pbuild.yaml", []byte("version: 1\ntoolchain: {go: 1.24.4, packages: [\"zlib1g-dev=1:1.2.13.dfsg-1\"]}\nplatforms: [linux/amd64, linux/arm64]\nlibraries:\n  - {name: nbd, path: ./plugins/hello, file: \"nbdkit-{{.Name}}-plugin.so\"}\n  - {name: st, path: ./plugins/world, buildmode: c-archive, version: v1.2}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Artifact{
		{Name: "nbd", Path: "./plugins/hello", File: "nbdkit-{{.Name}}-plugin.so", BuildMode: "c-shared"},
		{Name: "st", Path: "./plugins/world", BuildMode: "c-archive", Version: "1.2"},
	}
	if !reflect.DeepEqual(cfg.Libraries, want) || !reflect.DeepEqual(cfg.Platforms, []string{"linux/amd64", "linux/arm64"}) || cfg.Toolchain.Packages[0] != "zlib1g-dev=1:1.2.13.dfsg-1" {
		t.Errorf("config %+v", cfg)
	}
	if cfg.Host.Name != "" || len(cfg.Artifacts()) != 2 {
		t.Errorf("artifacts %+v", cfg.Artifacts())
	}
}
