package cli

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/pbuild/pbuild/builder"
	"github.com/pbuild/pbuild/config"
	"github.com/pbuild/pbuild/internal/outdir"
)

// TestRenderError: every error is printed once with a hint that sends the
// user the right way, and the exit code says whose fault it is.
func TestRenderError(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		code int
		hint string
	}{
		{"a full disk names the place",
			fmt.Errorf("stage module x: %w", &fs.PathError{Op: "write", Path: "/tmp/pbuild-1/stage/x.go", Err: syscall.ENOSPC}),
			exitFailure, "no space left on the file system holding /tmp/pbuild-1/stage/x.go: free space there, or point TMPDIR"},
		{"a quota too",
			fmt.Errorf("install: %w", &fs.PathError{Op: "mkdir", Path: "/out/dist", Err: syscall.EDQUOT}),
			exitFailure, "no space left on the file system holding /out/dist"},
		{"an output pbuild did not make is a usage error",
			&outdir.NotOwnedError{Path: "/home/u", What: "is a directory pbuild did not make"},
			exitUsage, "--output-clean"},
		{"an output over the sources is a usage error",
			&builder.PlacementError{Output: "lnk/plugins", Msg: "holds module m"},
			exitUsage, "a directory of its own"},
		{"a config error keeps its hint",
			&config.Error{File: "pbuild.yaml", Line: 3, Msg: "bad"},
			exitUsage, "fix the config file"},
		{"settings from a manifest are not blamed on the config",
			config.CheckSettings("m.json", config.Toolchain{Go: "1.24.4", Base: "b"}, config.Build{Env: map[string]string{"GOFLAGS": "-toolexec=x"}}),
			exitUsage, "use a manifest pbuild wrote, unchanged"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			code := renderError(&b, context.Background(), c.err)
			lines := strings.Split(strings.TrimSpace(b.String()), "\n")
			last := lines[len(lines)-1]
			if code != c.code || !strings.HasPrefix(last, "hint: ") || !strings.Contains(last, c.hint) {
				t.Fatalf("exit %d, output:\n%s\nwant exit %d and a hint with %q", code, b.String(), c.code, c.hint)
			}
		})
	}
}
