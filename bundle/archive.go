package bundle

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/pbuild/pbuild/internal/safefile"
)

// member is one regular file of a bundle's archive: the file Name in the
// directory Dir, or Data when Dir is empty.
type member struct {
	Name   string // slash path below the top directory, and inside Dir
	Dir    string
	Data   []byte
	Mode   int64  // 0o755 or 0o644
	Size   int64  // expected size (Dir only)
	SHA256 string // expected lowercase hex sha256 (Dir only)
}

// MismatchError is a dist file that is not what its manifest says.
type MismatchError struct {
	File       string
	Have, Want string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("bundle: %s differs from the manifest: %s, manifest says %s", e.File, e.Have, e.Want)
}

// Hint tells the user what to do.
func (e *MismatchError) Hint() string {
	return "the dist was changed after it was built: run `pbuild build` again, then bundle"
}

// writeArchive writes members as a deterministic gzip-compressed tar stream
// below the directory top: directories first where they are parents, all
// entries sorted by name, owner 0:0 without names, every mtime mtime.
func writeArchive(ctx context.Context, w io.Writer, top string, members []member, mtime time.Time) error {
	mtime = time.Unix(mtime.Unix(), 0)
	type ent struct {
		name string
		m    *member // nil for a directory
	}
	dirs := map[string]bool{top + "/": true}
	var ents []ent
	for i := range members {
		m := &members[i]
		full := top + "/" + m.Name
		ents = append(ents, ent{full, m})
		for d := path.Dir(full); d != top; d = path.Dir(d) {
			dirs[d+"/"] = true
		}
	}
	for d := range dirs {
		ents = append(ents, ent{name: d})
	}
	slices.SortFunc(ents, func(a, b ent) int { return strings.Compare(a.name, b.name) })

	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	for _, e := range ents {
		hdr := &tar.Header{Name: e.name, ModTime: mtime}
		if e.m == nil {
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			continue
		}
		if err := writeMember(ctx, tw, hdr, e.m); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// writeMember writes one file, checking a dist file's size and sha256
// against the manifest as it is copied. A dist file is read only as a
// regular file inside the dist.
func writeMember(ctx context.Context, tw *tar.Writer, hdr *tar.Header, m *member) error {
	hdr.Typeflag, hdr.Mode = tar.TypeReg, m.Mode
	if m.Dir == "" {
		hdr.Size = int64(len(m.Data))
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(m.Data)
		return err
	}
	f, err := safefile.Open(ctx, m.Dir, m.Name, safefile.NoLimit)
	var fe *safefile.Error
	if errors.As(err, &fe) {
		return &MismatchError{File: m.Name, Have: strings.TrimPrefix(fe.Detail, "is "), Want: "a regular file in the dist"}
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Size() != m.Size {
		return &MismatchError{File: m.Name, Have: fmt.Sprintf("%d bytes", f.Size()), Want: fmt.Sprintf("%d bytes", m.Size)}
	}
	hdr.Size = m.Size
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	h := sha256.New()
	n, err := safefile.Copy(ctx, io.MultiWriter(tw, h), io.LimitReader(f, m.Size))
	if err == nil && n != m.Size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", f.Name(), err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != m.SHA256 {
		return &MismatchError{File: m.Name, Have: "sha256 " + sum, Want: "sha256 " + m.SHA256}
	}
	return nil
}
