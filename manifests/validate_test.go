package manifests

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestReadValidates: a manifest is input; Read refuses every value that
// breaks a rule of the format, naming the field.
func TestReadValidates(t *testing.T) {
	golden := writeBytes(t, testManifest())
	type doc = map[string]any
	edit := func(f func(d doc)) string {
		var d doc
		if err := json.Unmarshal(golden, &d); err != nil {
			t.Fatal(err)
		}
		f(d)
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	art := func(d doc, i int) doc { return d["artifacts"].([]any)[i].(doc) }
	// In the golden manifest artifacts[0] is the host "app", [1] the plugin.
	setFile := func(f string) func(d doc) { return func(d doc) { art(d, 1)["file"] = f } }

	tests := []struct {
		name string
		doc  string
		want string // the whole error after "read manifest: "; "" means success
	}{
		{"golden", string(golden), ""},
		{"file in a directory", edit(setFile("plugins/x/hello.so")), ""},
		{"file with dots", edit(setFile("plugins/..hello.so")), ""},
		{"file dot-dot", edit(setFile("../x")), `artifacts[1].file: "../x" leaves the output directory`},
		{"file far out", edit(setFile("../../../etc/hostname")), `artifacts[1].file: "../../../etc/hostname" leaves the output directory`},
		{"file dot-dot inside", edit(setFile("plugins/../../x")), `artifacts[1].file: "plugins/../../x" leaves the output directory`},
		{"file dot-dot back in", edit(setFile("plugins/../hello.so")), `artifacts[1].file: "plugins/../hello.so" is not a clean path: ".." elements are not allowed`},
		{"file absolute", edit(setFile("/etc/hostname")), `artifacts[1].file: "/etc/hostname" is absolute; it must be relative to the output directory`},
		{"file backslash", edit(setFile(`plugins\hello.so`)), `artifacts[1].file: "plugins\\hello.so" has a backslash; separate directories with "/"`},
		{"file empty", edit(setFile("")), `artifacts[1].file: empty`},
		{"file dot", edit(setFile(".")), `artifacts[1].file: "." is not a clean path: "." elements are not allowed`},
		{"file dot element", edit(setFile("./hello.so")), `artifacts[1].file: "./hello.so" is not a clean path: "." elements are not allowed`},
		{"file empty element", edit(setFile("plugins//hello.so")), `artifacts[1].file: "plugins//hello.so" is not a clean path: empty elements are not allowed`},
		{"file trailing slash", edit(setFile("plugins/")), `artifacts[1].file: "plugins/" is not a clean path: empty elements are not allowed`},
		{"file control character", edit(setFile("plugins/a\nb.so")), `artifacts[1].file: "plugins/a\nb.so" has a control character`},
		{"file DEL", edit(setFile("plugins/a\x7fb.so")), `artifacts[1].file: "plugins/a\x7fb.so" has a control character`},
		{"file twice", edit(setFile("app")), `artifacts[1].file: "app" is also artifacts[0].file`},
		{"file inside another", edit(setFile("app/hello.so")), `artifacts[1].file: "app/hello.so" is inside artifacts[0].file "app"`},
		{"file is the manifest", edit(setFile(FileName)), `artifacts[1].file: "pbuild.manifest.json" is the manifest's own name`},
		{"kind", edit(func(d doc) { art(d, 1)["kind"] = "library" }), `artifacts[1].kind: unknown kind "library"; want one of "host", "plugin", "c-shared" or "c-archive"`},
		// In the golden manifest artifacts[2] is the c-shared library nbd,
		// [3] the c-archive nbdstatic.
		{"C-ABI kind in version 1", edit(func(d doc) {
			d["schemaVersion"] = 1
			delete(d["toolchain"].(doc), "packages")
			for _, a := range d["artifacts"].([]any) {
				for _, k := range []string{"loadedBy", "header", "cSymbols", "glibc"} {
					delete(a.(doc), k)
				}
			}
		}), `artifacts[2].kind: kind "c-shared" needs schemaVersion 2`},
		{"header missing", edit(func(d doc) { delete(art(d, 2), "header") }), `artifacts[2].header: missing: a c-shared library has a C header`},
		{"header on a plugin", edit(func(d doc) {
			art(d, 1)["header"] = doc{"file": "plugins/hello.h", "size": 1, "sha256": strings.Repeat("a", 64)}
		}),
			`artifacts[1].header: a plugin has no C header; only c-shared and c-archive libraries do`},
		{"header on the host", edit(func(d doc) { art(d, 0)["header"] = doc{"file": "app.h", "size": 1, "sha256": strings.Repeat("a", 64)} }),
			`artifacts[0].header: a host has no C header; only c-shared and c-archive libraries do`},
		{"header leaves", edit(func(d doc) { art(d, 2)["header"].(doc)["file"] = "../nbd.h" }), `artifacts[2].header.file: "../nbd.h" leaves the output directory`},
		{"header absolute", edit(func(d doc) { art(d, 2)["header"].(doc)["file"] = "/usr/include/nbd.h" }),
			`artifacts[2].header.file: "/usr/include/nbd.h" is absolute; it must be relative to the output directory`},
		{"header is the artifact", edit(func(d doc) { art(d, 2)["header"].(doc)["file"] = "lib/nbd.so" }), `artifacts[2].header.file: "lib/nbd.so" is also artifacts[2].file`},
		{"header is another header", edit(func(d doc) { art(d, 3)["header"].(doc)["file"] = "lib/nbd.h" }), `artifacts[3].header.file: "lib/nbd.h" is also artifacts[2].header.file`},
		{"file is a header", edit(setFile("lib/nbd.h")), `artifacts[2].header.file: "lib/nbd.h" is also artifacts[1].file`},
		{"header inside a file", edit(func(d doc) { art(d, 2)["header"].(doc)["file"] = "app/nbd.h" }), `artifacts[2].header.file: "app/nbd.h" is inside artifacts[0].file "app"`},
		{"file inside a header", edit(setFile("lib/nbd.h/hello.so")), `artifacts[1].file: "lib/nbd.h/hello.so" is inside artifacts[2].header.file "lib/nbd.h"`},
		{"header is the manifest", edit(func(d doc) { art(d, 2)["header"].(doc)["file"] = FileName }), `artifacts[2].header.file: "pbuild.manifest.json" is the manifest's own name`},
		{"header size", edit(func(d doc) { art(d, 2)["header"].(doc)["size"] = -1 }), `artifacts[2].header.size: -1 is negative`},
		{"header sha256", edit(func(d doc) { art(d, 2)["header"].(doc)["sha256"] = "00" }), `artifacts[2].header.sha256: "00" is not 64 lowercase hex digits`},
		{"pluginpath of a library", edit(func(d doc) { art(d, 3)["pluginpath"] = "example.com/nbd" }), `artifacts[3].pluginpath: a c-archive has no pluginpath`},
		{"C symbols of a plugin", edit(func(d doc) { art(d, 1)["cSymbols"] = []any{"x"} }),
			`artifacts[1].cSymbols: a plugin lists no C symbols; only c-shared and c-archive libraries do`},
		{"C symbol empty", edit(func(d doc) { art(d, 2)["cSymbols"] = []any{""} }), `artifacts[2].cSymbols[0]: empty`},
		{"C symbol with a space", edit(func(d doc) { art(d, 2)["cSymbols"] = []any{"a b"} }), `artifacts[2].cSymbols[0]: "a b" has a space or a control character`},
		{"C symbols unsorted", edit(func(d doc) { art(d, 2)["cSymbols"] = []any{"b", "a", "a"} }), ""},
		{"glibc", edit(func(d doc) { art(d, 2)["glibc"] = []any{"GLIBC_2.34", "2.36"} }), `artifacts[2].glibc[1]: "2.36" is not GLIBC_x.y or GLIBC_PRIVATE`},
		{"glibc of a host", edit(func(d doc) { art(d, 0)["glibc"] = []any{"GLIBC_2.34", "GLIBC_PRIVATE"} }), ""},
		{"loadedBy control", edit(func(d doc) { art(d, 2)["loadedBy"] = "a C host\n" }), `artifacts[2].loadedBy: "a C host\n" has a control character`},
		{"package", edit(func(d doc) { d["toolchain"].(doc)["packages"] = []any{"libnbd-dev=1.14.2-1", "libnbd dev"} }),
			`toolchain.packages[1]: "libnbd dev" is not a Debian package NAME[:ARCH][=VERSION]: bad name "libnbd dev"`},
		{"package version", edit(func(d doc) { d["toolchain"].(doc)["packages"] = []any{"libnbd-dev=1.14 2"} }),
			`toolchain.packages[0]: "libnbd-dev=1.14 2" is not a Debian package NAME[:ARCH][=VERSION]: bad version "1.14 2"`},
		{"package architecture", edit(func(d doc) { d["toolchain"].(doc)["packages"] = []any{"libc6-dev:=2.36"} }),
			`toolchain.packages[0]: "libc6-dev:=2.36" is not a Debian package NAME[:ARCH][=VERSION]: bad architecture ""`},
		{"package with architecture", edit(func(d doc) { d["toolchain"].(doc)["packages"] = []any{"libc6-dev:arm64=2.36-9+deb12u4", "g++"} }), ""},
		{"two hosts", edit(func(d doc) { art(d, 1)["kind"] = "host" }), `artifacts[1].kind: a second host; artifacts[0] is the host`},
		{"sha256 upper case", edit(func(d doc) { art(d, 1)["sha256"] = strings.ToUpper(art(d, 1)["sha256"].(string)) }), `artifacts[1].sha256: "2C26B46B68FFC68FF99B453C1D30413413422D706483BFA0F98A5E886266E7AE" is not 64 lowercase hex digits`},
		{"sha256 short", edit(func(d doc) { art(d, 1)["sha256"] = "2c26b4" }), `artifacts[1].sha256: "2c26b4" is not 64 lowercase hex digits`},
		{"size negative", edit(func(d doc) { art(d, 1)["size"] = -1 }), `artifacts[1].size: -1 is negative`},
		{"name", edit(func(d doc) { art(d, 1)["name"] = "hello world" }), `artifacts[1].name: invalid name "hello world"; use letters, digits, '.', '_' and '-', starting with a letter or digit`},
		{"name empty", edit(func(d doc) { art(d, 1)["name"] = "" }), `artifacts[1].name: invalid name ""; use letters, digits, '.', '_' and '-', starting with a letter or digit`},
		{"name path", edit(func(d doc) { art(d, 1)["name"] = "../hello" }), `artifacts[1].name: invalid name "../hello"; use letters, digits, '.', '_' and '-', starting with a letter or digit`},
		{"name twice", edit(func(d doc) { art(d, 1)["name"] = "app" }), `artifacts[1].name: "app" is also artifacts[0].name`},
		{"package hash", edit(func(d doc) { art(d, 1)["packages"].(doc)["fmt"] = "XYZ" }), `artifacts[1].packages["fmt"]: "XYZ" is not 16 lowercase hex digits`},
		{"abiKey", edit(func(d doc) { d["abiKey"] = "md5:abc" }), `abiKey: "md5:abc" is not "sha256:" and 64 lowercase hex digits`},
		{"against", edit(func(d doc) { d["against"] = "xyz" }), `against: "xyz" is not 64 lowercase hex digits`},
		{"goos", edit(func(d doc) { d["toolchain"].(doc)["goos"] = "../linux" }), `toolchain.goos: "../linux" is not a lowercase word`},
		{"goarch empty", edit(func(d doc) { d["toolchain"].(doc)["goarch"] = "" }), `toolchain.goarch: "" is not a lowercase word`},
		{"goamd64", edit(func(d doc) { d["toolchain"].(doc)["goamd64"] = "v9" }), `toolchain.goamd64: "v9" is not v1, v2, v3 or v4`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Read(strings.NewReader(tt.doc))
			if tt.want == "" {
				if err != nil || m == nil {
					t.Fatalf("Read: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Read succeeded, want %q", tt.want)
			}
			if got := strings.TrimPrefix(err.Error(), "read manifest: "); got != tt.want {
				t.Errorf("Read error\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestReadLimit: Read stops at MaxSize bytes.
func TestReadLimit(t *testing.T) {
	data := append(writeBytes(t, testManifest()), bytes.Repeat([]byte(" "), MaxSize)...)
	if _, err := Read(bytes.NewReader(data)); err == nil || !strings.Contains(err.Error(), "over the limit") {
		t.Errorf("Read of %d bytes = %v, want an error saying it is over the limit", len(data), err)
	}
}
