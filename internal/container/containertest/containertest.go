package containertest

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/dirhash"

	"github.com/pbuild/pbuild/internal/container"
)

// Fake is a container.Engine that runs nothing. It records every call and
// answers from its fields, which a test sets before handing the Fake out;
// its methods may then be called concurrently.
//
// Containers are named c1, c2, ... in the order they are created.
type Fake struct {
	// OnExec answers Exec once the call is recorded. It sees Stdout and
	// Stderr set (io.Discard where the caller left them nil). Without
	// OnExec every command exits 127, as a shell does for an unknown one.
	OnExec func(ctx context.Context, id string, e container.Exec) (int, error)

	// OnCopyTo, when set, sees every CopyTo with the regular files of its
	// tar stream (name -> content) and may refuse it; a refused copy is
	// not recorded.
	OnCopyTo func(id, dir string, files map[string]string) error

	// Tars answers CopyFrom: a path in the container -> the tar stream
	// returned for it.
	Tars map[string][]byte
	// OnCopyFrom answers CopyFrom for the paths Tars lacks with a tar
	// stream. Without it they are not found (container.ErrNotFound), as
	// with a real engine.
	OnCopyFrom func(id, path string) ([]byte, error)

	// OnInspect answers Inspect. Without it a container created and not
	// removed runs, and any other is not found.
	OnInspect func(id string) (container.State, error)
	// Existing are containers the engine holds before the test starts
	// (other pbuild processes'): List returns them with the containers
	// created and not removed, and Remove removes them.
	Existing []container.Summary

	mu        sync.Mutex
	created   []Created
	started   []string
	copiesIn  []CopyIn
	copiesOut []CopyOut
	execs     []ExecCall
	removals  []Removal
}

var _ container.Engine = (*Fake)(nil)

// Created is a container the Fake created.
type Created struct {
	ID   string
	Spec container.Spec
}

// CopyIn is one CopyTo call.
type CopyIn struct {
	ID, Dir string
	// Files are the regular files of the tar stream: name -> content.
	Files map[string]string
}

// CopyOut is one CopyFrom call.
type CopyOut struct {
	ID, Path string
}

// ExecCall is one Exec call.
type ExecCall struct {
	ID  string
	Cmd []string
	Dir string
	Env []string
}

// Removal is one Remove call and what it saw of its context.
type Removal struct {
	ID string
	// CtxErr is the context's Err() when Remove was called: nil if the
	// context was live.
	CtxErr error
}

// Create records spec and returns the next container ID.
func (f *Fake) Create(ctx context.Context, spec container.Spec) (string, error) {
	spec.Env = slices.Clone(spec.Env)
	spec.Mounts = slices.Clone(spec.Mounts)
	f.mu.Lock()
	defer f.mu.Unlock()
	id := fmt.Sprintf("c%d", len(f.created)+1)
	f.created = append(f.created, Created{ID: id, Spec: spec})
	return id, nil
}

// Start records id.
func (f *Fake) Start(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = append(f.started, id)
	return nil
}

// CopyTo reads the whole tar stream and records its regular files.
func (f *Fake) CopyTo(ctx context.Context, id, dir string, r io.Reader) error {
	entries, err := ReadTar(r)
	if err != nil {
		return err
	}
	files := map[string]string{}
	for _, e := range entries {
		if e.Type == tar.TypeReg {
			files[e.Name] = e.Body
		}
	}
	if f.OnCopyTo != nil {
		if err := f.OnCopyTo(id, dir, files); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.copiesIn = append(f.copiesIn, CopyIn{ID: id, Dir: dir, Files: files})
	return nil
}

// CopyFrom records the call and serves Tars[p], else asks OnCopyFrom.
func (f *Fake) CopyFrom(ctx context.Context, id, p string) (io.ReadCloser, error) {
	f.mu.Lock()
	f.copiesOut = append(f.copiesOut, CopyOut{ID: id, Path: p})
	f.mu.Unlock()
	data, ok := f.Tars[p]
	if !ok {
		if f.OnCopyFrom == nil {
			return nil, fmt.Errorf("copy %s from %s: %w", p, id, container.ErrNotFound)
		}
		var err error
		if data, err = f.OnCopyFrom(id, p); err != nil {
			return nil, err
		}
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// Exec records the call and returns what OnExec does.
func (f *Fake) Exec(ctx context.Context, id string, e container.Exec) (int, error) {
	f.mu.Lock()
	f.execs = append(f.execs, ExecCall{ID: id, Cmd: slices.Clone(e.Cmd), Dir: e.Dir, Env: slices.Clone(e.Env)})
	f.mu.Unlock()
	if f.OnExec == nil {
		return 127, nil
	}
	if e.Stdout == nil {
		e.Stdout = io.Discard
	}
	if e.Stderr == nil {
		e.Stderr = io.Discard
	}
	return f.OnExec(ctx, id, e)
}

// Remove records id and the state of ctx.
func (f *Fake) Remove(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removals = append(f.removals, Removal{ID: id, CtxErr: ctx.Err()})
	return nil
}

// gone reports whether id was removed; f.mu is held.
func (f *Fake) gone(id string) bool {
	return slices.ContainsFunc(f.removals, func(r Removal) bool { return r.ID == id })
}

// Inspect answers from OnInspect, else: running until removed.
func (f *Fake) Inspect(ctx context.Context, id string) (container.State, error) {
	if f.OnInspect != nil {
		return f.OnInspect(id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	known := slices.ContainsFunc(f.created, func(c Created) bool { return c.ID == id }) ||
		slices.ContainsFunc(f.Existing, func(c container.Summary) bool { return c.ID == id })
	if !known || f.gone(id) {
		return container.State{}, fmt.Errorf("container %s: %w", id, container.ErrNotFound)
	}
	return container.State{Running: true}, nil
}

// List lists Existing and the containers created, but those removed.
func (f *Fake) List(ctx context.Context) ([]container.Summary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []container.Summary
	for _, c := range f.Existing {
		if !f.gone(c.ID) {
			out = append(out, c)
		}
	}
	for _, c := range f.created {
		if !f.gone(c.ID) {
			out = append(out, container.Summary{ID: c.ID, Labels: container.Labels(c.Spec), State: "running"})
		}
	}
	return out, nil
}

// snapshot is a copy of *s, taken under mu.
func snapshot[T any](mu *sync.Mutex, s *[]T) []T {
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(*s)
}

// Created lists the containers created, in order.
func (f *Fake) Created() []Created { return snapshot(&f.mu, &f.created) }

// Specs are the specs of the containers created, in order.
func (f *Fake) Specs() []container.Spec {
	var out []container.Spec
	for _, c := range f.Created() {
		out = append(out, c.Spec)
	}
	return out
}

// Started lists the IDs of the containers started, in order.
func (f *Fake) Started() []string { return snapshot(&f.mu, &f.started) }

// CopiesIn lists the CopyTo calls accepted, in order.
func (f *Fake) CopiesIn() []CopyIn { return snapshot(&f.mu, &f.copiesIn) }

// Copied is every regular file copied into container id, by its path in
// the container.
func (f *Fake) Copied(id string) map[string]string {
	out := map[string]string{}
	for _, c := range f.CopiesIn() {
		if c.ID == id {
			for name, body := range c.Files {
				out[path.Join(c.Dir, name)] = body
			}
		}
	}
	return out
}

// CopiesOut lists the CopyFrom calls, in order.
func (f *Fake) CopiesOut() []CopyOut { return snapshot(&f.mu, &f.copiesOut) }

// Execs lists the Exec calls, in order.
func (f *Fake) Execs() []ExecCall { return snapshot(&f.mu, &f.execs) }

// Removals lists the Remove calls, in order.
func (f *Fake) Removals() []Removal { return snapshot(&f.mu, &f.removals) }

// Removed lists the IDs of the containers removed, in order.
func (f *Fake) Removed() []string {
	var out []string
	for _, r := range f.Removals() {
		out = append(out, r.ID)
	}
	return out
}

// CheckAllRemoved fails the test unless every container created was removed
// exactly once, and nothing else was, each time with a live context.
func (f *Fake) CheckAllRemoved(t testing.TB) {
	t.Helper()
	var created []string
	for _, c := range f.Created() {
		created = append(created, c.ID)
	}
	for _, r := range f.Removals() {
		if r.CtxErr != nil {
			t.Errorf("container %s removed with a done context: %v", r.ID, r.CtxErr)
		}
	}
	var removed []string
	for _, id := range f.Removed() {
		if !slices.ContainsFunc(f.Existing, func(c container.Summary) bool { return c.ID == id }) {
			removed = append(removed, id)
		}
	}
	if !slices.Equal(slices.Sorted(slices.Values(created)), slices.Sorted(slices.Values(removed))) {
		t.Errorf("created containers %v, removed %v", created, removed)
	}
}

// FakeImages is a Fake that also holds images: it has the methods
// toolchain.Engine adds to container.Engine (ImageID, BuildImage).
type FakeImages struct {
	Fake

	// Images maps image references to IDs. ImageID answers from it first;
	// the default BuildImage adds to it.
	Images map[string]string
	// OnImageID answers ImageID for the references Images lacks. Without it
	// they are not found (container.ErrNotFound).
	OnImageID func(ref string) (string, error)
	// OnBuildImage, when set, answers BuildImage once the call is recorded.
	// By default the image gets the ID "sha256:built-" + tag and is added to
	// Images.
	OnBuildImage func(b Build) (string, error)

	lookups []string
	builds  []Build
}

// Build is one BuildImage call.
type Build struct {
	Tag          string
	Args, Labels map[string]string
	// Context is the build context as read; ContextErr is the error that
	// stopped reading it, if any.
	Context    []Entry
	ContextErr error
}

// ImageID records ref and returns Images[ref], else what OnImageID does.
func (f *FakeImages) ImageID(ctx context.Context, ref string) (string, error) {
	f.mu.Lock()
	f.lookups = append(f.lookups, ref)
	id, ok := f.Images[ref]
	f.mu.Unlock()
	if ok {
		return id, nil
	}
	if f.OnImageID != nil {
		return f.OnImageID(ref)
	}
	return "", fmt.Errorf("image %s: %w", ref, container.ErrNotFound)
}

// BuildImage reads and records the build context, then builds as
// OnBuildImage says.
func (f *FakeImages) BuildImage(ctx context.Context, tag string, buildContext io.Reader, args, labels map[string]string) (string, error) {
	entries, err := ReadTar(buildContext)
	b := Build{Tag: tag, Args: maps.Clone(args), Labels: maps.Clone(labels), Context: entries, ContextErr: err}
	f.mu.Lock()
	f.builds = append(f.builds, b)
	f.mu.Unlock()
	if f.OnBuildImage != nil {
		return f.OnBuildImage(b)
	}
	id := "sha256:built-" + tag
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Images == nil {
		f.Images = map[string]string{}
	}
	f.Images[tag] = id
	return id, nil
}

// Lookups lists the references ImageID was asked for, in order.
func (f *FakeImages) Lookups() []string { return snapshot(&f.mu, &f.lookups) }

// Builds lists the BuildImage calls, in order.
func (f *FakeImages) Builds() []Build { return snapshot(&f.mu, &f.builds) }

// Entry is one entry of a tar stream.
type Entry struct {
	Name string
	Type byte
	Mode int64
	Body string
}

// ReadTar reads a whole tar stream. On error it returns the entries read
// before it.
func ReadTar(r io.Reader) ([]Entry, error) {
	var out []Entry
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			return out, err
		}
		out = append(out, Entry{Name: hdr.Name, Type: hdr.Typeflag, Mode: hdr.Mode, Body: string(body)})
	}
}

// Tar is a tar stream of regular files (name -> content, mode 0644) in
// name order, without directory entries.
func Tar(files map[string]string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))}); err != nil {
			panic(err)
		}
		if _, err := io.WriteString(tw, body); err != nil {
			panic(err)
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// WriteFiles writes a file tree (slash path -> content) below root,
// creating directories as needed.
func WriteFiles(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FakeSum is a well-formed, made-up h1 module hash derived from s.
func FakeSum(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "h1:" + base64.StdEncoding.EncodeToString(sum[:])
}

// ZipFile is one entry of a toolchain module zip, named relative to GOROOT;
// a name ending in "/" is a directory entry.
type ZipFile struct {
	Name, Body string
}

// ToolchainZip is a golang.org/toolchain@version module zip of files, in
// their order.
func ToolchainZip(t testing.TB, version string, files []ZipFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.Create("golang.org/toolchain@" + version + "/" + f.Name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, f.Body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ZipSum is the h1 hash of a module zip, computed by x/mod as the go
// command does.
func ZipSum(t testing.TB, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "m.zip")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := dirhash.HashZip(p, dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// Proxy is a module proxy (GOPROXY) for tests: an HTTP server answering
// the routes it is given and recording the path of every request. A
// request is answered by the route with the longest matching prefix;
// without one it is not found.
type Proxy struct {
	*httptest.Server

	mu       sync.Mutex
	requests []string
	routes   map[string]http.Handler
}

// NewProxy starts a Proxy without routes; it is closed when the test ends.
func NewProxy(t testing.TB) *Proxy {
	p := &Proxy{routes: map[string]http.Handler{}}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.requests = append(p.requests, r.URL.Path)
		var best string
		for prefix := range p.routes {
			if strings.HasPrefix(r.URL.Path, prefix) && len(prefix) > len(best) {
				best = prefix
			}
		}
		h := p.routes[best]
		p.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// Handle makes h answer the paths below prefix.
func (p *Proxy) Handle(prefix string, h http.Handler) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.routes[prefix] = h
}

// Serve answers the paths below prefix with data.
func (p *Proxy) Serve(prefix string, data []byte) {
	p.Handle(prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(data) }))
}

// Status answers the paths below prefix with the HTTP status code.
func (p *Proxy) Status(prefix string, code int) {
	p.Handle(prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, http.StatusText(code), code)
	}))
}

// Requests lists the paths requested, in order.
func (p *Proxy) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.requests)
}

// Count is the number of requests for paths below prefix.
func (p *Proxy) Count(prefix string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.requests {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

// Total is the number of requests.
func (p *Proxy) Total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.requests)
}

// Reset forgets the requests made so far.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = nil
}

// LoopbackClient is an HTTP client that can only reach this machine: a
// test that would fall back to a real server fails instead.
func LoopbackClient() *http.Client {
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return nil, fmt.Errorf("test refuses to dial %s", addr)
			}
			return d.DialContext(ctx, network, addr)
		},
	}}
}
