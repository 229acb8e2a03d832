// Package cshared has a C function that is not static: every object that
// links the package defines pb_shared, and the dynamic linker binds them
// all to the first definition, which is the same code.
package cshared

/*
int pb_shared(void);
*/
import "C"

// Shared is 5, from C.
func Shared() int { return int(C.pb_shared()) }
