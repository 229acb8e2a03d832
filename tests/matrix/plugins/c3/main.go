// Command c3 is a plugin that shares only api/cshared's C code with c1, c2
// and the host: the same code, so whichever definition its calls reach is
// right.
package main

import "example.com/matrix/api/cshared"

// Name is the symbol the host looks up.
var Name = "c3"

// Want is what Answer returns.
var Want = 5

// Answer calls C through cshared.
func Answer() int { return cshared.Shared() }

func main() {}
