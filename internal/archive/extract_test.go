package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExtractKeepsToTarget: links already in the target (a staged
// workspace may hold them) are not followed out of it, with or without
// Overwrite, and an existing file is replaced only with Overwrite.
func TestExtractKeepsToTarget(t *testing.T) {
	for _, overwrite := range []bool{false, true} {
		parent := t.TempDir()
		dst, out := filepath.Join(parent, "dst"), filepath.Join(parent, "out")
		if err := os.MkdirAll(out, 0o755); err != nil {
			t.Fatal(err)
		}
		writeTree(t, dst, tree{"mine": "keep"}, nil)
		writeTree(t, out, tree{"victim": "keep"}, nil)
		if err := os.Symlink(out, filepath.Join(dst, "vendor")); err != nil {
			t.Skip(err)
		}
		if err := os.Symlink(filepath.Join(out, "victim"), filepath.Join(dst, "go.work")); err != nil {
			t.Fatal(err)
		}
		for _, e := range []tarEntry{reg("vendor/x", "evil"), reg("vendor/victim", "evil"), reg("go.work", "evil")} {
			_, err := Extract(context.Background(), bytes.NewReader(makeTar(t, e)), dst, ExtractOptions{Overwrite: overwrite})
			if err == nil {
				t.Errorf("overwrite %v: %s written through a link", overwrite, e.hdr.Name)
			}
		}
		if got, _ := readTree(t, out); len(got) != 1 || got["victim"] != "keep" {
			t.Errorf("overwrite %v: written outside the target: %v", overwrite, got)
		}
		_, err := Extract(context.Background(), bytes.NewReader(makeTar(t, reg("mine", "new"))), dst, ExtractOptions{Overwrite: overwrite})
		got, _ := os.ReadFile(filepath.Join(dst, "mine"))
		if (err == nil) != overwrite || (string(got) == "new") != overwrite {
			t.Errorf("overwrite %v: Extract over an existing file = %v, content %q", overwrite, err, got)
		}
	}
}

func TestExtractOptions(t *testing.T) {
	three := makeTar(t, dirEntry("top/"), reg("top/a", "12345"), reg("top/b", "67890"))
	var unended bytes.Buffer
	tw := tar.NewWriter(&unended)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "a", Mode: 0o644, Size: 1})
	tw.Write([]byte("a"))
	tw.Flush() // no end-of-archive marker: a copy cut at a block boundary
	var gzipped bytes.Buffer
	if err := Write(context.Background(), &gzipped, []Entry{Bytes("a", []byte("x"), false, time.Unix(0, 0))}, WriteOptions{Prefix: "top", Gzip: true}); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range []struct {
		name string
		data []byte
		ctx  context.Context
		opts ExtractOptions
		want error // nil: extracted
		msg  string
	}{
		{"no limits when zero", three, nil, ExtractOptions{}, nil, ""},
		{"entries", three, nil, ExtractOptions{MaxEntries: 2}, ErrTooLarge, "more than 2 entries"},
		{"file size", three, nil, ExtractOptions{MaxFileSize: 4}, ErrTooLarge, "over the limit of 4"},
		{"total size", three, nil, ExtractOptions{MaxTotalSize: 9}, ErrTooLarge, "over the limit of 9 bytes in all"},
		{"name length", three, nil, ExtractOptions{MaxNameLen: 4}, ErrUnsafeEntry, `"top/a": name too long`},
		{"element length", makeTar(t, reg(strings.Repeat("n", 256), "x")), nil, ExtractOptions{}, ErrUnsafeEntry, "name too long"},
		{"top", three, nil, ExtractOptions{Top: "other"}, ErrUnsafeEntry, "outside the top directory other"},
		{"duplicate", makeTar(t, reg("a", "1"), reg("a", "2")), nil, ExtractOptions{Overwrite: true}, ErrUnsafeEntry, "appears twice"},
		{"no end marker", unended.Bytes(), nil, ExtractOptions{}, ErrCorrupt, "no end-of-archive marker"},
		{"data after the end", append(bytes.Clone(three), "junk"...), nil, ExtractOptions{}, ErrCorrupt, "data after the end of the archive"},
		{"gzip", gzipped.Bytes(), nil, ExtractOptions{Gzip: true, Top: "top"}, nil, ""},
		{"gzip expected", three, nil, ExtractOptions{Gzip: true}, ErrCorrupt, "gzip"},
		{"gzip not expected", gzipped.Bytes(), nil, ExtractOptions{}, ErrCorrupt, ""},
		{"cancelled", three, cancelled, ExtractOptions{}, context.Canceled, ""},
	} {
		ctx := tt.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		_, err := Extract(ctx, bytes.NewReader(tt.data), t.TempDir(), tt.opts)
		if tt.want == nil && err != nil || tt.want != nil && (!errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg)) {
			t.Errorf("%s: Extract = %v, want %v %q", tt.name, err, tt.want, tt.msg)
		}
	}
}
