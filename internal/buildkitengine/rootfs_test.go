package buildkitengine

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

type entry struct {
	hdr  tar.Header
	body string
}

func tarOf(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if e.body != "" {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func dirE(name string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}
func fileE(name, body string, mode int64) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, ModTime: time.Unix(1700000000, 0)}, body: body}
}
func symE(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target}}
}
func linkE(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target}}
}

func TestExtractRootFS(t *testing.T) {
	dst := t.TempDir()
	data := tarOf(t,
		dirE("./"),
		dirE("usr/"), dirE("usr/bin/"),
		fileE("usr/bin/tool", "#!/bin/sh\n", 0o755),
		fileE("usr/bin/suid", "x", 0o4755),
		symE("bin", "usr/bin"),
		linkE("usr/bin/tool2", "usr/bin/tool"),
		fileE("etc/deep/file", "made parents", 0o600), // parents not in the archive
		entry{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Devmajor: 1, Devminor: 3}},
	)
	if err := ExtractRootFS(bytes.NewReader(data), dst); err != nil {
		t.Fatal(err)
	}
	check := func(p string, mode os.FileMode) {
		t.Helper()
		fi, err := os.Lstat(filepath.Join(dst, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), mode)
		}
	}
	check("usr/bin/tool", 0o755)
	check("usr/bin/suid", 0o755|os.ModeSetuid)
	check("etc/deep/file", 0o600)
	check("usr", os.ModeDir|0o755)
	if l, err := os.Readlink(filepath.Join(dst, "bin")); err != nil || l != "usr/bin" {
		t.Errorf("bin -> %q, %v", l, err)
	}
	a, _ := os.Stat(filepath.Join(dst, "usr/bin/tool"))
	b, _ := os.Stat(filepath.Join(dst, "usr/bin/tool2"))
	if !os.SameFile(a, b) {
		t.Error("hard link not linked")
	}
	if !a.ModTime().Equal(time.Unix(1700000000, 0)) {
		t.Errorf("mtime %v", a.ModTime())
	}
	if _, err := os.Lstat(filepath.Join(dst, "dev/null")); err == nil {
		t.Error("device node extracted")
	}
}

func TestExtractRootFSRejects(t *testing.T) {
	for name, entries := range map[string][]entry{
		"parent":            {fileE("../x", "", 0o644)},
		"absolute":          {fileE("/etc/x", "", 0o644)},
		"unclean":           {fileE("a/../../x", "", 0o644)},
		"through a symlink": {symE("evil", "/tmp"), fileE("evil/x", "", 0o644)},
		"dangling hardlink": {linkE("x", "etc/shadow")},
		"hardlink outside":  {linkE("x", "../../etc/passwd")},
		"duplicate file":    {fileE("x", "1", 0o644), fileE("x", "2", 0o644)},
		"file over dir":     {dirE("d/"), fileE("d", "", 0o644)},
	} {
		outside := t.TempDir()
		dst := filepath.Join(outside, "root")
		os.Mkdir(dst, 0o755)
		if err := ExtractRootFS(bytes.NewReader(tarOf(t, entries...)), dst); err == nil {
			t.Errorf("%s: no error", name)
		}
		if _, err := os.Stat(filepath.Join(outside, "x")); err == nil {
			t.Errorf("%s: wrote outside the target", name)
		}
	}
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestWriteOCILayout(t *testing.T) {
	layer1, layer2 := "layer one tar bytes", "layer two tar bytes"
	config := `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:` + sha(layer1) + `","sha256:` + sha(layer2) + `"]}}`
	cfgName := sha(config) + ".json"
	save := tarOf(t,
		dirE("aaa/"), fileE("aaa/layer.tar", layer1, 0o644), fileE("aaa/json", "{}", 0o644),
		dirE("bbb/"), fileE("bbb/layer.tar", layer2, 0o644),
		dirE("ccc/"), symE("ccc/layer.tar", "../aaa/layer.tar"),
		fileE(cfgName, config, 0o644),
		fileE("manifest.json", `[{"Config":"`+cfgName+`","RepoTags":["pbuild/toolchain:x"],"Layers":["aaa/layer.tar","bbb/layer.tar","ccc/layer.tar"]}]`, 0o644),
		fileE("repositories", "{}", 0o644),
	)
	dir := t.TempDir()
	m, err := WriteOCILayout(bytes.NewReader(save), dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := readLayoutManifest(dir)
	if err != nil || got != m {
		t.Fatalf("readLayoutManifest = %s, %v; want %s", got, err, m)
	}
	mb, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", m.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	if sha(string(mb)) != m.Encoded() {
		t.Error("manifest blob does not match its digest")
	}
	var man ocispecs.Manifest
	if err := json.Unmarshal(mb, &man); err != nil {
		t.Fatal(err)
	}
	if man.Config.Digest.Encoded() != sha(config) || man.Config.MediaType != ocispecs.MediaTypeImageConfig {
		t.Errorf("config %+v", man.Config)
	}
	want := []string{sha(layer1), sha(layer2), sha(layer1)}
	if len(man.Layers) != 3 {
		t.Fatalf("layers %+v", man.Layers)
	}
	for i, l := range man.Layers {
		if l.Digest.Encoded() != want[i] || l.MediaType != ocispecs.MediaTypeImageLayer {
			t.Errorf("layer %d: %+v, want digest %s", i, l, want[i])
		}
		b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", l.Digest.Encoded()))
		if err != nil || sha(string(b)) != want[i] {
			t.Errorf("layer %d blob: %v", i, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ocispecs.ImageLayoutFile)); !strings.Contains(string(b), "1.0.0") {
		t.Errorf("oci-layout %q", b)
	}
	// The same archive gives the same manifest digest.
	m2, err := WriteOCILayout(bytes.NewReader(save), t.TempDir())
	if err != nil || m2 != m {
		t.Errorf("second conversion %s, %v; want %s", m2, err, m)
	}
}
