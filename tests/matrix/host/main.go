// Command host is the skew matrix's probe host. It links what the plugins
// share (the api module, its cgo packages, golang.org/x/sync,
// runtime/debug; none of them when built with -tags=minhost) and opens the
// plugins named on its command line, in order:
//
//	host raw P1.so P2.so ...     with plugin.Open
//	host loader P1.so P2.so ...  with pbuild's loader (without a manifest)
//
// For every plugin it prints one line to stdout, as soon as it is known:
//
//	ok <file>
//	fail <file>: <error on one line>
//
// and it exits 0, unless the runtime kills it first. A plugin that has a
// function Answer and a variable Want fails when Answer() is not Want: its
// C calls reach another object's code.
package main

import (
	"errors"
	"fmt"
	"os"
	"plugin"
	"strings"

	"github.com/pbuild/pbuild/loader"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "raw" && os.Args[1] != "loader") {
		fmt.Fprintln(os.Stderr, "usage: host raw|loader PLUGIN...")
		os.Exit(2)
	}
	// Use the shared packages, so that the host defines them first.
	if err := useShared(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	files := os.Args[2:]
	if os.Args[1] == "raw" {
		for _, f := range files {
			p, err := plugin.Open(f)
			if err == nil {
				err = answer(p.Lookup)
			}
			report(f, err)
		}
		return
	}
	l, err := loader.New(loader.WithoutManifest())
	for _, f := range files {
		if err == nil {
			var p *loader.Plugin
			if p, err = l.Open(f); err == nil {
				if _, err = loader.Lookup[string](p, "Name"); err == nil {
					err = answer(p.Lookup)
				}
			}
			report(f, classify(err))
			err = nil
			continue
		}
		report(f, err)
	}
}

// answer calls the plugin's Answer, if it has one, and compares the result
// with its Want.
func answer(lookup func(string) (plugin.Symbol, error)) error {
	a, err := lookup("Answer")
	if err != nil {
		return nil
	}
	w, err := lookup("Want")
	if err != nil {
		return err
	}
	fn, ok := a.(func() int)
	want, ok2 := w.(*int)
	if !ok || !ok2 {
		return fmt.Errorf("Answer is %T, Want %T", a, w)
	}
	if got := fn(); got != *want {
		return fmt.Errorf("answer: Answer() = %d, want %d: its C calls reach another object's code", got, *want)
	}
	return nil
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
