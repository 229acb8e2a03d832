// Command greet is a C-ABI library for C hosts: built with
// -buildmode=c-shared it is lib/greet.so and lib/greet.h, which a C program
// loads with dlopen (see ../chost/host.c); built with -buildmode=c-archive
// it is lib/greet.a, linked into one.
//
// Every string it returns is allocated with malloc: the caller frees it.
package main

/*
#include <stdlib.h>
*/
import "C"

import (
	"runtime"
	"strings"
)

// version is what greet_version returns.
const version = "greet 1.0"

//export greet_version
func greet_version() *C.char {
	return C.CString(version + " (" + runtime.GOARCH + ")")
}

//export greet_shout
func greet_shout(who *C.char) *C.char {
	return C.CString("HELLO, " + strings.ToUpper(C.GoString(who)) + "!")
}

//export greet_count
func greet_count(s *C.char) C.int {
	return C.int(len([]rune(C.GoString(s))))
}

func main() {}
