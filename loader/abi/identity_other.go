//go:build !unix

package abi

import "io/fs"

// fileID is "" where the file system's identity of a file is not known.
func fileID(fs.FileInfo) string { return "" }
