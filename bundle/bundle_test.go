package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pbuild/pbuild/internal/archive"
	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/sign"
)

func TestCreateIsReproducible(t *testing.T) {
	m := testManifest()
	opts := testOptions("")
	var outs []string
	for i := range 2 {
		// Each run from its own copy of the dist, into its own directory.
		opts.OutDir = filepath.Join(t.TempDir(), "release")
		res, err := Create(context.Background(), writeDist(t, m), opts)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if res.Base != "app_1.2.0_linux_amd64" {
			t.Errorf("Base = %q", res.Base)
		}
		outs = append(outs, opts.OutDir)
	}
	names := []string{"app_1.2.0_linux_amd64.tar.gz", "app_1.2.0_linux_amd64.cdx.json", "app_1.2.0_linux_amd64.intoto.json", "checksums.txt"}
	entries, _ := os.ReadDir(outs[0])
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if want := slices.Sorted(slices.Values(names)); !slices.Equal(got, want) {
		t.Errorf("files = %q, want %q", got, want)
	}
	for _, name := range names {
		a, b := mustRead(t, filepath.Join(outs[0], name)), mustRead(t, filepath.Join(outs[1], name))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs", name)
		}
	}

	// Another time gives another archive.
	opts.OutDir = t.TempDir()
	opts.Time = opts.Time.Add(time.Second)
	if _, err := Create(context.Background(), writeDist(t, m), opts); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(mustRead(t, filepath.Join(outs[0], names[0])), mustRead(t, filepath.Join(opts.OutDir, names[0]))) {
		t.Errorf("the archive does not depend on the time")
	}
}

func TestArchiveLayout(t *testing.T) {
	res, _ := newBundle(t)
	f, err := os.Open(res.Archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || zr.Comment != "" || !zr.ModTime.IsZero() || zr.Extra != nil {
		t.Errorf("gzip header = %+v, want no name, comment, extra or time", zr.Header)
	}
	mtime := testOptions("").Time
	tr := tar.NewReader(zr)
	var names []string
	modes := map[string]int64{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
		modes[hdr.Name] = hdr.Mode
		if hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || hdr.Gname != "" {
			t.Errorf("%s: owner %d:%d %q:%q, want 0:0 without names", hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname)
		}
		if !hdr.ModTime.Equal(mtime) {
			t.Errorf("%s: mtime %v, want %v", hdr.Name, hdr.ModTime, mtime)
		}
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeDir {
			t.Errorf("%s: type %q", hdr.Name, hdr.Typeflag)
		}
	}
	want := []string{
		"app_1.2.0_linux_amd64/",
		"app_1.2.0_linux_amd64/app",
		"app_1.2.0_linux_amd64/pbuild.manifest.json",
		"app_1.2.0_linux_amd64/plugins/",
		"app_1.2.0_linux_amd64/plugins/hello.so",
		"app_1.2.0_linux_amd64/plugins/shout.so",
	}
	if !slices.Equal(names, want) {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	for name, want := range map[string]int64{
		"app_1.2.0_linux_amd64/": 0o755, "app_1.2.0_linux_amd64/app": 0o755,
		"app_1.2.0_linux_amd64/pbuild.manifest.json": 0o644, "app_1.2.0_linux_amd64/plugins/hello.so": 0o755,
	} {
		if modes[name] != want {
			t.Errorf("%s: mode %o, want %o", name, modes[name], want)
		}
	}
}

func TestChecksumsFile(t *testing.T) {
	res, out := newBundle(t)
	data := string(mustRead(t, res.Checksums))
	re := regexp.MustCompile(`^([0-9a-f]{64}  app_1\.2\.0_linux_amd64\.(cdx\.json|intoto\.json|tar\.gz)\n){3}$`)
	if !re.MatchString(data) {
		t.Errorf("checksums.txt:\n%s", data)
	}
	if !strings.Contains(data, res.SHA256+"  app_1.2.0_linux_amd64.tar.gz\n") {
		t.Errorf("checksums.txt lacks the archive's sha256 %s", res.SHA256)
	}

	// Another version bundled into the same directory keeps the first
	// one's lines, and both verify.
	opts := testOptions(out)
	opts.Version = "1.3.0"
	res2, err := Create(context.Background(), writeDist(t, testManifest()), opts)
	if err != nil {
		t.Fatal(err)
	}
	sums, err := ParseChecksums(mustRead(t, res.Checksums))
	if err != nil || len(sums) != 6 {
		t.Fatalf("merged checksums: %v, %v", sums, err)
	}
	for _, r := range []*Result{res, res2} {
		if _, err := Verify(context.Background(), r.Archive, VerifyOptions{PublicKey: testKey(1).Public().(ed25519.PublicKey)}); err != nil {
			t.Errorf("Verify %s: %v", r.Base, err)
		}
	}
	// A downloaded single bundle verifies without the others' files.
	os.Remove(res2.Archive)
	if _, err := Verify(context.Background(), res.Archive, VerifyOptions{}); err != nil {
		t.Errorf("Verify without the other bundle: %v", err)
	}
}

func TestParseChecksums(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	for _, bad := range []string{
		"",
		sum + "  a",       // no final newline
		sum + " a\n",      // one space
		sum + "  *a\n",    // binary marker
		sum + "  dir/a\n", // a path
		sum + "  ..\n",
		strings.ToUpper(sum) + "  a\n",
		sum[:63] + "  a\n",
		sum + "  a\n" + sum + "  a\n", // twice
		sum + "  a\n\n",
		sum + "  a\r\n",
	} {
		if _, err := ParseChecksums([]byte(bad)); err == nil {
			t.Errorf("ParseChecksums(%q) succeeded", bad)
		}
	}
	c, err := ParseChecksums([]byte(sum + "  b\n" + sum + "  a b\n"))
	if err != nil || c["a b"] != sum || c["b"] != sum {
		t.Errorf("ParseChecksums = %v, %v", c, err)
	}
	if got := string(c.Marshal()); got != sum+"  a b\n"+sum+"  b\n" {
		t.Errorf("Marshal = %q", got)
	}
}

func TestVerify(t *testing.T) {
	res, _ := newBundle(t)
	var checkedDir string
	opts := VerifyOptions{
		PublicKey: testKey(1).Public().(ed25519.PublicKey),
		Check: func(_ context.Context, dir string, m *manifests.Manifest) (string, error) {
			checkedDir = dir
			if _, err := os.Stat(filepath.Join(dir, "plugins", "hello.so")); err != nil {
				t.Errorf("check: %v", err)
			}
			if len(m.Artifacts) != 3 {
				t.Errorf("check got %d artifacts", len(m.Artifacts))
			}
			return "all 2 plugins load into the host", nil
		},
	}
	rep, err := Verify(context.Background(), res.Archive, opts)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !rep.OK || !rep.Signed || rep.SHA256 != res.SHA256 || rep.Name != "app" || rep.Version != "1.2.0" || rep.KeyID != res.KeyID {
		t.Errorf("report = %+v", rep)
	}
	var steps []string
	for _, s := range rep.Steps {
		if s.Status != StatusOK {
			t.Errorf("step %s: %s %s", s.Name, s.Status, s.Detail)
		}
		steps = append(steps, s.Name)
	}
	if want := []string{StepChecksums, StepSignature, StepAttestation, StepArchive, StepManifest, StepSBOM, StepCheck}; !slices.Equal(steps, want) {
		t.Errorf("steps = %q, want %q", steps, want)
	}
	if _, err := os.Stat(checkedDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the extracted bundle %s was not removed: %v", checkedDir, err)
	}

	// Without a key the signature is not checked, and the report says so.
	rep, err = Verify(context.Background(), res.Archive, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Signed || rep.Steps[1].Status != StatusSkipped || !strings.Contains(rep.Steps[1].Detail, "not checked") {
		t.Errorf("unsigned check: %+v", rep.Steps[1])
	}

	// A failing check fails the bundle with its report.
	opts.Check = func(context.Context, string, *manifests.Manifest) (string, error) {
		return "FAIL plugins/hello.so", errors.New("check: 1 of 2 plugins cannot load into the host")
	}
	_, err = Verify(context.Background(), res.Archive, opts)
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.Step != StepCheck || ve.Detail != "FAIL plugins/hello.so" {
		t.Errorf("failing check: %v", err)
	}
}

func TestVerifyInput(t *testing.T) {
	res, out := newBundle(t)
	var ie *InputError
	for _, p := range []string{filepath.Join(out, "missing.tar.gz"), res.SBOM, out + "/.tar.gz", out} {
		if _, err := Verify(context.Background(), p, VerifyOptions{}); !errors.As(err, &ie) {
			t.Errorf("Verify(context.Background(), %s) = %v, want an InputError", p, err)
		}
	}
}

// TestVerifyTampered changes one file of a good bundle at a time, the way
// a careless or hostile mirror would, and expects the failure named.
func TestVerifyTampered(t *testing.T) {
	key := testKey(1)
	pub := key.Public().(ed25519.PublicKey)
	tests := []struct {
		name     string
		tamper   func(t *testing.T, res *Result)
		noKey    bool // verify without --key
		step     string
		file     string // the file named, relative to the bundle's directory
		contains string
	}{
		{
			name:   "archive byte",
			tamper: func(t *testing.T, res *Result) { flip(t, res.Archive) },
			step:   StepChecksums, file: "app_1.2.0_linux_amd64.tar.gz", contains: "sha256 is",
		},
		{
			name:   "sbom byte",
			tamper: func(t *testing.T, res *Result) { flip(t, res.SBOM) },
			step:   StepChecksums, file: "app_1.2.0_linux_amd64.cdx.json",
		},
		{
			name:   "attestation byte",
			tamper: func(t *testing.T, res *Result) { flip(t, res.Attestation) },
			step:   StepChecksums, file: "app_1.2.0_linux_amd64.intoto.json",
		},
		{
			name: "checksums digit",
			tamper: func(t *testing.T, res *Result) {
				b := mustRead(t, res.Checksums)
				b[0] = otherHexDigit(b[0])
				os.WriteFile(res.Checksums, b, 0o644)
			},
			step: StepChecksums, contains: "checksums.txt says",
		},
		{
			name:   "checksums byte",
			tamper: func(t *testing.T, res *Result) { flip(t, res.Checksums) },
			step:   StepChecksums,
		},
		{
			name:   "checksums missing",
			tamper: func(t *testing.T, res *Result) { os.Remove(res.Checksums) },
			step:   StepChecksums, file: "checksums.txt",
		},
		{
			name: "checksums without the archive",
			tamper: func(t *testing.T, res *Result) {
				sums, _ := ParseChecksums(mustRead(t, res.Checksums))
				delete(sums, filepath.Base(res.Archive))
				os.WriteFile(res.Checksums, sums.Marshal(), 0o644)
			},
			step: StepChecksums, file: "app_1.2.0_linux_amd64.tar.gz", contains: "not listed",
		},
		{
			name: "attestation signature byte",
			tamper: func(t *testing.T, res *Result) {
				env, _ := sign.ParseEnvelope(mustRead(t, res.Attestation))
				env.Signatures[0].Sig[10] ^= 0x01
				data, _ := env.Marshal()
				os.WriteFile(res.Attestation, data, 0o644)
				reseal(t, res)
			},
			step: StepSignature, file: "app_1.2.0_linux_amd64.intoto.json", contains: "does not verify",
		},
		{
			name: "attestation payload byte",
			tamper: func(t *testing.T, res *Result) {
				env, _ := sign.ParseEnvelope(mustRead(t, res.Attestation))
				i := bytes.Index(env.Payload, []byte(`"version":"1.2.0"`))
				env.Payload[i+len(`"version":"1.`)] = '3'
				data, _ := env.Marshal()
				os.WriteFile(res.Attestation, data, 0o644)
				reseal(t, res)
			},
			step: StepSignature, file: "app_1.2.0_linux_amd64.intoto.json", contains: "does not verify",
		},
		{
			name: "attestation payload byte, no key",
			tamper: func(t *testing.T, res *Result) {
				restate(t, res, nil, func(st *Statement) { st.Predicate.BuildDefinition.ExternalParameters.Version = "1.3.0" })
			},
			noKey: true,
			step:  StepAttestation, file: "app_1.2.0_linux_amd64.tar.gz", contains: "the attestation is for app_1.3.0_linux_amd64.tar.gz",
		},
		{
			name: "attestation signed by another key",
			tamper: func(t *testing.T, res *Result) {
				restate(t, res, testKey(2), func(*Statement) {})
			},
			step: StepSignature, contains: "no signature by this key",
		},
		{
			name: "attestation unsigned",
			tamper: func(t *testing.T, res *Result) {
				restate(t, res, nil, func(*Statement) {})
			},
			step: StepSignature, contains: "no signature",
		},
		{
			name: "archive replaced, attestation re-signed with the key",
			tamper: func(t *testing.T, res *Result) {
				// Only a key holder can do this; the manifest step still
				// catches a manifest that lies about its artifacts.
				rewriteArchive(t, res, func(name string, data []byte) []byte {
					if name == manifests.FileName {
						m, _ := manifests.Read(bytes.NewReader(data))
						m.Artifacts[1].SHA256 = strings.Repeat("0", 64)
						var buf bytes.Buffer
						manifests.Write(&buf, m)
						return buf.Bytes()
					}
					return data
				})
				restate(t, res, key, func(st *Statement) { setSubject(st, filepath.Base(res.Archive), sha256Hex(mustRead(t, res.Archive))) })
			},
			step: StepManifest, file: "app_1.2.0_linux_amd64/plugins/hello.so", contains: "the manifest says 0000",
		},
		{
			name: "manifest byte inside the archive, no key",
			tamper: func(t *testing.T, res *Result) {
				rewriteArchive(t, res, func(name string, data []byte) []byte {
					if name == manifests.FileName {
						// One hex digit of the first artifact's sha256.
						i := bytes.Index(data, []byte(`"sha256": "`)) + len(`"sha256": "`)
						data[i] = otherHexDigit(data[i])
					}
					return data
				})
				restate(t, res, nil, func(st *Statement) { setSubject(st, filepath.Base(res.Archive), sha256Hex(mustRead(t, res.Archive))) })
			},
			noKey: true,
			step:  StepManifest, file: "app_1.2.0_linux_amd64/app", contains: "the manifest says",
		},
		{
			name: "extra file inside the archive",
			tamper: func(t *testing.T, res *Result) {
				rewriteArchive(t, res, nil, "plugins/evil.so")
				restate(t, res, key, func(st *Statement) { setSubject(st, filepath.Base(res.Archive), sha256Hex(mustRead(t, res.Archive))) })
			},
			step: StepManifest, file: "app_1.2.0_linux_amd64/plugins/evil.so", contains: "not in the manifest",
		},
		{
			name: "artifact subject",
			tamper: func(t *testing.T, res *Result) {
				restate(t, res, key, func(st *Statement) { setSubject(st, "app_1.2.0_linux_amd64/app", strings.Repeat("1", 64)) })
			},
			step: StepManifest, file: "app_1.2.0_linux_amd64/app", contains: "the attestation's subject says",
		},
		{
			name: "sbom changed, attestation re-signed",
			tamper: func(t *testing.T, res *Result) {
				data := bytes.Replace(mustRead(t, res.SBOM), []byte(`"version": "1.2.0"`), []byte(`"version": "1.2.1"`), 1)
				os.WriteFile(res.SBOM, data, 0o644)
				restate(t, res, key, func(st *Statement) { setSubject(st, filepath.Base(res.SBOM), sha256Hex(data)) })
			},
			step: StepSBOM, file: "app_1.2.0_linux_amd64.cdx.json", contains: "describes app 1.2.1",
		},
		{
			name: "sbom changed, subject not",
			tamper: func(t *testing.T, res *Result) {
				data := bytes.Replace(mustRead(t, res.SBOM), []byte(`"version": "1.2.0"`), []byte(`"version": "1.2.1"`), 1)
				os.WriteFile(res.SBOM, data, 0o644)
				reseal(t, res)
			},
			step: StepAttestation, file: "app_1.2.0_linux_amd64.cdx.json", contains: "the attestation's subject says",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := newBundle(t)
			tt.tamper(t, res)
			opts := VerifyOptions{PublicKey: pub}
			if tt.noKey {
				opts.PublicKey = nil
			}
			rep, err := Verify(context.Background(), res.Archive, opts)
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("Verify = %v, want a VerifyError", err)
			}
			if ve.Step != tt.step || tt.file != "" && ve.File != tt.file || !strings.Contains(ve.Error(), tt.contains) {
				t.Errorf("Verify failed with %q (step %s, file %s), want step %s, file %q, containing %q", ve, ve.Step, ve.File, tt.step, tt.file, tt.contains)
			}
			if ve.Hint() == "" {
				t.Errorf("no hint for step %s", ve.Step)
			}
			last := rep.Steps[len(rep.Steps)-1]
			if rep.OK || last.Status != StatusFailed || last.Name != ve.Step {
				t.Errorf("report: OK %v, last step %+v", rep.OK, last)
			}
		})
	}
}

// otherHexDigit returns a hex digit other than c.
func otherHexDigit(c byte) byte {
	if c == '0' {
		return '1'
	}
	return '0'
}

// rewriteArchive rewrites the bundle's archive with each file's content
// passed through change (nil: unchanged; change returning nil drops the
// file) and extra files added.
func rewriteArchive(t *testing.T, res *Result, change func(name string, data []byte) []byte, extra ...string) {
	t.Helper()
	dir := t.TempDir()
	contents, err := extract(context.Background(), bytes.NewReader(mustRead(t, res.Archive)), dir, archive.ExtractOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var files []archive.Entry
	for _, f := range contents.Files {
		name := strings.TrimPrefix(f.Name, res.Base+"/")
		data := mustRead(t, filepath.Join(dir, filepath.FromSlash(f.Name)))
		if change != nil {
			if data = change(name, data); data == nil {
				continue // dropped
			}
		}
		files = append(files, archive.Bytes(name, data, false, time.Time{}))
	}
	for _, name := range extra {
		files = append(files, archive.Bytes(name, []byte("extra"), true, time.Time{}))
	}
	var buf bytes.Buffer
	if err := writeArchive(context.Background(), &buf, res.Base, files, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(res.Archive, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCreateRefuses(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, dist string, m *manifests.Manifest, opts *Options)
		want   any // *MismatchError or *InputError
		msg    string
	}{
		{
			name: "artifact byte changed",
			change: func(t *testing.T, dist string, m *manifests.Manifest, opts *Options) {
				flip(t, filepath.Join(dist, "plugins", "shout.so"))
			},
			want: &MismatchError{}, msg: "plugins/shout.so differs from the manifest: sha256",
		},
		{
			name: "artifact grown",
			change: func(t *testing.T, dist string, m *manifests.Manifest, opts *Options) {
				os.WriteFile(filepath.Join(dist, "app"), []byte("a longer fake host\n"), 0o755)
			},
			want: &MismatchError{}, msg: "app differs from the manifest: 19 bytes, manifest says 12 bytes",
		},
		{
			name: "artifact missing",
			change: func(t *testing.T, dist string, m *manifests.Manifest, opts *Options) {
				os.Remove(filepath.Join(dist, "plugins", "hello.so"))
			},
			msg: "no such file",
		},
		{
			name: "no manifest",
			change: func(t *testing.T, dist string, m *manifests.Manifest, opts *Options) {
				os.Remove(filepath.Join(dist, manifests.FileName))
			},
			want: &InputError{}, msg: "has no pbuild.manifest.json",
		},
		{
			name: "bad version",
			change: func(t *testing.T, dist string, m *manifests.Manifest, opts *Options) {
				opts.Version = "1.0/../../x"
			},
			want: &InputError{}, msg: `version "1.0/../../x" has '/'`,
		},
		{
			name: "escaping artifact path",
			change: func(t *testing.T, dist string, m *manifests.Manifest, opts *Options) {
				m.Artifacts[1].File = "../hello.so"
				rewriteManifest(t, dist, m)
			},
			want: &InputError{}, msg: `artifacts[1].file: "../hello.so" leaves the output directory`,
		},
		{
			name: "bad checksums.txt in the output",
			change: func(t *testing.T, dist string, m *manifests.Manifest, opts *Options) {
				os.WriteFile(filepath.Join(opts.OutDir, ChecksumsFile), []byte("not checksums\n"), 0o644)
			},
			want: &InputError{}, msg: "remove it or choose another --out",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testManifest()
			dist := writeDist(t, m)
			opts := testOptions(t.TempDir())
			tt.change(t, dist, m, &opts)
			before := listDir(t, opts.OutDir)
			_, err := Create(context.Background(), dist, opts)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Create = %v, want an error containing %q", err, tt.msg)
			}
			switch tt.want.(type) {
			case *MismatchError:
				var me *MismatchError
				if !errors.As(err, &me) {
					t.Errorf("%v is not a MismatchError", err)
				}
			case *InputError:
				var ie *InputError
				if !errors.As(err, &ie) {
					t.Errorf("%v is not an InputError", err)
				}
			}
			if after := listDir(t, opts.OutDir); !slices.Equal(before, after) {
				t.Errorf("the output directory changed: %q, was %q", after, before)
			}
		})
	}
}

func rewriteManifest(t *testing.T, dist string, m *manifests.Manifest) {
	t.Helper()
	var buf bytes.Buffer
	if err := manifests.Write(&buf, m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dist, manifests.FileName), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// listDir lists the names below dir, recursively, with their sizes.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, fmt.Sprintf("%s %s %d", rel, fi.Mode(), fi.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNameDefaultsAndChecks(t *testing.T) {
	opts := testOptions(t.TempDir())
	opts.Name = "greeter-pro"
	res, err := Create(context.Background(), writeDist(t, testManifest()), opts)
	if err != nil || res.Base != "greeter-pro_1.2.0_linux_amd64" {
		t.Fatalf("Create = %+v, %v", res, err)
	}
	for _, bad := range []string{"", ".x", "-x", "a b", "a/b", "a\\b", strings.Repeat("x", 129)} {
		if err := CheckName("version", bad); err == nil {
			t.Errorf("CheckName(%q) accepted it", bad)
		}
	}
	for _, good := range []string{"1.2.0", "v1.2.0-rc.1+build.5", "greeter_pro"} {
		if err := CheckName("version", good); err != nil {
			t.Errorf("CheckName(%q): %v", good, err)
		}
	}
}

func TestSerialNumber(t *testing.T) {
	// The CycloneDX 1.5 schema's pattern.
	re := regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := SerialNumber(strings.Repeat("a", 64)), SerialNumber(strings.Repeat("b", 64))
	if !re.MatchString(a) || a == b || a != SerialNumber(strings.Repeat("a", 64)) {
		t.Errorf("serial numbers %s, %s", a, b)
	}
	if a[23] != '5' {
		t.Errorf("%s is not a version 5 UUID", a)
	}
}

func TestPurl(t *testing.T) {
	for _, tt := range [][3]string{
		{"golang.org/x/text", "v0.21.0", "pkg:golang/golang.org/x/text@v0.21.0"},
		{"github.com/docker/docker", "v28.5.2+incompatible", "pkg:golang/github.com/docker/docker@v28.5.2%2Bincompatible"},
		{"example.com/app/api", "", "pkg:golang/example.com/app/api"},
		{"example.com/~user/x_y", "v0.0.0-20240101000000-abcdef012345", "pkg:golang/example.com/~user/x_y@v0.0.0-20240101000000-abcdef012345"},
	} {
		if got := purl(tt[0], tt[1]); got != tt[2] {
			t.Errorf("purl(%q, %q) = %q, want %q", tt[0], tt[1], got, tt[2])
		}
	}
}
