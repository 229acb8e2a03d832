package resolve

import (
	"archive/tar"
	"bytes"
	"strings"
	"time"
)

// caTar is a tar stream holding the CA bundle at CABundlePath.
func caTar(bundle []byte) *bytes.Buffer {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	name := strings.TrimPrefix(CABundlePath, "/")
	// Writes to a bytes.Buffer cannot fail.
	_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(bundle)), ModTime: time.Unix(0, 0)})
	_, _ = tw.Write(bundle)
	_ = tw.Close()
	return &buf
}
