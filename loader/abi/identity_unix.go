//go:build unix

package abi

import (
	"fmt"
	"io/fs"
	"syscall"
)

// fileID is the device and inode of a file, "" when fi does not tell them.
func fileID(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%d:%d", uint64(st.Dev), uint64(st.Ino))
}
