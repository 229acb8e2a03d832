//go:build cgo

// Package cnum is a number whose Go type is a C typedef: CGO_CFLAGS with
// -DPBUILD_WIDE makes it 64 bits wide, which changes the package's export
// data; flags that leave the typedef alone (-O1) do not.
package cnum

/*
#ifdef PBUILD_WIDE
typedef long long pbuild_num;
#else
typedef int pbuild_num;
#endif

static pbuild_num pbuild_twice(pbuild_num n) { return 2 * n; }
*/
import "C"

// Num is the C type pbuild_num.
type Num C.pbuild_num

// Twice doubles n in C.
func Twice(n Num) Num { return Num(C.pbuild_twice(C.pbuild_num(n))) }
