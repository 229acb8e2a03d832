// Package api is the contract between the greeter host and its plugins.
//
// A greeter plugin is a Go package main built with -buildmode=plugin that
// exports a package-level variable named by Symbol, of type Greeter:
//
//	var Plugin api.Greeter = myGreeter{}
//
// Looking that symbol up with plugin.Lookup yields a *api.Greeter (a pointer
// to the variable), which is what the host expects.
package api

// Greeter is what every greeter plugin exports as the symbol "Plugin" (a variable of type api.Greeter).
type Greeter interface {
	// Name is a short, human-readable name for the greeter.
	Name() string
	// Greet returns a greeting for who.
	Greet(who string) string
}

// Symbol is the name of the exported variable the host looks up in each plugin.
const Symbol = "Plugin"
