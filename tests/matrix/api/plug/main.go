// Command plug is a plugin whose main module is the api module itself: the
// other plugins use api as a dependency (replaced by a directory, or in a
// workspace).
package main

import "example.com/matrix/api"

// Name is the symbol the host looks up.
var Name = "apiplug"

// Describe describes the plugin.
func Describe() string { return api.Describe(Name) }

func main() {}
