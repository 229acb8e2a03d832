package config

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// project creates a project directory with a host, two plugin directories
// and a regular file, makes it the working directory and returns its
// absolute path.
func project(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"host", "plugins/hello", "plugins/world"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"README", "plugins/plugin1.go"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("hi\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	abs, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		// Whole-file problems.
		{
			name: "empty",
			yaml: ``,
			want: `pbuild.yaml: empty config; start with "version: 1"`,
		},
		{
			name: "only comments",
			yaml: "# nothing here\n\n# yet\n",
			want: `pbuild.yaml: empty config; start with "version: 1"`,
		},
		{
			name: "empty document",
			yaml: "---\n",
			want: `pbuild.yaml: empty config; start with "version: 1"`,
		},
		{
			name: "two documents",
			yaml: "version: 1\n---\nversion: 1\n",
			want: `pbuild.yaml:2: more than one YAML document; the config must be a single document`,
		},
		{
			name: "syntax error",
			yaml: "version: 1\nplugins: [\n",
			want: `pbuild.yaml:2: invalid YAML: did not find expected node content`,
		},
		{
			name: "tab indentation",
			yaml: "version: 1\n\ttoolchain: {}\n",
			want: `pbuild.yaml:2: invalid YAML: found a tab character that violates indentation`,
		},
		{
			name: "top level list",
			yaml: "- version: 1\n",
			want: `pbuild.yaml:1: expected a mapping of settings at the top level, got a list`,
		},
		{
			name: "top level scalar",
			yaml: "hello\n",
			want: `pbuild.yaml:1: expected a mapping of settings at the top level, got "hello"`,
		},

		// version
		{
			name: "version missing",
			yaml: `toolchain:
  go: 1.24.4
host: {name: greeter, path: ./host}
`,
			want: `pbuild.yaml: version: missing; add "version: 1" at the top of the file`,
		},
		{
			name: "version null",
			yaml: "version:\n",
			want: `pbuild.yaml: version: missing; add "version: 1" at the top of the file`,
		},
		{
			name: "version unsupported",
			yaml: "version: 2\n",
			want: `pbuild.yaml:1: version: unsupported version 2; this pbuild supports only version 1`,
		},
		{
			name: "version is a string",
			yaml: "version: \"1\"\n",
			want: `pbuild.yaml:1: version: expected an integer, got "1"`,
		},
		{
			name: "version is a float",
			yaml: "version: 1.0\n",
			want: `pbuild.yaml:1: version: expected an integer, got 1.0`,
		},
		{
			name: "version checked before other fields",
			yaml: "colour: blue\nversion: 2\n",
			want: `pbuild.yaml:2: version: unsupported version 2; this pbuild supports only version 1`,
		},

		// Strict decoding.
		{
			name: "unknown top-level field",
			yaml: `version: 1
toolchain:
  go: 1.24.4
host: {name: greeter, path: ./host}
ouptut: dist
`,
			want: `pbuild.yaml:5: unknown field "ouptut"`,
		},
		{
			name: "unknown toolchain field",
			yaml: `version: 1
toolchain:
  base: pbuild/base:bookworm
  gover: 1.24.4
`,
			want: `pbuild.yaml:4: toolchain: unknown field "gover"`,
		},
		{
			name: "unknown host field",
			yaml: `version: 1
toolchain: {go: 1.24.4}
host:
  name: greeter
  dir: ./host
`,
			want: `pbuild.yaml:5: host: unknown field "dir"`,
		},
		{
			name: "unknown plugin field",
			yaml: `version: 1
toolchain: {go: 1.24.4}
host: {name: greeter, path: ./host}
plugins:
  - {name: hello, path: ./plugins/hello}
  - {nmae: world, path: ./plugins/world}
`,
			want: `pbuild.yaml:6: plugins[1]: unknown field "nmae"`,
		},
		{
			name: "unknown build field",
			yaml: `version: 1
toolchain: {go: 1.24.4}
host: {name: greeter, path: ./host}
build:
  tags: [a]
  gcflags: -N
`,
			want: `pbuild.yaml:6: build: unknown field "gcflags"`,
		},
		{
			name: "duplicate key",
			yaml: `version: 1
toolchain:
  go: 1.24.4
  go: 1.24.5
`,
			want: `pbuild.yaml:4: toolchain: duplicate key "go" (first on line 3)`,
		},
		{
			name: "duplicate top-level key",
			yaml: `version: 1
toolchain: {go: 1.24.4}
host: {name: greeter, path: ./host}
host: {name: greeter, path: ./host}
`,
			want: `pbuild.yaml:4: duplicate key "host" (first on line 3)`,
		},
		{
			name: "merge key",
			yaml: `version: 1
toolchain: {go: 1.24.4}
host: &h {name: greeter, path: ./host}
plugins:
  - <<: *h
    name: hello
`,
			want: `pbuild.yaml:5: plugins[0]: merge keys (<<) are not supported`,
		},
		{
			name: "plugins not a list",
			yaml: `version: 1
toolchain: {go: 1.24.4}
host: {name: greeter, path: ./host}
plugins: 3
`,
			want: `pbuild.yaml:4: plugins: expected a list, got 3`,
		},
		{
			name: "toolchain not a mapping",
			yaml: "version: 1\ntoolchain: 1.24.4\n",
			want: `pbuild.yaml:2: toolchain: expected a mapping, got "1.24.4"`,
		},
		{
			name: "toolchain.go not a string",
			yaml: "version: 1\ntoolchain: {go: [1.24.4]}\n",
			want: `pbuild.yaml:2: toolchain.go: expected a string, got a list`,
		},
		{
			name: "host not a mapping",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: greeter\n",
			want: `pbuild.yaml:3: host: expected a mapping with name and path, got "greeter"`,
		},
		{
			name: "plugin not a mapping",
			yaml: `version: 1
toolchain: {go: 1.24.4}
host: {name: greeter, path: ./host}
plugins:
  - hello
`,
			want: `pbuild.yaml:5: plugins[0]: expected a mapping with name and path, got "hello"`,
		},
		{
			name: "name not a string",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: {a: b}, path: ./host}\n",
			want: `pbuild.yaml:3: host.name: expected a string, got a mapping`,
		},
		{
			name: "build not a mapping",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: greeter, path: ./host}\nbuild: [tags]\n",
			want: `pbuild.yaml:4: build: expected a mapping, got a list`,
		},
		{
			name: "tags not a list",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: greeter, path: ./host}\nbuild: {tags: \"a,b\"}\n",
			want: `pbuild.yaml:4: build.tags: expected a list, got "a,b"`,
		},
		{
			name: "env not a mapping",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: greeter, path: ./host}\nbuild: {env: [A=1]}\n",
			want: `pbuild.yaml:4: build.env: expected a mapping, got a list`,
		},
		{
			name: "env value not a string",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: greeter, path: ./host}\nbuild:\n  env:\n    CGO_CFLAGS: [-O2]\n",
			want: `pbuild.yaml:6: build.env.CGO_CFLAGS: expected a string, got a list`,
		},
		{
			name: "output not a string",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: greeter, path: ./host}\noutput: [dist]\n",
			want: `pbuild.yaml:4: output: expected a string, got a list`,
		},

		// toolchain
		{
			name: "toolchain missing",
			yaml: "version: 1\nhost: {name: greeter, path: ./host}\n",
			want: `pbuild.yaml: toolchain.go: missing; set it to an exact Go release such as 1.24.4`,
		},
		{
			name: "toolchain null",
			yaml: "version: 1\ntoolchain:\nhost: {name: greeter, path: ./host}\n",
			want: `pbuild.yaml:2: toolchain.go: missing; set it to an exact Go release such as 1.24.4`,
		},
		{
			name: "toolchain.go missing",
			yaml: "version: 1\ntoolchain:\n  base: pbuild/base:bookworm\n",
			want: `pbuild.yaml:2: toolchain.go: missing; set it to an exact Go release such as 1.24.4`,
		},
		{
			name: "toolchain.go language version",
			yaml: "version: 1\ntoolchain:\n  go: 1.24\n",
			want: `pbuild.yaml:3: toolchain.go: "1.24" is not an exact Go release; write it like 1.24.4`,
		},
		{
			name: "toolchain.go float keeps trailing zero",
			yaml: "version: 1\ntoolchain:\n  go: 1.20\n",
			want: `pbuild.yaml:3: toolchain.go: "1.20" is not an exact Go release; write it like 1.24.4`,
		},
		{
			name: "toolchain.go with go prefix",
			yaml: "version: 1\ntoolchain:\n  go: go1.24.4\n",
			want: `pbuild.yaml:3: toolchain.go: "go1.24.4" has a "go" prefix; write it as 1.24.4`,
		},
		{
			name: "toolchain.go language version with go prefix",
			yaml: "version: 1\ntoolchain:\n  go: go1.24\n",
			want: `pbuild.yaml:3: toolchain.go: "go1.24" is not an exact Go release; write it like 1.24.4`,
		},
		{
			name: "toolchain.go not a version",
			yaml: "version: 1\ntoolchain:\n  go: latest\n",
			want: `pbuild.yaml:3: toolchain.go: "latest" is not an exact Go release; write it like 1.24.4`,
		},
		{
			name: "toolchain.go leading zero",
			yaml: "version: 1\ntoolchain:\n  go: 1.024.1\n",
			want: `pbuild.yaml:3: toolchain.go: "1.024.1" is not an exact Go release; write it like 1.24.4`,
		},
		{
			name: "toolchain.go rc0",
			yaml: "version: 1\ntoolchain:\n  go: 1.25rc0\n",
			want: `pbuild.yaml:3: toolchain.go: "1.25rc0" is not an exact Go release; write it like 1.24.4`,
		},
		{
			name: "toolchain.go too old",
			yaml: "version: 1\ntoolchain:\n  go: 1.21.5\n",
			want: `pbuild.yaml:3: toolchain.go: Go 1.21.5 is too old; pbuild needs Go 1.22 or later (for "go work vendor")`,
		},
		{
			name: "toolchain.go prerelease too old",
			yaml: "version: 1\ntoolchain:\n  go: 1.21rc2\n",
			want: `pbuild.yaml:3: toolchain.go: Go 1.21rc2 is too old; pbuild needs Go 1.22 or later (for "go work vendor")`,
		},
		{
			name: "toolchain.base with space",
			yaml: "version: 1\ntoolchain:\n  go: 1.24.4\n  base: pbuild/base bookworm\n",
			want: `pbuild.yaml:4: toolchain.base: "pbuild/base bookworm" is not a valid image reference`,
		},
		{
			name: "toolchain.sum too short",
			yaml: "version: 1\ntoolchain:\n  go: 1.24.4\n  sum: h1:abc=\n",
			want: `pbuild.yaml:4: toolchain.sum: "h1:abc=" is not a module hash; expected "h1:" followed by 44 base64 characters, as in go.sum`,
		},
		{
			name: "toolchain.sum wrong prefix",
			yaml: "version: 1\ntoolchain:\n  go: 1.24.4\n  sum: h2:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
			want: `pbuild.yaml:4: toolchain.sum: "h2:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" is not a module hash; expected "h1:" followed by 44 base64 characters, as in go.sum`,
		},
		{
			name: "toolchain.sum not base64",
			yaml: "version: 1\ntoolchain:\n  go: 1.24.4\n  sum: h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSu!!=\n",
			want: `pbuild.yaml:4: toolchain.sum: "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSu!!=" is not a module hash; expected "h1:" followed by 44 base64 characters, as in go.sum`,
		},

		// host and plugins
		{
			name: "nothing to build",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nplugins: []\n",
			want: `pbuild.yaml: host: missing; declare the plugin host as "host: {name: NAME, path: DIR}" (a project of plugins only builds them against a released host's manifest)`,
		},
		{
			name: "host null",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost:\n",
			want: `pbuild.yaml:3: host.name: missing`,
		},
		{
			name: "host name missing",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost:\n  path: ./host\n",
			want: `pbuild.yaml:3: host.name: missing`,
		},
		{
			name: "host path missing",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost:\n  name: greeter\n",
			want: `pbuild.yaml:3: host.path: missing`,
		},
		{
			name: "plugin path empty",
			yaml: `version: 1
toolchain: {go: 1.24.4}
host: {name: greeter, path: ./host}
plugins:
  - {name: hello, path: ./plugins/hello}
  - name: world
    path: ""
`,
			want: `pbuild.yaml:6: plugins[1].path: missing`,
		},
		{
			name: "plugin entry null",
			yaml: `version: 1
toolchain: {go: 1.24.4}
host: {name: greeter, path: ./host}
plugins:
  -
`,
			want: `pbuild.yaml:5: plugins[0].name: missing`,
		},
		{
			name: "name with space",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: hello world, path: ./host}\n",
			want: `pbuild.yaml:3: host.name: invalid name "hello world"; use letters, digits, '.', '_' and '-', starting with a letter or digit`,
		},
		{
			name: "name starting with dash",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: -greeter, path: ./host}\n",
			want: `pbuild.yaml:3: host.name: invalid name "-greeter"; use letters, digits, '.', '_' and '-', starting with a letter or digit`,
		},
		{
			name: "name with slash",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: a/b, path: ./host}\n",
			want: `pbuild.yaml:3: host.name: invalid name "a/b"; use letters, digits, '.', '_' and '-', starting with a letter or digit`,
		},
		{
			name: "name too long",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: " + strings.Repeat("a", 65) + ", path: ./host}\n",
			want: `pbuild.yaml:3: host.name: name is 65 characters long; the limit is 64`,
		},
		{
			name: "plugin named like host",
			yaml: `version: 1
toolchain: {go: 1.24.4}
host: {name: greeter, path: ./host}
plugins:
  - name: greeter
    path: ./plugins/hello
`,
			want: `pbuild.yaml:5: plugins[0].name: name "greeter" is already used by host (line 3)`,
		},
		{
			name: "plugins with same name",
			yaml: `version: 1
toolchain: {go: 1.24.4}
host: {name: greeter, path: ./host}
plugins:
  - {name: hello, path: ./plugins/hello}
  - {name: hello, path: ./plugins/world}
`,
			want: `pbuild.yaml:6: plugins[1].name: name "hello" is already used by plugins[0] (line 5)`,
		},
		{
			name: "names differing in case",
			yaml: `version: 1
toolchain: {go: 1.24.4}
host: {name: greeter, path: ./host}
plugins:
  - {name: hello, path: ./plugins/hello}
  - {name: Hello, path: ./plugins/world}
`,
			want: `pbuild.yaml:6: plugins[1].name: name "Hello" differs only in case from "hello" of plugins[0] (line 5)`,
		},
		{
			name: "path does not exist",
			yaml: `version: 1
toolchain: {go: 1.24.4}
host: {name: greeter, path: ./host}
plugins:
  - {name: hello, path: ./plugins/nope}
`,
			want: `pbuild.yaml:5: plugins[0].path: ./plugins/nope does not exist`,
		},
		{
			// Older projects name a plugin by its file; it was refused
			// with "is not a directory" and no way forward.
			name: "path is a Go file",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: greeter, path: ./host}\nplugins:\n  - {name: p1, path: ./plugins/plugin1.go}\n",
			want: `pbuild.yaml:5: plugins[0].path: ./plugins/plugin1.go is a Go file; pbuild builds a package directory: move it into a directory of its own (./plugins/plugin1/plugin1.go, with a go.mod above it) and set path to ./plugins/plugin1`,
		},
		{
			name: "path is a file",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: greeter, path: ./README}\n",
			want: `pbuild.yaml:3: host.path: ./README is not a directory`,
		},
		{
			name: "paths shared",
			yaml: `version: 1
toolchain: {go: 1.24.4}
host: {name: greeter, path: ./host}
plugins:
  - {name: hello, path: ./plugins/hello}
  - {name: world, path: plugins/world/../hello/}
`,
			want: `pbuild.yaml:6: plugins[1].path: plugins/world/../hello/ is the same directory as plugins[0].path (line 5)`,
		},
		{
			name: "plugin path is host path",
			yaml: `version: 1
toolchain: {go: 1.24.4}
host:
  name: greeter
  path: host
plugins:
  - {name: hello, path: ./host}
`,
			want: `pbuild.yaml:7: plugins[0].path: ./host is the same directory as host.path (line 5)`,
		},

		// build
		{
			name: "invalid tag",
			yaml: `version: 1
toolchain: {go: 1.24.4}
host: {name: greeter, path: ./host}
build:
  tags: [netgo, with-debug]
`,
			want: `pbuild.yaml:5: build.tags[1]: invalid tag "with-debug"; tags may contain only letters, digits, '_' and '.'`,
		},
		{
			name: "empty tag",
			yaml: `version: 1
toolchain: {go: 1.24.4}
host: {name: greeter, path: ./host}
build:
  tags:
    - ""
`,
			want: `pbuild.yaml:6: build.tags[0]: invalid tag ""; tags may contain only letters, digits, '_' and '.'`,
		},
		{
			name: "duplicate tag",
			yaml: `version: 1
toolchain: {go: 1.24.4}
host: {name: greeter, path: ./host}
build:
  tags:
    - netgo
    - osusergo
    - netgo
`,
			want: `pbuild.yaml:8: build.tags[2]: duplicate tag "netgo" (also build.tags[0])`,
		},
		{
			name: "invalid env name",
			yaml: `version: 1
toolchain: {go: 1.24.4}
host: {name: greeter, path: ./host}
build:
  env:
    GOAMD64: v3
    1FOO: x
`,
			want: `pbuild.yaml:7: build.env: invalid variable name "1FOO"`,
		},
		{
			name: "env name with dash",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: greeter, path: ./host}\nbuild: {env: {MY-VAR: x}}\n",
			want: `pbuild.yaml:4: build.env: invalid variable name "MY-VAR"`,
		},
		{
			name: "duplicate env name",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: greeter, path: ./host}\nbuild:\n  env:\n    A: x\n    A: y\n",
			want: `pbuild.yaml:7: build.env: duplicate key "A" (first on line 6)`,
		},
		{
			name: "reserved env GOOS",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: greeter, path: ./host}\nbuild:\n  env:\n    GOOS: windows\n",
			want: `pbuild.yaml:6: build.env: GOOS is set by pbuild and cannot be overridden`,
		},
		{
			name: "reserved env CGO_ENABLED",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: greeter, path: ./host}\nbuild:\n  env:\n    CGO_ENABLED: 0\n",
			want: `pbuild.yaml:6: build.env: CGO_ENABLED is set by pbuild and cannot be overridden`,
		},
		{
			name: "reserved env GOFLAGS",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: greeter, path: ./host}\nbuild: {env: {GOFLAGS: -mod=mod}}\n",
			want: `pbuild.yaml:4: build.env: GOFLAGS is set by pbuild and cannot be overridden`,
		},
		{
			// It broke pbuild's own commands in the container ("prepare
			// /out/plugins: exit -1 ... not running", no hint).
			name: "reserved env PATH",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: greeter, path: ./host}\nbuild: {env: {PATH: /nonexistent}}\n",
			want: `pbuild.yaml:4: build.env: PATH is set by pbuild and cannot be overridden`,
		},
		{
			name: "reserved env HOME",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: greeter, path: ./host}\nbuild: {env: {HOME: /x}}\n",
			want: `pbuild.yaml:4: build.env: HOME is set by pbuild and cannot be overridden`,
		},

		// output
		{
			name: "output is the config directory",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: greeter, path: ./host}\noutput: .\n",
			want: `pbuild.yaml:4: output: . is the config directory; pbuild replaces the output directory on every build`,
		},
		{
			name: "output contains the config directory",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: greeter, path: ./host}\noutput: ..\n",
			want: `pbuild.yaml:4: output: .. contains the config directory; pbuild replaces the output directory on every build`,
		},
		{
			name: "output is the root directory",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: greeter, path: ./host}\noutput: /\n",
			want: `pbuild.yaml:4: output: / contains the config directory; pbuild replaces the output directory on every build`,
		},
		{
			name: "output is the host directory",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: greeter, path: ./host}\noutput: host/\n",
			want: `pbuild.yaml:4: output: host/ is the same directory as host.path (line 3); pbuild replaces the output directory on every build`,
		},
		{
			name: "output contains a plugin",
			yaml: `version: 1
toolchain: {go: 1.24.4}
host: {name: greeter, path: ./host}
plugins:
  - {name: hello, path: ./plugins/hello}
output: plugins
`,
			want: `pbuild.yaml:6: output: plugins contains plugins[0].path (line 5); pbuild replaces the output directory on every build`,
		},
		// The first problem in file order wins.
		{
			name: "first problem wins over a later unknown field",
			yaml: `version: 1
toolchain:
  go: 1.19.1
host: {name: greeter, path: ./host}
bogus: true
`,
			want: `pbuild.yaml:3: toolchain.go: Go 1.19.1 is too old; pbuild needs Go 1.22 or later (for "go work vendor")`,
		},
		{
			name: "first problem wins over a later bad name",
			yaml: `version: 1
bogus: true
toolchain: {go: 1.24.4}
host: {name: "greeter!", path: ./host}
`,
			want: `pbuild.yaml:2: unknown field "bogus"`,
		},
		{
			name: "bad name before bad path in the same artifact",
			yaml: "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: \"greeter!\", path: ./nope}\n",
			want: `pbuild.yaml:3: host.name: invalid name "greeter!"; use letters, digits, '.', '_' and '-', starting with a letter or digit`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			project(t)
			cfg, err := Parse("pbuild.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v; want error %q", cfg, tt.want)
			}
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Parse error %q is %T; want *Error", err, err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Parse error:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestParseGood(t *testing.T) {
	dir := project(t)
	const data = `# A full config.
version: 1
toolchain:
  go: 1.24.4
  base: example.com/base:v2
  sum: h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=
host: { name: greeter, path: ./host }
plugins:
  - { name: hello, path: ./plugins/hello }
  - name: world.v2
    path: plugins/world/
build:
  tags: [netgo, osusergo]
  ldflags: -s -w -X main.version=1.0
  env:
    GOAMD64: v3
    GOEXPERIMENT: rangefunc
    CGO_CFLAGS: -O2
    EMPTY:
output: out/bin
`
	cfg, err := Parse("pbuild.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Version: 1,
		Toolchain: Toolchain{
			Go:   "1.24.4",
			Base: "example.com/base:v2",
			Sum:  "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
		},
		Host: Artifact{Name: "greeter", Path: "./host"},
		Plugins: []Artifact{
			{Name: "hello", Path: "./plugins/hello"},
			{Name: "world.v2", Path: "plugins/world/"},
		},
		Build: Build{
			Tags:    []string{"netgo", "osusergo"},
			Ldflags: "-s -w -X main.version=1.0",
			Env:     map[string]string{"GOAMD64": "v3", "GOEXPERIMENT": "rangefunc", "CGO_CFLAGS": "-O2", "EMPTY": ""},
		},
		Output: "out/bin",
		File:   filepath.Join(dir, "pbuild.yaml"),
		Dir:    dir,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", cfg, want)
	}
	if got, want := cfg.OutputDir(), filepath.Join(dir, "out", "bin"); got != want {
		t.Errorf("OutputDir() = %q; want %q", got, want)
	}
	if got, want := cfg.AbsPath(cfg.Plugins[1].Path), filepath.Join(dir, "plugins", "world"); got != want {
		t.Errorf("AbsPath(%q) = %q; want %q", cfg.Plugins[1].Path, got, want)
	}
	if got, want := cfg.AbsPath("/a/b/../c"), "/a/c"; got != want {
		t.Errorf("AbsPath(/a/b/../c) = %q; want %q", got, want)
	}
	wantArts := []Artifact{
		{Name: "greeter", Path: "./host"},
		{Name: "hello", Path: "./plugins/hello"},
		{Name: "world.v2", Path: "plugins/world/"},
	}
	arts := cfg.Artifacts()
	if !reflect.DeepEqual(arts, wantArts) {
		t.Errorf("Artifacts() = %+v; want %+v", arts, wantArts)
	}
	arts[1].Name = "changed"
	if cfg.Plugins[0].Name != "hello" {
		t.Error("modifying the result of Artifacts changed the config")
	}
}

func TestParseDefaults(t *testing.T) {
	dir := project(t)
	const data = `version: 1
toolchain:
  go: 1.25rc1
host: {name: greeter, path: ./host}
`
	cfg, err := Parse("pbuild.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Toolchain.Base != DefaultBase {
		t.Errorf("Toolchain.Base = %q; want %q", cfg.Toolchain.Base, DefaultBase)
	}
	if cfg.Toolchain.Go != "1.25rc1" {
		t.Errorf("Toolchain.Go = %q; want 1.25rc1", cfg.Toolchain.Go)
	}
	if cfg.Output != DefaultOutput {
		t.Errorf("Output = %q; want %q", cfg.Output, DefaultOutput)
	}
	if got, want := cfg.OutputDir(), filepath.Join(dir, DefaultOutput); got != want {
		t.Errorf("OutputDir() = %q; want %q", got, want)
	}
	if len(cfg.Plugins) != 0 {
		t.Errorf("Plugins = %+v; want none", cfg.Plugins)
	}
	if got := cfg.Artifacts(); len(got) != 1 || got[0] != cfg.Host {
		t.Errorf("Artifacts() = %+v; want only the host", got)
	}
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name string
		yaml string
	}{
		{"go 1.22.0", "version: 1\ntoolchain: {go: 1.22.0}\nhost: {name: h, path: host}\n"},
		{"go beta", "version: 1\ntoolchain: {go: 1.26beta1}\nhost: {name: h, path: host}\n"},
		{"go quoted", "version: 1\ntoolchain: {go: \"1.24.4\"}\nhost: {name: h, path: host}\n"},
		{"explicit document", "---\nversion: 1\ntoolchain: {go: 1.24.4}\nhost: {name: h, path: host}\n...\n"},
		{"empty plugins and build", "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: h, path: host}\nplugins: []\nbuild: {tags: [], ldflags: \"\", env: {}}\n"},
		{"null sections", "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: h, path: host}\nplugins:\nbuild:\noutput:\n"},
		{"aliases", "version: 1\ntoolchain: {go: &v 1.24.4}\nhost: {name: h, path: &p host}\nbuild: {env: {GOVERSION_HINT: *v}}\n"},
		{"host at the project root with output elsewhere", "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: h, path: .}\nplugins: [{name: p, path: plugins/hello}]\noutput: ../dist\n"},
		{"plugin inside host", "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: h, path: plugins}\nplugins: [{name: p, path: plugins/hello}]\n"},
		{"output inside the project", "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: h, path: host}\noutput: build/out\n"},
		{"output inside a plugin", "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: h, path: host}\nplugins: [{name: p, path: plugins/hello}]\noutput: plugins/hello/dist\n"},
		{"default output inside the host at the project root", "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: h, path: .}\n"},
		{"plugins only (built against a released host)", "version: 1\ntoolchain: {go: 1.24.4}\nplugins: [{name: p, path: plugins/hello}]\n"},
		{"name of 64 characters", "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: " + strings.Repeat("x", 64) + ", path: host}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			project(t)
			if _, err := Parse("pbuild.yaml", []byte(tt.yaml)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestParseAbsolutePaths(t *testing.T) {
	dir := project(t)
	data := "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: h, path: " + filepath.Join(dir, "host") + "}\n" +
		"plugins:\n  - {name: p, path: " + filepath.Join(dir, "plugins", "nope") + "}\n"
	_, err := Parse("pbuild.yaml", []byte(data))
	want := "pbuild.yaml:5: plugins[0].path: " + filepath.Join(dir, "plugins", "nope") + " does not exist"
	if err == nil || err.Error() != want {
		t.Errorf("Parse error = %v; want %s", err, want)
	}
}

func TestLoad(t *testing.T) {
	dir := project(t)
	file := filepath.Join(dir, FileName)
	data := "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: greeter, path: ./host}\n"
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	// Load from another directory, so that paths must be resolved
	// against the config file's directory rather than the working one.
	t.Chdir(t.TempDir())
	cfg, err := Load(context.Background(), file)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != file || cfg.Dir != dir {
		t.Errorf("File, Dir = %q, %q; want %q, %q", cfg.File, cfg.Dir, file, dir)
	}
	if got, want := cfg.AbsPath(cfg.Host.Path), filepath.Join(dir, "host"); got != want {
		t.Errorf("host path = %q; want %q", got, want)
	}
}

func TestLoadRelative(t *testing.T) {
	project(t)
	if err := os.Mkdir("sub", 0o755); err != nil {
		t.Fatal(err)
	}
	data := "version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: greeter, path: ../host}\noutput: ./\n"
	if err := os.WriteFile(filepath.Join("sub", FileName), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(context.Background(), "sub/../sub/"+FileName)
	want := "sub/../sub/pbuild.yaml:4: output: ./ is the config directory; pbuild replaces the output directory on every build"
	if err == nil || err.Error() != want {
		t.Errorf("Load error = %v; want %s", err, want)
	}

	cfg, err := Load(context.Background(), "sub/../sub/"+FileName+"x")
	if err == nil {
		t.Fatalf("Load of a missing file succeeded: %+v", cfg)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load error %v does not wrap fs.ErrNotExist", err)
	}
	if !strings.HasPrefix(err.Error(), "read config: ") {
		t.Errorf("Load error %q lacks the \"read config: \" prefix", err)
	}
	var cerr *Error
	if errors.As(err, &cerr) {
		t.Errorf("Load error %v is an *Error; want an os error", err)
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "a/pbuild.yaml", Line: 3, Field: "toolchain.go", Msg: "bad"}, "a/pbuild.yaml:3: toolchain.go: bad"},
		{Error{File: "pbuild.yaml", Field: "host", Msg: "missing"}, "pbuild.yaml: host: missing"},
		{Error{File: "pbuild.yaml", Line: 7, Msg: "invalid YAML"}, "pbuild.yaml:7: invalid YAML"},
		{Error{File: "pbuild.yaml", Msg: "empty config"}, "pbuild.yaml: empty config"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q; want %q", got, tt.want)
		}
	}
}

func TestPluginVersion(t *testing.T) {
	project(t)
	cfg, err := Parse("pbuild.yaml", []byte("version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: h, path: host}\nplugins:\n  - {name: hello-0.2, path: plugins/hello, version: v0.2}\n  - {name: world, path: plugins/world, version: 1.4.0-rc_1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Plugins[0].Version + " " + cfg.Plugins[1].Version; got != "0.2 1.4.0-rc_1" {
		t.Errorf("versions %q", got)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: h, path: host, version: 1}\n",
			`pbuild.yaml:3: host.version: only plugins have a version (it goes into their pluginpath)`},
		{"version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: h, path: host}\nplugins:\n  - {name: p, path: plugins/hello, version: 0.2/x}\n",
			`pbuild.yaml:5: plugins[0].version: invalid version "0.2/x"; use digits, letters, '.', '-' and '_', starting with a digit, like 0.2 or 1.4.0`},
		{"version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: h, path: host}\nplugins:\n  - {name: p, path: plugins/hello, version: beta}\n",
			`pbuild.yaml:5: plugins[0].version: invalid version "beta"; use digits, letters, '.', '-' and '_', starting with a digit, like 0.2 or 1.4.0`},
	} {
		_, err := Parse("pbuild.yaml", []byte(tt.yaml))
		if err == nil || err.Error() != tt.want {
			t.Errorf("got  %v\nwant %s", err, tt.want)
		}
	}
}

// TestParseYAMLCorners covers what yaml.v3 lets through or reports in its
// own way, which Parse must still refuse, in its own words, at the first
// problem in the file.
func TestParseYAMLCorners(t *testing.T) {
	const head = "version: 1\ntoolchain: {go: 1.24.4}\n"
	tests := []struct {
		name string
		yaml string
		want string
	}{
		// yaml.v3 skips null keys and merges merge keys without a word.
		{"null key", head + "host: {~: x, name: greeter, path: ./host}\n",
			`pbuild.yaml:3: host: expected a plain key, got null`},
		{"null key in env", head + "host: {name: greeter, path: ./host}\nbuild: {env: {~: x}}\n",
			`pbuild.yaml:4: build.env: expected a plain key, got null`},
		{"list key", head + "host: {name: greeter, [a]: x, path: ./host}\n",
			`pbuild.yaml:3: host: expected a plain key, got a list`},
		{"alias key", head + "host: {name: &n path, *n : ./host}\n",
			`pbuild.yaml:3: host: expected a plain key, got an alias`},
		{"merge key in env", head + "host: {name: greeter, path: ./host}\nbuild: {env: {<<: {A: x}}}\n",
			`pbuild.yaml:4: build.env: merge keys (<<) are not supported`},
		{"merge key of a scalar", head + "host: {name: greeter, path: ./host, <<: 1}\n",
			`pbuild.yaml:3: host: merge keys (<<) are not supported`},
		{"merge key beside a list key (yaml.v3 panics)", head + "host: {name: greeter, path: ./host, [a]: 1, <<: {}}\n",
			`pbuild.yaml:3: host: expected a plain key, got a list`},
		{"quoted merge key", head + "host: {name: greeter, path: ./host, \"<<\": {}}\n",
			`pbuild.yaml:3: host: unknown field "<<"`},
		{"key of a field yaml.v3 skips", head + "host: {name: greeter, path: ./host}\nFile: x\n",
			`pbuild.yaml:4: unknown field "File"`},
		{"dash key", head + "host: {name: greeter, path: ./host}\n-: x\n",
			`pbuild.yaml:4: unknown field "-"`},

		// yaml.v3 drops null list items without a word.
		{"null tag", head + "host: {name: greeter, path: ./host}\nbuild: {tags: [netgo, ~]}\n",
			`pbuild.yaml:4: build.tags[1]: invalid tag ""; tags may contain only letters, digits, '_' and '.'`},
		{"null plugin after another", head + "host: {name: greeter, path: ./host}\nplugins:\n  - {name: hello, path: ./plugins/hello}\n  -\n  - {name: world, path: ./plugins/world}\n",
			`pbuild.yaml:6: plugins[1].name: missing`},

		// What is checked is what yaml.v3 puts in the Config.
		{"binary name", head + "host: {name: !!binary Li4v, path: ./host}\n",
			`pbuild.yaml:3: host.name: invalid name "../"; use letters, digits, '.', '_' and '-', starting with a letter or digit`},
		{"bad binary", head + "host: {name: !!binary \"!\", path: ./host}\n",
			`pbuild.yaml:3: host.name: !!binary value contains invalid base64 data`},

		// Aliases: of scalars fine, of mappings and lists not where a
		// mapping or list belongs (each would repeat a name or a section).
		{"alias of the host mapping", head + "host: &h {name: greeter, path: ./host}\nplugins: [*h]\n",
			`pbuild.yaml:4: plugins[0]: aliases of mappings and lists are not supported`},
		{"alias of a list where a string belongs", head + "host: {name: greeter, path: ./host}\nbuild:\n  tags: &t [a]\n  env: {A: *t}\n",
			`pbuild.yaml:5: build.env.A: expected a string, got a list`},

		// One line, several problems: the first wins.
		{"two wrong types on a line", head + "host: {name: [a], path: [b]}\n",
			`pbuild.yaml:3: host.name: expected a string, got a list`},
		{"one unknown field in two plugins on a line", head + "plugins: [{name: a, path: ./plugins/hello, x: 1}, {x: 2}]\n",
			`pbuild.yaml:3: plugins[0]: unknown field "x"`},
		{"a wrong type among good ones on a line", head + "host: {name: greeter, path: [x]}\n",
			`pbuild.yaml:3: host.path: expected a string, got a list`},

		// yaml.v3 finds duplicate keys before anything else in a
		// mapping, and before it finds the mapping out of place.
		{"duplicate key after a bad value", "version: 1\ntoolchain:\n  go: 1.19.1\n  go: 1.24.4\n",
			`pbuild.yaml:4: toolchain: duplicate key "go" (first on line 3)`},
		{"duplicate key after an unknown field", head + "host: {name: greeter, dir: x, path: ./host, name: other}\n",
			`pbuild.yaml:3: host: duplicate key "name" (first on line 3)`},
		{"duplicate version", "version: 1\nversion: 1\n",
			`pbuild.yaml:2: duplicate key "version" (first on line 1)`},
		{"duplicate key in the second of two plugins on a line", head + "plugins: [{name: a, path: ./plugins/hello}, {name: b, name: c}]\n",
			`pbuild.yaml:3: plugins[1]: duplicate key "name" (first on line 3)`},
		{"duplicate list keys", head + "host: {name: greeter, path: ./host, [a]: 1, [a]: 2}\n",
			`pbuild.yaml:3: host: expected a plain key, got a list`},
		{"duplicate list keys where a list belongs", head + "host: {name: greeter, path: ./host}\nplugins: {[a]: 1, [a]: 2}\n",
			`pbuild.yaml:4: plugins: expected a list, got a mapping`},
		{"mapping with duplicate keys where a string belongs", head + "host: {name: {a: 1, a: 2}, path: ./host}\n",
			`pbuild.yaml:3: host.name: expected a string, got a mapping`},
		{"problem before a duplicate key's mapping", head + "host: {name: greeter!, path: ./host}\nbuild: {env: {A: x, A: y}}\n",
			`pbuild.yaml:3: host.name: invalid name "greeter!"; use letters, digits, '.', '_' and '-', starting with a letter or digit`},

		// File order, not section order.
		{"plugin before the host", "version: 1\ntoolchain: {go: 1.24.4}\nplugins:\n  - {name: greeter, path: ./plugins/hello}\nhost: {name: greeter, path: ./host}\n",
			`pbuild.yaml:5: host.name: name "greeter" is already used by plugins[0] (line 4)`},
		{"unknown field before a missing one", head + "host:\n  bogus: 1\n",
			`pbuild.yaml:4: host: unknown field "bogus"`},
		{"missing field before an unknown one", "version: 1\ntoolchain:\nbogus: 1\n",
			`pbuild.yaml:2: toolchain.go: missing; set it to an exact Go release such as 1.24.4`},
		{"missing field of the last plugin before an unknown one", head + "plugins: [~]\nbogus: 1\n",
			`pbuild.yaml:3: plugins[0].name: missing`},

		// Values kept as before.
		{"null base", "version: 1\ntoolchain: {go: 1.24.4, base: ~}\nhost: {name: greeter, path: ./host}\n",
			`pbuild.yaml:2: toolchain.base: "" is not a valid image reference`},
		{"host version", head + "host: {name: greeter, path: ./host, version: v1}\n",
			`pbuild.yaml:3: host.version: only plugins have a version (it goes into their pluginpath)`},
		{"version as a string before a bad field", "bogus: 1\nversion: \"1\"\n",
			`pbuild.yaml:2: version: expected an integer, got "1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			project(t)
			cfg, err := Parse("pbuild.yaml", []byte(tt.yaml))
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Parse = %+v, %v; want *Error %q", cfg, err, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Parse error:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestParseBounds checks that documents yaml.v3 would take long to decode
// (it compares every two keys of a mapping, again at every alias of it) are
// refused before decoding, and quickly.
func TestParseBounds(t *testing.T) {
	project(t)
	var keys, aliases strings.Builder
	keys.WriteString("version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: h, path: host}\nbuild:\n  env:\n")
	for i := range maxKeys + 1 {
		fmt.Fprintf(&keys, "    K%d: x\n", i)
	}
	aliases.WriteString("version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: h, path: host}\nx: &m {a: 1, a: 2}\nplugins:\n")
	for range maxAliases + 1 {
		aliases.WriteString("  - *m\n")
	}
	for _, tt := range []struct{ yaml, want string }{
		{keys.String(), "pbuild.yaml:6: a mapping of more than 1000 keys"},
		{aliases.String(), "pbuild.yaml:106: more than 100 aliases of mappings or lists"},
	} {
		_, err := Parse("pbuild.yaml", []byte(tt.yaml))
		if err == nil || err.Error() != tt.want {
			t.Errorf("Parse error = %v; want %s", err, tt.want)
		}
	}
	// At the limits the file is decoded: its first problem is reported.
	var ok strings.Builder
	ok.WriteString("version: 1\ntoolchain: {go: 1.24.4}\nhost: {name: h, path: host}\nbuild:\n  env:\n")
	for i := range maxKeys {
		fmt.Fprintf(&ok, "    K%d: x\n", i)
	}
	if _, err := Parse("pbuild.yaml", []byte(ok.String())); err != nil {
		t.Errorf("Parse of %d env variables: %v", maxKeys, err)
	}
}

// TestParseResult checks the Config yaml.v3 decodes: plugin versions lose
// their "v", defaults are filled in, null and empty values are empty.
func TestParseResult(t *testing.T) {
	project(t)
	cfg, err := Parse("pbuild.yaml", []byte("version: 1\ntoolchain: {go: &g 1.24.4, sum: ~}\nhost: {name: h, path: host, version: ~}\n"+
		"plugins:\n  - {name: p, path: plugins/hello, version: v1.2}\nbuild: {tags: [], ldflags: ~, env: {A: *g, B: \"\", C: 7}}\noutput: ~\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Version:   1,
		Toolchain: Toolchain{Go: "1.24.4", Base: DefaultBase},
		Host:      Artifact{Name: "h", Path: "host"},
		Plugins:   []Artifact{{Name: "p", Path: "plugins/hello", Version: "1.2"}},
		Build:     Build{Tags: []string{}, Env: map[string]string{"A": "1.24.4", "B": "", "C": "7"}},
		Output:    DefaultOutput,
		File:      cfg.File,
		Dir:       cfg.Dir,
	}
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", *cfg, want)
	}
}
