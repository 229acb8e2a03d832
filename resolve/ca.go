package resolve

import (
	"archive/tar"
	"bytes"
	"strings"
	"time"
)

// caTar is a tar stream holding the CA bundle at CABundlePath.
func caTar(bundle []byte) *bytes.Buffer {
	return fileTar(strings.TrimPrefix(CABundlePath, "/"), bundle)
}

// fileTar is a tar stream holding one file, and its parent directories.
func fileTar(name string, data []byte) *bytes.Buffer {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// Writes to a bytes.Buffer cannot fail.
	dirs := strings.Split(name, "/")
	for i := 1; i < len(dirs); i++ {
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.Join(dirs[:i], "/") + "/", Mode: 0o755, ModTime: time.Unix(0, 0)})
	}
	_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(0, 0)})
	_, _ = tw.Write(data)
	_ = tw.Close()
	return &buf
}
