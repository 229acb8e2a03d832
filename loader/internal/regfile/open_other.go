//go:build !unix

package regfile

import "os"

// openNonBlocking opens path; systems other than Unix have no named pipes
// in the file system that an open could block on.
func openNonBlocking(path string) (*os.File, error) {
	return os.Open(path)
}
