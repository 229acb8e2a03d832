//go:build minhost

package main

// useShared has nothing to use: built with -tags=minhost, the host links
// none of the packages the plugins share, so they meet only each other.
func useShared() error { return nil }
