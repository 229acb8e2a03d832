// Command c2 is a plugin with a C function pb_answer that is not static,
// as is c1's (which returns 1): the dynamic linker binds the calls of
// the one loaded second to the first one's code. Both link api/cshared.
package main

/*
int pb_answer(void);
*/
import "C"

import "example.com/matrix/api/cshared"

// Name is the symbol the host looks up.
var Name = "c2"

// Want is what Answer returns when its C calls reach its own code.
var Want = 2 + cshared.Shared()

// Answer calls C.
func Answer() int { return int(C.pb_answer()) + cshared.Shared() }

func main() {}
