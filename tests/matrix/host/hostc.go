//go:build hostc

package main

/*
int pb_answer(void) { return 7; }
*/
import "C"

// hostAnswer makes the host define, and export, the C function pb_answer,
// which plugins c1 and c2 define too.
var hostAnswer = int(C.pb_answer())
