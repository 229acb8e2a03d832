//go:build skewtag

package api

// Skewed exists only under the build tag skewtag, so the tag changes this
// package's export data.
const Skewed = true

// SkewedDescribe exists only under the build tag skewtag.
func SkewedDescribe(name string) string { return "skewed " + Describe(name) }
