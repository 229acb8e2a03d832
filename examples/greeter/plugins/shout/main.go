// Command shout is a greeter plugin that greets loudly:
// Greet("world") returns "HEY, WORLD!".
//
// Build it with: go build -buildmode=plugin -o shout.so .
package main

import (
	"example.com/greeter/api"
	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// Plugin is the symbol the greeter host looks up (see api.Symbol).
var Plugin api.Greeter = shout{}

type shout struct{}

func (shout) Name() string { return "shout" }

func (shout) Greet(who string) string {
	return cases.Upper(language.English).String("Hey, " + who + "!")
}

// main is required for package main but is never called in a plugin.
func main() {}
