// Command b is a plugin sharing only the api module with the host.
package main

import "example.com/matrix/api"

// Name is the symbol the host looks up.
var Name = "b"

// Describe describes the plugin.
func Describe() string { return api.Describe(Name) }

func main() {}
