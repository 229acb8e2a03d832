//go:build !cgo

package cshared

// Shared is 5.
func Shared() int { return 5 }
