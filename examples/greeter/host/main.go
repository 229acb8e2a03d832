// Command greeter loads greeter plugins from a directory and asks each one
// to greet someone.
//
// Usage:
//
//	greeter [-who NAME] [-lang TAG] PLUGIN_DIR...
//	greeter -version
//
// Every *.so file in each PLUGIN_DIR is opened, in sorted order, with the pbuild
// loader (github.com/pbuild/pbuild/loader), which checks each plugin against
// this host and the pbuild manifest beside the plugins before plugin.Open,
// so a plugin that does not fit is reported with the cause instead of
// failing obscurely or crashing the host. Each must export api.Symbol as a
// variable of type api.Greeter. For every plugin that loads, one line is
// printed to stdout:
//
//	<file name without .so>: <greeting>
//
// Plugins that fail to load are reported on stderr and the remaining ones are
// still run; the exit status is then 1.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"example.com/greeter/api"
	"github.com/pbuild/pbuild/loader"
	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// pbuildABIKey identifies the toolchain and dependency set the host was built
// with. pbuild stamps it with -ldflags "-X main.pbuildABIKey=...".
var pbuildABIKey = "unknown"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("greeter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	who := fs.String("who", "world", "name of whoever is greeted")
	lang := fs.String("lang", "en", "BCP 47 language tag used to normalize the name")
	version := fs.Bool("version", false, "print the ABI key and exit")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: greeter [-who NAME] [-lang TAG] PLUGIN_DIR...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *version {
		fmt.Fprintf(stdout, "greeter abi %s\n", pbuildABIKey)
		return 0
	}
	if fs.NArg() < 1 {
		fs.Usage()
		return 2
	}
	tag, err := language.Parse(*lang)
	if err != nil {
		fmt.Fprintf(stderr, "greeter: -lang %q: %v\n", *lang, err)
		return 2
	}
	// Plugins receive the name lower-cased according to the chosen language
	// (e.g. "tr" maps "I" to "ı"); each plugin decides how to present it.
	name := cases.Lower(tag).String(strings.TrimSpace(*who))

	var files []string
	for _, dir := range fs.Args() {
		found, err := filepath.Glob(filepath.Join(dir, "*.so"))
		if err != nil {
			fmt.Fprintf(stderr, "greeter: %s: %v\n", dir, err)
			return 1
		}
		if len(found) == 0 {
			fmt.Fprintf(stderr, "greeter: no plugins (*.so) found in %s\n", dir)
			return 1
		}
		sort.Strings(found)
		files = append(files, found...)
	}

	l, err := loader.New()
	if err != nil {
		fmt.Fprintf(stderr, "greeter: %v\n", err)
		return 1
	}
	status := 0
	for _, file := range files {
		g, err := load(l, file)
		if err != nil {
			fmt.Fprintf(stderr, "greeter: %s: %v\n", file, err)
			status = 1
			continue
		}
		base := strings.TrimSuffix(filepath.Base(file), ".so")
		fmt.Fprintf(stdout, "%s: %s\n", base, g.Greet(name))
	}
	return status
}

// load opens the plugin at path and returns the Greeter it exports.
func load(l *loader.Loader, path string) (api.Greeter, error) {
	p, err := l.Open(path)
	if err != nil {
		return nil, err
	}
	g, err := loader.Lookup[api.Greeter](p, api.Symbol)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, fmt.Errorf("symbol %s is a nil api.Greeter", api.Symbol)
	}
	return g, nil
}
