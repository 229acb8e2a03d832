// Command a is a plugin sharing the api module, its cgo package,
// golang.org/x/sync and runtime/debug with the host.
package main

import (
	"runtime/debug"

	"example.com/matrix/api"
	"example.com/matrix/api/cnum"
	"golang.org/x/sync/errgroup"
)

// Name is the symbol the host looks up.
var Name = "a"

// Describe describes the plugin.
func Describe() string { return api.Describe(Name) }

// Twice doubles n in C, concurrently.
func Twice(n int) int {
	var g errgroup.Group
	var out cnum.Num
	g.Go(func() error { out = cnum.Twice(cnum.Num(n)); return nil })
	g.Wait()
	return int(out)
}

// Module is the plugin's main module. (runtime/debug is a package that
// differs between go1.24.3 and go1.24.4, by a comment line.)
func Module() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	return bi.Main.Path
}

func main() {}
