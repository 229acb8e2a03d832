package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestMain gives this package's tests one temporary directory of their
// own, removed at the end: it is TMPDIR for everything they start, and
// holds the toolchains pbuild downloads (PBUILD_CACHE), so that the tests
// download each toolchain once and touch nothing outside it.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, err := os.MkdirTemp("", "pbuild-tests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(root)
	for k, dir := range map[string]string{"TMPDIR": "tmp", "PBUILD_CACHE": "cache"} {
		p := filepath.Join(root, dir)
		if err := os.Mkdir(p, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		os.Setenv(k, p)
	}
	return m.Run()
}
