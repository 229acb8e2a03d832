// Command count is a greeter plugin with no third-party dependencies: it
// reports how many letters the name has, e.g. Greet("world") returns
// "world has 5 letters".
//
// Build it with: go build -buildmode=plugin -o count.so .
package main

import (
	"fmt"
	"unicode"

	"example.com/greeter/api"
)

// Plugin is the symbol the greeter host looks up (see api.Symbol).
var Plugin api.Greeter = count{}

type count struct{}

func (count) Name() string { return "count" }

func (count) Greet(who string) string {
	n := 0
	for _, r := range who {
		if unicode.IsLetter(r) {
			n++
		}
	}
	unit := "letters"
	if n == 1 {
		unit = "letter"
	}
	return fmt.Sprintf("%s has %d %s", who, n, unit)
}

// main is required for package main but is never called in a plugin.
func main() {}
