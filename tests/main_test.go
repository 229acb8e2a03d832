package tests

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/pbuild/pbuild/internal/cli"
)

// TestMain runs the real pbuild in process: this test binary is the
// pbuild command of the scripts (testscript.Main puts a copy named pbuild
// on PATH, and runs the command when invoked by that name). Run as the
// tests, it gives them one temporary directory of their own, removed at
// the end: TMPDIR for everything they start, and PBUILD_CACHE, where
// pbuild keeps the toolchains it downloads, so that each is downloaded once
// and nothing outside it is touched.
func TestMain(m *testing.M) {
	commands := map[string]func(){"pbuild": pbuildMain}
	if _, isCommand := commands[filepath.Base(os.Args[0])]; isCommand {
		testscript.Main(m, commands)
		return
	}
	root, err := os.MkdirTemp("", "pbuild-tests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for k, dir := range map[string]string{"TMPDIR": "tmp", "PBUILD_CACHE": "cache"} {
		p := filepath.Join(root, dir)
		if err := os.Mkdir(p, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Setenv(k, p)
	}
	testscript.Main(cleanup{m, root}, commands)
}

// pbuildMain is cmd/pbuild's main.
func pbuildMain() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.ReadEnv(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// cleanup removes the tests' directory once they ran.
type cleanup struct {
	m    *testing.M
	root string
}

func (c cleanup) Run() int {
	code := c.m.Run()
	os.RemoveAll(c.root)
	return code
}
