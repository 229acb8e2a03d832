package bundle

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbuild/pbuild/internal/archive"
)

// TestArchiveBytes pins the bytes of bundle archives: a release made
// again from the same dist must be byte-identical to one made by an
// earlier pbuild. The sums are of the tar streams, which the gzip layer
// (best compression, an empty header) wraps the same way every time.
func TestArchiveBytes(t *testing.T) {
	dist := t.TempDir()
	if err := os.WriteFile(filepath.Join(dist, "tool"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("d", 90) + "/" + strings.Repeat("f", 90)
	members := []archive.Entry{
		distFile(context.Background(), dist, bundleFile{File: "tool", Size: 17, SHA256: sha256Hex([]byte("#!/bin/sh\nexit 0\n")), Exec: true}),
		archive.Bytes("a-b", []byte("dash"), false, time.Time{}),
		archive.Bytes("a/x", nil, false, time.Time{}),
		archive.Bytes("a/y/z.so", bytes.Repeat([]byte{0, 1, 2}, 700), true, time.Time{}),
		archive.Bytes("a.b", []byte("dot"), false, time.Time{}),
		archive.Bytes(long, []byte("a name over 100 bytes"), false, time.Time{}),
		archive.Bytes(strings.Repeat("e", 200)+"/"+strings.Repeat("g", 120), []byte("a name only PAX holds"), false, time.Time{}),
		archive.Bytes("plugins/grüße.so", []byte("not ASCII"), true, time.Time{}),
	}
	mtime := time.Date(2025, 6, 1, 14, 30, 0, 999, time.FixedZone("CEST", 2*3600))
	for _, tt := range []struct {
		name    string
		members []archive.Entry
		mtime   time.Time
		want    string
	}{
		{"tricky names", members, mtime, "070b06b44331f8ecb87d955937ee9d3b81390e2ecf4a5a7f47e8eba4ebce391d"},
		{"only the top", nil, time.Unix(0, 0), "fde43f188e99bb3b0e44255a6d83d5e401e45b0fafd7ae504ad03abfa9e55eed"},
	} {
		var buf bytes.Buffer
		if err := writeArchive(context.Background(), &buf, "top_1.0_linux_amd64", tt.members, tt.mtime); err != nil {
			t.Fatal(err)
		}
		if got := tarSum(t, buf.Bytes()); got != tt.want {
			t.Errorf("%s: the tar stream's sha256 is %s, want %s", tt.name, got, tt.want)
		}
	}

	// A dist an earlier pbuild made (its manifest of schema version 1)
	// gives the same bundle as it did then.
	m := testManifest()
	res, err := Create(context.Background(), writeDistBytes(t, m, v1Bytes(t, m)), testOptions(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if got := tarSum(t, mustRead(t, res.Archive)); got != "b24d39ef0fde393cdd91b2663f12b9d9ec8e80841211e2d8827654bf83daaa5c" {
		t.Errorf("the test bundle's tar stream has sha256 %s", got)
	}
	// A dist of schema version 2 with C-ABI libraries and headers.
	res, err = Create(context.Background(), writeDist(t, testLibManifest()), testOptions(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	if got := tarSum(t, mustRead(t, res.Archive)); got != "2b3701ba44f660ddaf215c961ae7187298ca08ef0fa54b4d8a802e56e18cfae3" {
		t.Errorf("the test bundle with libraries: its tar stream has sha256 %s", got)
	}
}

// tarSum is the sha256 of the tar stream in a gzip archive, which must be
// exactly what gzip's best compression makes of it with an empty header.
func tarSum(t *testing.T, archive []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&again, gzip.BestCompression)
	zw.Write(raw)
	zw.Close()
	if !bytes.Equal(again.Bytes(), archive) {
		t.Error("the gzip layer is not best compression with an empty header")
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}
