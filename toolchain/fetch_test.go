package toolchain

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/note"

	"github.com/pbuild/pbuild/internal/container/containertest"
)

func TestModuleVersion(t *testing.T) {
	if got := ModuleVersion("1.24.4", "linux", "amd64"); got != testVersion {
		t.Errorf("ModuleVersion = %q, want %q", got, testVersion)
	}
	if got := ModuleVersion("1.25rc1", "linux", "arm64"); got != "v0.0.1-go1.25rc1.linux-arm64" {
		t.Errorf("ModuleVersion = %q", got)
	}
}

func newFetcher(t *testing.T, proxyList string) *Fetcher {
	return &Fetcher{Proxy: proxyList, SumDB: "off", CacheDir: t.TempDir(), HTTP: containertest.LoopbackClient()}
}

func cachedZip(f *Fetcher) string {
	return filepath.Join(f.CacheDir, "toolchains", "golang.org", "toolchain", "@v", testVersion+".zip")
}

// leftovers lists the files in the cache's download directory other than
// the zip itself and the record of its verified hash.
func leftovers(t *testing.T, f *Fetcher) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(cachedZip(f)))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.Name() != testVersion+".zip" && e.Name() != testVersion+".ziphash" {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestFetchPinned(t *testing.T) {
	p, sum := goodProxy(t)
	f := newFetcher(t, p.URL+"/good")
	got, err := f.Fetch(context.Background(), testVersion, sum)
	if err != nil {
		t.Fatal(err)
	}
	want := &Fetched{Module: testModule, Zip: cachedZip(f), Sum: sum}
	if *got != *want {
		t.Errorf("Fetch = %+v, want %+v", got, want)
	}
	if p.Total() != 1 {
		t.Errorf("%d requests, want 1", p.Total())
	}
	if l := leftovers(t, f); len(l) != 0 {
		t.Errorf("download left %v in the cache", l)
	}
	if zp, s, ok := f.Cached(testVersion); !ok || zp != want.Zip || s != sum {
		t.Errorf("Cached = %s, %s, %v; want %s, %s, true", zp, s, ok, want.Zip, sum)
	}

	// The second fetch uses the cache.
	p.Status("/good", http.StatusInternalServerError)
	again, err := f.Fetch(context.Background(), testVersion, sum)
	if err != nil {
		t.Fatal(err)
	}
	if *again != *want {
		t.Errorf("second Fetch = %+v, want %+v", again, want)
	}
	if p.Total() != 1 {
		t.Errorf("second Fetch made %d more requests, want none", p.Total()-1)
	}
}

func TestFetchChecksumMismatch(t *testing.T) {
	p, sum := goodProxy(t)
	f := newFetcher(t, p.URL+"/good")
	wrong := "h1:" + strings.Repeat("A", 43) + "="
	_, err := f.Fetch(context.Background(), testVersion, wrong)
	var ce *ChecksumError
	if !errors.As(err, &ce) {
		t.Fatalf("Fetch = %v (%T), want *ChecksumError", err, err)
	}
	if ce.Got != sum || ce.Want != wrong || ce.Module != testModule || ce.Source != "toolchain.sum in the config" {
		t.Errorf("ChecksumError = %+v", ce)
	}
	if want := "verify " + testModule + ": checksum mismatch: downloaded " + sum + ", toolchain.sum in the config says " + wrong; err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
	for _, p := range []string{cachedZip(f), cachedZip(f) + "hash"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still cached after failing verification (%v)", filepath.Base(p), err)
		}
	}
	if l := leftovers(t, f); len(l) != 0 {
		t.Errorf("cache holds %v", l)
	}
	if _, _, ok := f.Cached(testVersion); ok {
		t.Error("Cached reports the rejected zip")
	}

	// A tampered cached zip is rejected too, not trusted for being cached.
	if _, err := f.Fetch(context.Background(), testVersion, sum); err != nil {
		t.Fatal(err)
	}
	tampered := containertest.ToolchainZip(t, testVersion, append([]containertest.ZipFile{{Name: "bin/evil", Body: "x"}}, toolchainFiles...))
	if err := os.WriteFile(cachedZip(f), tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Fetch(context.Background(), testVersion, sum); !errors.As(err, &ce) {
		t.Errorf("Fetch over a tampered cache = %v, want *ChecksumError", err)
	}
	if _, err := os.Stat(cachedZip(f)); !errors.Is(err, os.ErrNotExist) {
		t.Error("the tampered zip is still cached")
	}
}

func TestFetchCachedHashDoesNotOverridePin(t *testing.T) {
	// A zip verified against one pin is checked again, not trusted, when
	// the config pins another hash.
	p, sum := goodProxy(t)
	f := newFetcher(t, p.URL+"/good")
	if _, err := f.Fetch(context.Background(), testVersion, sum); err != nil {
		t.Fatal(err)
	}
	other := "h1:" + strings.Repeat("Q", 43) + "="
	_, err := f.Fetch(context.Background(), testVersion, other)
	var ce *ChecksumError
	if !errors.As(err, &ce) || ce.Got != sum || ce.Want != other {
		t.Fatalf("Fetch with another pin = %v, want *ChecksumError got %s want %s", err, sum, other)
	}
	if _, _, ok := f.Cached(testVersion); ok {
		t.Error("the zip is still cached after failing the new pin")
	}
	// Nor is a cached verification trusted when the checksum database is
	// off and the zip's bytes changed.
	if _, err := f.Fetch(context.Background(), testVersion, sum); err != nil {
		t.Fatal(err)
	}
	tampered := containertest.ToolchainZip(t, testVersion, append(toolchainFiles[:len(toolchainFiles):len(toolchainFiles)], containertest.ZipFile{Name: "bin/evil", Body: "x"}))
	if err := os.WriteFile(cachedZip(f), tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	var ue *UnverifiableError
	if _, err := f.Fetch(context.Background(), testVersion, ""); !errors.As(err, &ue) {
		t.Errorf("Fetch of a changed cached zip without a pin = %v, want *UnverifiableError", err)
	}
}

func TestFetchCorruptZip(t *testing.T) {
	p := containertest.NewProxy(t)
	p.Serve("/good"+testZipPath, []byte("this is not a zip"))
	f := newFetcher(t, p.URL+"/good")
	_, err := f.Fetch(context.Background(), testVersion, "h1:"+strings.Repeat("A", 43)+"=")
	var fe *FetchError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "hash zip") {
		t.Fatalf("Fetch = %v, want *FetchError about the zip", err)
	}
	if _, err := os.Stat(cachedZip(f)); !errors.Is(err, os.ErrNotExist) {
		t.Error("the corrupt zip is still cached")
	}
}

func TestFetchUnverifiable(t *testing.T) {
	tests := []struct {
		name   string
		sumdb  string
		nosum  string
		reason string
	}{
		{"GOSUMDB=off", "off", "", "the checksum database is off (GOSUMDB=off or GONOSUMDB/GOPRIVATE)"},
		{"GONOSUMDB names the module", "sum.golang.org", "golang.org/toolchain", "the checksum database is off (GOSUMDB=off or GONOSUMDB/GOPRIVATE)"},
		{"GOPRIVATE prefix matches", "sum.golang.org", "example.com/private,golang.org", "the checksum database is off (GOSUMDB=off or GONOSUMDB/GOPRIVATE)"},
		{"GOSUMDB empty", "", "", "GOSUMDB is empty"},
		{"GOSUMDB unknown name", "sum.example.com", "", `GOSUMDB="sum.example.com" names no key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := goodProxy(t)
			f := newFetcher(t, p.URL+"/good")
			f.SumDB, f.NoSumDB = tt.sumdb, tt.nosum
			_, err := f.Fetch(context.Background(), testVersion, "")
			var ue *UnverifiableError
			if !errors.As(err, &ue) {
				t.Fatalf("Fetch = %v (%T), want *UnverifiableError", err, err)
			}
			if want := "verify " + testModule + ": " + tt.reason; err.Error() != want {
				t.Errorf("error = %q\nwant    %q", err, want)
			}
			if !strings.Contains(ue.Hint(), "toolchain.sum") {
				t.Errorf("hint %q does not suggest pinning toolchain.sum", ue.Hint())
			}
			// Only the proxy was asked; no checksum database.
			if p.Total() != 1 || p.Count("/good"+testZipPath) != 1 {
				t.Errorf("requests: %v", p.Requests())
			}
		})
	}
}

func TestFetchProxyList(t *testing.T) {
	p, sum := goodProxy(t)
	p.Status("/404", http.StatusNotFound)
	p.Status("/410", http.StatusGone)
	p.Status("/500", http.StatusInternalServerError)
	p.Status("/502", http.StatusBadGateway)
	u := p.URL
	tests := []struct {
		name  string
		list  string
		err   string   // fragment of the error; "" for success
		asked []string // proxies asked, in order
	}{
		{"404 falls through", u + "/404," + u + "/good", "", []string{"/404", "/good"}},
		{"410 falls through", u + "/410," + u + "/good", "", []string{"/410", "/good"}},
		{"500 does not fall through", u + "/500," + u + "/good", "500 Internal Server Error", []string{"/500"}},
		{"pipe falls through on any error", u + "/500|" + u + "/good", "", []string{"/500", "/good"}},
		{"comma after pipe is a comma", u + "/404|" + u + "/502," + u + "/good", "502 Bad Gateway", []string{"/404", "/502"}},
		{"direct and off are skipped", "direct,off," + u + "/good", "", []string{"/good"}},
		{"direct after the proxies", u + "/good,direct", "", []string{"/good"}},
		{"spaces and a trailing slash", " " + u + "/good/ ", "", []string{"/good"}},
		{"all not found", u + "/404," + u + "/410", "410 Gone", []string{"/404", "/410"}},
		{"only direct", "direct", `no module proxy in GOPROXY="direct"`, nil},
		{"empty", "", `no module proxy in GOPROXY=""`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.Reset()
			f := newFetcher(t, tt.list)
			got, err := f.Fetch(context.Background(), testVersion, sum)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.Sum != sum {
					t.Errorf("sum = %s, want %s", got.Sum, sum)
				}
			} else {
				var fe *FetchError
				if !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Fetch = %v, want *FetchError containing %q", err, tt.err)
				}
				if !strings.HasPrefix(err.Error(), "fetch "+testModule+": ") {
					t.Errorf("error %q does not name the module", err)
				}
				if _, err := os.Stat(cachedZip(f)); err == nil {
					t.Error("a zip was cached after a failed download")
				}
			}
			var asked []string
			for _, r := range p.Requests() {
				prefix, _, _ := strings.Cut(strings.TrimPrefix(r, "/"), "/")
				asked = append(asked, "/"+prefix)
			}
			if strings.Join(asked, " ") != strings.Join(tt.asked, " ") {
				t.Errorf("asked %v, want %v", asked, tt.asked)
			}
		})
	}
}

func TestFetchRedactsCredentials(t *testing.T) {
	p, sum := goodProxy(t)
	p.Status("/404", http.StatusNotFound)
	p.Status("/500", http.StatusInternalServerError)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	withCreds := func(u string) string {
		return strings.Replace(u, "http://", "http://alice:s3cr3t-t0ken@", 1)
	}
	tests := []struct {
		name, list string
	}{
		{"not found everywhere", withCreds(p.URL+"/404") + "," + withCreds(p.URL+"/404")},
		{"server error", withCreds(p.URL+"/404") + "," + withCreds(p.URL+"/500")},
		{"connection refused", withCreds(deadURL + "/x")},
		{"checksum mismatch", withCreds(p.URL + "/good")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFetcher(t, tt.list)
			pin := sum
			if tt.name == "checksum mismatch" {
				pin = "h1:" + strings.Repeat("B", 43) + "="
			}
			_, err := f.Fetch(context.Background(), testVersion, pin)
			if err == nil {
				t.Fatal("Fetch succeeded")
			}
			if strings.Contains(err.Error(), "s3cr3t-t0ken") {
				t.Errorf("error reveals the proxy password: %v", err)
			}
		})
	}
}

func TestFetchCancelled(t *testing.T) {
	p, sum := goodProxy(t)
	f := newFetcher(t, p.URL+"/good")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := f.Fetch(ctx, testVersion, sum)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch with a cancelled context = %v, want context.Canceled", err)
	}
}

// sumDB serves a checksum database signed with a fresh key below
// /good/sumdb/<name>/ of p (the proxy at /good serves it), vouching for whatever gosum returns.
func sumDB(t *testing.T, p *containertest.Proxy, name string, gosum func(path, vers string) ([]byte, error)) (vkey string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	srv := sumdb.NewServer(sumdb.NewTestServer(skey, gosum))
	base := "/good/sumdb/" + name
	p.Handle(base+"/supported", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	p.Handle(base+"/", http.StripPrefix(base, srv))
	return vkey
}

func TestFetchChecksumDatabase(t *testing.T) {
	data := containertest.ToolchainZip(t, testVersion, toolchainFiles)
	sum := containertest.ZipSum(t, data)
	tests := []struct {
		name    string
		dbSum   string // what the database says
		wantErr bool
	}{
		{"database vouches", sum, false},
		{"database disagrees", "h1:" + strings.Repeat("C", 43) + "=", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := containertest.NewProxy(t)
			p.Serve("/good"+testZipPath, data)
			var lookups []string
			vkey := sumDB(t, p, "sum.test.example", func(path, vers string) ([]byte, error) {
				lookups = append(lookups, path+"@"+vers)
				return []byte(fmt.Sprintf("%s %s %s\n%s %s/go.mod %s\n", path, vers, tt.dbSum, path, vers, "h1:"+strings.Repeat("D", 43)+"=")), nil
			})
			f := newFetcher(t, p.URL+"/good")
			f.SumDB = vkey
			got, err := f.Fetch(context.Background(), testVersion, "")
			if strings.Join(lookups, " ") != testModule {
				t.Errorf("database lookups = %v, want %s", lookups, testModule)
			}
			if p.Count("/good/sumdb/sum.test.example/supported") != 1 {
				t.Errorf("the proxy's sumdb endpoint was not probed: %v", p.Requests())
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				if got.Sum != sum {
					t.Errorf("sum = %s, want %s", got.Sum, sum)
				}
				// Verified once, the cached zip needs neither the proxy
				// nor the database again.
				before := p.Total()
				again, err := f.Fetch(context.Background(), testVersion, "")
				if err != nil || again.Sum != sum {
					t.Fatalf("second Fetch = %+v, %v", again, err)
				}
				if p.Total() != before || len(lookups) != 1 {
					t.Errorf("second Fetch made %d requests", p.Total()-before)
				}
				return
			}
			var ce *ChecksumError
			if !errors.As(err, &ce) {
				t.Fatalf("Fetch = %v, want *ChecksumError", err)
			}
			if ce.Source != "the checksum database" || ce.Want != tt.dbSum || ce.Got != sum {
				t.Errorf("ChecksumError = %+v", ce)
			}
			if _, err := os.Stat(cachedZip(f)); !errors.Is(err, os.ErrNotExist) {
				t.Error("zip kept after the database disagreed")
			}
		})
	}
}

func TestFetchChecksumDatabaseWrongKey(t *testing.T) {
	// A database signing with another key than GOSUMDB names is not
	// believed.
	data := containertest.ToolchainZip(t, testVersion, toolchainFiles)
	p := containertest.NewProxy(t)
	p.Serve("/good"+testZipPath, data)
	sumDB(t, p, "sum.test.example", func(path, vers string) ([]byte, error) {
		return []byte(fmt.Sprintf("%s %s %s\n", path, vers, containertest.ZipSum(t, data))), nil
	})
	_, otherKey, err := note.GenerateKey(rand.Reader, "sum.test.example")
	if err != nil {
		t.Fatal(err)
	}
	f := newFetcher(t, p.URL+"/good")
	f.SumDB = otherKey
	_, err = f.Fetch(context.Background(), testVersion, "")
	var fe *FetchError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "checksum database") || !strings.Contains(err.Error(), "no verifiable signatures") {
		t.Errorf("Fetch = %v, want a *FetchError: the database's signature does not verify", err)
	}
	if _, err := os.Stat(cachedZip(f) + "hash"); err == nil {
		t.Error("a hash the database did not vouch for was recorded as verified")
	}
}

func TestZipRel(t *testing.T) {
	got, err := zipRel(module.Version{Path: ModulePath, Version: testVersion})
	if err != nil || got != strings.TrimPrefix(testZipPath, "/") {
		t.Errorf("zipRel = %q, %v; want %q", got, err, strings.TrimPrefix(testZipPath, "/"))
	}
	// Upper case is escaped as the proxy protocol requires.
	got, err = zipRel(module.Version{Path: "example.com/Upper", Version: "v1.0.0"})
	if err != nil || got != "example.com/!upper/@v/v1.0.0.zip" {
		t.Errorf("zipRel = %q, %v", got, err)
	}
	if _, err := zipRel(module.Version{Path: ModulePath, Version: "bad version\n"}); err == nil {
		t.Error("zipRel accepted an invalid version")
	}
}
