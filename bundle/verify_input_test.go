//go:build unix

package bundle

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbuild/pbuild/internal/archive"
	"github.com/pbuild/pbuild/internal/safefile/safefiletest"
)

// verifyWithin runs Verify and fails the test when it has not returned
// after d: a file that blocks the open or never ends must not hang it.
func verifyWithin(t *testing.T, d time.Duration, archive string, opts VerifyOptions) (*Report, error) {
	t.Helper()
	type result struct {
		rep *Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		rep, err := Verify(context.Background(), archive, opts)
		done <- result{rep, err}
	}()
	select {
	case r := <-done:
		return r.rep, r.err
	case <-time.After(d):
		t.Fatalf("Verify(context.Background(), %s) did not return within %v", archive, d)
		return nil, nil
	}
}

// listBeside adds name with sum to the bundle's checksums.txt, as a
// checksums list of several bundles has other files.
func listBeside(t *testing.T, res *Result, name, sum string) {
	t.Helper()
	sums, err := ParseChecksums(mustRead(t, res.Checksums))
	if err != nil {
		t.Fatal(err)
	}
	sums[name] = sum
	if err := os.WriteFile(res.Checksums, sums.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyRefusesListedFiles: a file checksums.txt lists beside the
// bundle is read only when it is a regular file inside the bundle's
// directory and not over the limit; anything else fails the checksums step
// with the file named, at once.
func TestVerifyRefusesListedFiles(t *testing.T) {
	const zeros = "bb9f8df61474d25e71fa00722318cd387396ca1736605e1248821cc0de3d3af8" // sha256 of 4 MiB of zeros
	tests := []struct {
		name     string
		file     string
		make     func(t *testing.T, dir, p string)
		sum      string
		opts     VerifyOptions
		contains string
	}{
		{
			name: "fifo",
			file: "other_1.0.0_linux_arm64.tar.gz",
			make: func(t *testing.T, dir, p string) { safefiletest.Mkfifo(t, p) },
			sum:  strings.Repeat("0", 64), contains: "named pipe",
		},
		{
			name: "symlink to /dev/zero",
			file: "zero.tar.gz",
			make: func(t *testing.T, dir, p string) {
				if err := os.Symlink("/dev/zero", p); err != nil {
					t.Fatal(err)
				}
			},
			sum: strings.Repeat("0", 64), contains: "leaves",
		},
		{
			name: "symlink leaving the directory",
			file: "outside.tar.gz",
			make: func(t *testing.T, dir, p string) {
				// A file the listed sum matches, outside the bundle's directory.
				outside := filepath.Join(filepath.Dir(dir), "outside")
				if err := os.WriteFile(outside, make([]byte, 4<<20), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(outside, p); err != nil {
					t.Fatal(err)
				}
			},
			sum: zeros, contains: "leaves",
		},
		{
			name: "too large",
			file: "big.tar.gz",
			make: func(t *testing.T, dir, p string) {
				if err := os.WriteFile(p, make([]byte, 4<<20), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			sum:  zeros,
			opts: VerifyOptions{Extract: archive.ExtractOptions{MaxTotalSize: 1 << 20}},
			// The limit of a listed file is twice the archive's.
			contains: "over the limit",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := newBundle(t)
			dir := filepath.Join(t.TempDir(), "release")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			res = moveBundle(t, res, dir)
			tt.make(t, dir, filepath.Join(dir, tt.file))
			listBeside(t, res, tt.file, tt.sum)
			_, err := verifyWithin(t, 10*time.Second, res.Archive, tt.opts)
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("Verify = %v, want a VerifyError", err)
			}
			if ve.Step != StepChecksums || ve.File != tt.file || !strings.Contains(ve.Error(), tt.contains) {
				t.Errorf("Verify failed with %q (step %s, file %s), want step %s, file %s, containing %q", ve, ve.Step, ve.File, StepChecksums, tt.file, tt.contains)
			}
		})
	}
}

// TestVerifyRefusesOwnFiles: the bundle's own files are refused the same way.
func TestVerifyRefusesOwnFiles(t *testing.T) {
	for _, which := range []string{"sbom", "attestation", "checksums"} {
		t.Run(which, func(t *testing.T) {
			res, _ := newBundle(t)
			p := map[string]string{"sbom": res.SBOM, "attestation": res.Attestation, "checksums": res.Checksums}[which]
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			safefiletest.Mkfifo(t, p)
			_, err := verifyWithin(t, 10*time.Second, res.Archive, VerifyOptions{})
			var ve *VerifyError
			if !errors.As(err, &ve) || ve.Step != StepChecksums || ve.File != filepath.Base(p) || !strings.Contains(ve.Error(), "named pipe") {
				t.Errorf("Verify = %v, want the checksums step to fail naming %s a named pipe", err, filepath.Base(p))
			}
		})
	}
}

// moveBundle moves the bundle's four files into dir.
func moveBundle(t *testing.T, res *Result, dir string) *Result {
	t.Helper()
	r := *res
	for _, p := range []*string{&r.Archive, &r.SBOM, &r.Attestation, &r.Checksums} {
		to := filepath.Join(dir, filepath.Base(*p))
		if err := os.Rename(*p, to); err != nil {
			t.Fatal(err)
		}
		*p = to
	}
	return &r
}

// TestVerifyCancel: Ctrl-C while Verify hashes a huge listed file returns
// the context's error promptly, and fails no step.
func TestVerifyCancel(t *testing.T) {
	res, out := newBundle(t)
	f, err := os.Create(filepath.Join(out, "huge.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	err = f.Truncate(2 * DefaultMaxTotalSize) // sparse, at the limit: hashing it takes seconds
	f.Close()
	if err != nil {
		t.Skipf("cannot make a sparse file: %v", err)
	}
	listBeside(t, res, "huge.tar.gz", strings.Repeat("0", 64))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	done := make(chan error, 1)
	var rep *Report
	go func() {
		var err error
		rep, err = Verify(ctx, res.Archive, VerifyOptions{})
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Verify did not return within 10s of Ctrl-C")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify, cancelled = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Verify returned after %v, more than 2s", d)
	}
	var ve *VerifyError
	if errors.As(err, &ve) || rep == nil || rep.OK || len(rep.Steps) != 0 {
		t.Errorf("Verify, cancelled: %v, report %+v; want no step failed", err, rep)
	}
}

// TestVerifyFollowsLinksInside: a listed file that is a symbolic link to
// another file beside the bundle is read, as sha256sum -c would.
func TestVerifyFollowsLinksInside(t *testing.T) {
	res, out := newBundle(t)
	if err := os.Symlink(filepath.Base(res.Archive), filepath.Join(out, "latest.tar.gz")); err != nil {
		t.Fatal(err)
	}
	listBeside(t, res, "latest.tar.gz", res.SHA256)
	rep, err := Verify(context.Background(), res.Archive, VerifyOptions{})
	if err != nil || !strings.Contains(rep.Steps[0].Detail, "4 files match") {
		t.Errorf("Verify = %v, %+v", err, rep)
	}
}

// TestVerifyArchiveNotAFile: the bundle named on the command line must be
// a regular file in its directory: an input error, at once.
func TestVerifyArchiveNotAFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "a_1_linux_amd64.tar.gz")
	safefiletest.Mkfifo(t, fifo)
	zero := filepath.Join(dir, "b_1_linux_amd64.tar.gz")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{fifo: "named pipe", zero: "leaves"} {
		_, err := verifyWithin(t, 10*time.Second, p, VerifyOptions{})
		var ie *InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), want) {
			t.Errorf("Verify(%s) = %v, want an InputError saying %q", p, err, want)
		}
	}
}

// TestCreateRefusesSpecialFiles: bundle reads a dist's artifacts only as
// regular files inside the dist, and never waits on one.
func TestCreateRefusesSpecialFiles(t *testing.T) {
	for name, mk := range map[string]func(t *testing.T, p string){
		"fifo": func(t *testing.T, p string) { safefiletest.Mkfifo(t, p) },
		"symlink to /dev/zero": func(t *testing.T, p string) {
			if err := os.Symlink("/dev/zero", p); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			dist := writeDist(t, testManifest())
			p := filepath.Join(dist, "plugins", "hello.so")
			os.Remove(p)
			mk(t, p)
			done := make(chan error, 1)
			go func() {
				_, err := Create(context.Background(), dist, testOptions(t.TempDir()))
				done <- err
			}()
			select {
			case err := <-done:
				var me *MismatchError
				if !errors.As(err, &me) || me.File != "plugins/hello.so" {
					t.Errorf("Create = %v, want a MismatchError for plugins/hello.so", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Create did not return within 10s")
			}
		})
	}
}

func TestVerifyErrorHint(t *testing.T) {
	res, _ := newBundle(t)
	safefiletest.Mkfifo(t, filepath.Join(filepath.Dir(res.Archive), "x.tar.gz"))
	listBeside(t, res, "x.tar.gz", strings.Repeat("0", 64))
	_, err := Verify(context.Background(), res.Archive, VerifyOptions{})
	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("Verify = %v, want a VerifyError", err)
	}
	if !strings.Contains(ve.Hint(), "only regular files inside the bundle's directory") {
		t.Errorf("hint %q", ve.Hint())
	}
}
