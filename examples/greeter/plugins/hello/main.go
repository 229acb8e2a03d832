// Command hello is a greeter plugin that greets politely, title-casing the
// name: Greet("world") returns "Hello, World!".
//
// Build it with: go build -buildmode=plugin -o hello.so .
package main

import (
	"example.com/greeter/api"
	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// Plugin is the symbol the greeter host looks up (see api.Symbol).
var Plugin api.Greeter = hello{}

type hello struct{}

func (hello) Name() string { return "hello" }

func (hello) Greet(who string) string {
	return "Hello, " + cases.Title(language.English).String(who) + "!"
}

// main is required for package main but is never called in a plugin.
func main() {}
