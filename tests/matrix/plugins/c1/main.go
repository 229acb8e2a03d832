// Command c1 is a plugin with a C function pb_answer that is not static,
// as is c2's (which returns 2): the dynamic linker binds the calls of
// the one loaded second to the first one's code. Both link api/cshared.
package main

/*
int pb_answer(void);
*/
import "C"

import "example.com/matrix/api/cshared"

// Name is the symbol the host looks up.
var Name = "c1"

// Want is what Answer returns when its C calls reach its own code.
var Want = 1 + cshared.Shared()

// Answer calls C.
func Answer() int { return int(C.pb_answer()) + cshared.Shared() }

func main() {}
