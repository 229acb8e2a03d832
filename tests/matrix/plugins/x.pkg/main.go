// Command x.pkg is a plugin whose import path ends in an element with a
// dot, which the linker escapes in the pluginpath (example.com/matrix/x%2epkg).
package main

import "example.com/matrix/api"

// Name is the symbol the host looks up.
var Name = "x.pkg"

// Describe describes the plugin.
func Describe() string { return api.Describe(Name) }

func main() {}
