package toolchain

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/dirhash"

	"github.com/pbuild/pbuild/internal/digest"
)

// ModulePath is the module the Go project publishes its toolchains as.
const ModulePath = "golang.org/toolchain"

// ModuleVersion is the module version of Go release goVersion (e.g. "1.24.4")
// for goos/goarch.
func ModuleVersion(goVersion, goos, goarch string) string {
	return fmt.Sprintf("v0.0.1-go%s.%s-%s", goVersion, goos, goarch)
}

// Fetcher downloads toolchain modules and verifies them.
type Fetcher struct {
	// Proxy is a GOPROXY list ("https://a,https://b|direct"); "direct" and
	// "off" entries are skipped: a toolchain comes from a proxy.
	Proxy string
	// SumDB is a GOSUMDB value: "off", a known database name, or
	// "name+hash+key [url]".
	SumDB string
	// NoSumDB lists module path patterns (GONOSUMDB, GOPRIVATE) not checked
	// against the checksum database.
	NoSumDB string
	// CacheDir holds downloaded zips and the checksum database's state.
	CacheDir string
	// HTTP is the client used for the proxy and the checksum database.
	HTTP *http.Client
}

// Fetched is a downloaded, verified toolchain module zip.
type Fetched struct {
	Module string // path@version
	Zip    string // local path of the zip
	Sum    string // h1: hash of the zip
}

// Fetch returns the verified zip of the toolchain module version, downloading
// it unless it is cached. A non-empty pinned sum is the expected h1 hash;
// otherwise the checksum database must vouch for it.
func (f *Fetcher) Fetch(ctx context.Context, version, pinned string) (*Fetched, error) {
	mv := module.Version{Path: ModulePath, Version: version}
	rel, err := zipRel(mv)
	if err != nil {
		return nil, err
	}
	zipPath := filepath.Join(f.CacheDir, "toolchains", filepath.FromSlash(rel))
	if _, err := os.Stat(zipPath); err != nil {
		if err := f.download(ctx, rel, zipPath); err != nil {
			return nil, &FetchError{Module: mv.String(), Err: err}
		}
	}
	fileSum, err := digest.FileContext(ctx, zipPath)
	if err != nil {
		return nil, &FetchError{Module: mv.String(), Err: err}
	}
	// Like the go command's .ziphash, the h1 hash verified once is recorded
	// beside the zip, with the zip's own sha256: the same bytes need
	// neither unzipping nor the checksum database again.
	sum := ""
	if data, err := os.ReadFile(zipPath + "hash"); err == nil {
		if h1, fs, ok := strings.Cut(strings.TrimSpace(string(data)), " "); ok && fs == fileSum {
			sum = h1
		}
	}
	if sum != "" && (pinned == "" || pinned == sum) {
		return &Fetched{Module: mv.String(), Zip: zipPath, Sum: sum}, nil
	}
	sum, err = dirhash.HashZip(zipPath, dirhash.Hash1)
	if err != nil {
		os.Remove(zipPath)
		return nil, &FetchError{Module: mv.String(), Err: fmt.Errorf("hash zip: %w", err)}
	}
	want, source := pinned, "toolchain.sum in the config"
	if want == "" {
		want, err = f.sumdbLookup(ctx, mv)
		if err != nil {
			return nil, err
		}
		source = "the checksum database"
	}
	if sum != want {
		// Never keep a file that failed verification.
		os.Remove(zipPath)
		os.Remove(zipPath + "hash")
		return nil, &ChecksumError{Module: mv.String(), Got: sum, Want: want, Source: source}
	}
	if err := writeFileAtomic(zipPath+"hash", []byte(sum+" "+fileSum+"\n")); err != nil {
		return nil, fmt.Errorf("record verified hash: %w", err)
	}
	return &Fetched{Module: mv.String(), Zip: zipPath, Sum: sum}, nil
}

// zipRel is the proxy path of a module version's zip.
func zipRel(mv module.Version) (string, error) {
	escPath, err := module.EscapePath(mv.Path)
	if err != nil {
		return "", err
	}
	escVer, err := module.EscapeVersion(mv.Version)
	if err != nil {
		return "", err
	}
	return escPath + "/@v/" + escVer + ".zip", nil
}

// Cached returns the path and h1 hash of the cached zip of a toolchain
// version, and false when it has not been downloaded.
func (f *Fetcher) Cached(version string) (zipPath, sum string, ok bool) {
	rel, err := zipRel(module.Version{Path: ModulePath, Version: version})
	if err != nil {
		return "", "", false
	}
	zipPath = filepath.Join(f.CacheDir, "toolchains", filepath.FromSlash(rel))
	sum, err = dirhash.HashZip(zipPath, dirhash.Hash1)
	if err != nil {
		return "", "", false
	}
	return zipPath, sum, true
}

// goproxy is one usable entry of the GOPROXY list.
type goproxy struct {
	url string
	// anyError is set when a "|" follows the entry: the next entry is
	// tried after any error, not only after "not found" (",").
	anyError bool
}

// proxies returns the usable proxies of the GOPROXY list.
func (f *Fetcher) proxies() []goproxy {
	var out []goproxy
	for rest := f.Proxy; rest != ""; {
		p, sep := rest, byte(0)
		if i := strings.IndexAny(rest, ",|"); i >= 0 {
			p, sep, rest = rest[:i], rest[i], rest[i+1:]
		} else {
			rest = ""
		}
		p = strings.TrimSpace(p)
		if p == "" || p == "direct" || p == "off" {
			continue
		}
		if !strings.Contains(p, "://") {
			p = "https://" + p
		}
		out = append(out, goproxy{url: strings.TrimSuffix(p, "/"), anyError: sep == '|'})
	}
	return out
}

// download fetches rel from the first proxy that has it into dst, atomically.
func (f *Fetcher) download(ctx context.Context, rel, dst string) error {
	proxies := f.proxies()
	if len(proxies) == 0 {
		return fmt.Errorf("no module proxy in GOPROXY=%q", f.Proxy)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	var errs []error
	for _, p := range proxies {
		err := f.downloadFrom(ctx, p.url+"/"+rel, dst)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		if !errors.Is(err, errNotOnProxy) && !p.anyError {
			break
		}
	}
	return errors.Join(errs...)
}

var errNotOnProxy = errors.New("not found on proxy")

func (f *Fetcher) downloadFrom(ctx context.Context, u, dst string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := f.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return fmt.Errorf("GET %s: %s: %w", redact(u), resp.Status, errNotOnProxy)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("GET %s: %s", redact(u), resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".download-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, resp.Body); err != nil {
		tmp.Close()
		return fmt.Errorf("GET %s: %w", redact(u), err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// redact drops credentials from a proxy URL before it reaches a message.
func redact(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return u
	}
	return pu.Redacted()
}

// knownSumDBKey returns the verifier key of a checksum database that GOSUMDB
// may name without a key, as the go command knows them: the Go project's
// database under its two names.
func knownSumDBKey(name string) (string, bool) {
	const goKey = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
	switch name {
	case "sum.golang.org", "sum.golang.google.cn":
		return goKey, true
	}
	return "", false
}

// sumdbLookup asks the checksum database for the h1 hash of mv's zip.
func (f *Fetcher) sumdbLookup(ctx context.Context, mv module.Version) (string, error) {
	if f.SumDB == "off" || module.MatchPrefixPatterns(f.NoSumDB, mv.Path) {
		return "", &UnverifiableError{Module: mv.String(), Reason: "the checksum database is off (GOSUMDB=off or GONOSUMDB/GOPRIVATE)"}
	}
	fields := strings.Fields(f.SumDB)
	if len(fields) == 0 {
		return "", &UnverifiableError{Module: mv.String(), Reason: "GOSUMDB is empty"}
	}
	name, key := fields[0], fields[0]
	if !strings.Contains(name, "+") {
		k, ok := knownSumDBKey(name)
		if !ok {
			return "", &UnverifiableError{Module: mv.String(), Reason: fmt.Sprintf("GOSUMDB=%q names no key", f.SumDB)}
		}
		key = k
	}
	name = strings.SplitN(key, "+", 2)[0]
	base, err := f.sumdbBase(ctx, name, fields[1:])
	if err != nil {
		return "", &FetchError{Module: mv.String(), Err: err}
	}
	ops := &sumdbOps{ctx: ctx, f: f, name: name, key: key, base: base, dir: filepath.Join(f.CacheDir, "sumdb")}
	lines, err := sumdb.NewClient(ops).Lookup(mv.Path, mv.Version)
	if err != nil {
		if ops.security != "" {
			err = fmt.Errorf("%s: %w", ops.security, err)
		}
		return "", &FetchError{Module: mv.String(), Err: fmt.Errorf("checksum database: %w", err)}
	}
	prefix := mv.Path + " " + mv.Version + " "
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return strings.TrimPrefix(l, prefix), nil
		}
	}
	return "", &FetchError{Module: mv.String(), Err: errors.New("checksum database has no hash for it")}
}

// sumdbBase picks where to reach the database: an explicit URL from GOSUMDB,
// else the first proxy that serves it (as the go command does), else the
// database's own name.
func (f *Fetcher) sumdbBase(ctx context.Context, name string, explicit []string) (string, error) {
	if len(explicit) > 0 {
		return strings.TrimSuffix(explicit[0], "/"), nil
	}
	for _, p := range f.proxies() {
		base := p.url + "/sumdb/" + name
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/supported", nil)
		if err != nil {
			return "", err
		}
		resp, err := f.HTTP.Do(req)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return base, nil
		}
	}
	return "https://" + name, nil
}

// sumdbOps connects x/mod/sumdb's client to HTTP and an on-disk cache.
type sumdbOps struct {
	ctx      context.Context
	f        *Fetcher
	name     string
	key      string
	base     string
	dir      string
	security string
}

func (o *sumdbOps) ReadRemote(path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(o.ctx, http.MethodGet, o.base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := o.f.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s%s: %s", redact(o.base), path, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 16<<20))
}

func (o *sumdbOps) ReadConfig(file string) ([]byte, error) {
	if file == "key" {
		return []byte(o.key), nil
	}
	data, err := os.ReadFile(filepath.Join(o.dir, "config", filepath.FromSlash(file)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

func (o *sumdbOps) WriteConfig(file string, old, new []byte) error {
	p := filepath.Join(o.dir, "config", filepath.FromSlash(file))
	cur, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if !bytes.Equal(cur, old) {
		return sumdb.ErrWriteConflict
	}
	return writeFileAtomic(p, new)
}

func (o *sumdbOps) ReadCache(file string) ([]byte, error) {
	return os.ReadFile(filepath.Join(o.dir, "cache", filepath.FromSlash(file)))
}

func (o *sumdbOps) WriteCache(file string, data []byte) {
	_ = writeFileAtomic(filepath.Join(o.dir, "cache", filepath.FromSlash(file)), data)
}

func (o *sumdbOps) Log(string) {}

func (o *sumdbOps) SecurityError(msg string) { o.security = msg }

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
