// Command host is the skew matrix's probe host. It links what the plugins
// share (the api module, its cgo package, golang.org/x/sync, runtime/debug)
// and opens the plugins named on its command line, in order:
//
//	host raw P1.so P2.so ...     with plugin.Open
//	host loader P1.so P2.so ...  with pbuild's loader (without a manifest)
//
// For every plugin it prints one line to stdout, as soon as it is known:
//
//	ok <file>
//	fail <file>: <error on one line>
//
// and it exits 0, unless the runtime kills it first.
package main

import (
	"errors"
	"fmt"
	"os"
	"plugin"
	"runtime/debug"
	"strings"

	"example.com/matrix/api"
	"example.com/matrix/api/cnum"
	"github.com/pbuild/pbuild/loader"
	"golang.org/x/sync/errgroup"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "raw" && os.Args[1] != "loader") {
		fmt.Fprintln(os.Stderr, "usage: host raw|loader PLUGIN...")
		os.Exit(2)
	}
	// Use the shared packages, so that the host defines them first.
	var g errgroup.Group
	g.Go(func() error {
		if cnum.Twice(api.Answer) != 2*api.Answer {
			return errors.New("cnum is broken")
		}
		return nil
	})
	g.Go(func() error {
		if _, ok := debug.ReadBuildInfo(); !ok {
			return errors.New("no build info")
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	files := os.Args[2:]
	if os.Args[1] == "raw" {
		for _, f := range files {
			_, err := plugin.Open(f)
			report(f, err)
		}
		return
	}
	l, err := loader.New(loader.WithoutManifest())
	for _, f := range files {
		if err == nil {
			var p *loader.Plugin
			if p, err = l.Open(f); err == nil {
				_, err = loader.Lookup[string](p, "Name")
			}
			report(f, classify(err))
			err = nil
			continue
		}
		report(f, err)
	}
}

// classify prefixes a loader error with its kind.
func classify(err error) error {
	var refused *loader.RefusedError
	var open *loader.OpenError
	var poisoned *loader.PoisonedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &refused):
		return fmt.Errorf("refused: %w", err)
	case errors.As(err, &open):
		return fmt.Errorf("open: %w", err)
	case errors.As(err, &poisoned):
		return fmt.Errorf("poisoned: %w", err)
	}
	return err
}

func report(file string, err error) {
	if err == nil {
		fmt.Printf("ok %s\n", file)
		return
	}
	fmt.Printf("fail %s: %s\n", file, strings.ReplaceAll(err.Error(), "\n", " "))
}
