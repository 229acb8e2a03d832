//go:build !cgo

package cnum

// Num is what pbuild_num is without cgo.
type Num int32

// Twice doubles n.
func Twice(n Num) Num { return 2 * n }
