// Package api is what the skew matrix's host and plugins share.
package api

// Answer is a constant every side agrees on.
const Answer = 21

// Describe names a plugin.
func Describe(name string) string { return "plugin " + name }
