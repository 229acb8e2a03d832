package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"plugin"
	"reflect"
	"sync"
	"time"

	"github.com/pbuild/pbuild/loader/abi"
)

// loaderPackage is this package's import path.
const loaderPackage = "github.com/pbuild/pbuild/loader"

// hostABIKey is stamped by pbuild (-X github.com/pbuild/pbuild/loader.hostABIKey=...).
var hostABIKey string

// unknownABIKey is the value hosts use for "not stamped".
const unknownABIKey = "unknown"

// Option configures New.
type Option func(*options)

type options struct {
	abiKey          string
	abiKeySet       bool
	executable      string
	noManifest      bool
	requireManifest bool
	probeTimeout    time.Duration
	maxGLIBC        string
	open            func(path string) (symbols, error)
}

// WithABIKey sets the host's ABI key, overriding the one pbuild stamped.
// The key is compared with the abiKey of a manifest found beside a plugin;
// "" (or "unknown") disables that comparison.
func WithABIKey(key string) Option {
	return func(o *options) { o.abiKey, o.abiKeySet = key, true }
}

// WithExecutable names the host file whose ABI facts plugins are checked
// against; the default is the running executable (os.Executable).
func WithExecutable(path string) Option {
	return func(o *options) { o.executable = path }
}

// WithoutManifest makes the loader neither look for nor verify a
// pbuild.manifest.json beside the plugins.
func WithoutManifest() Option {
	return func(o *options) { o.noManifest = true }
}

// WithRequireManifest refuses every plugin that no pbuild.manifest.json
// beside it (in its directory or the one above) lists with its sha256. The
// loader's structural check finds damage only in what the dynamic linker
// trusts, not in code or data: a manifest's sha256 (or a signed release
// bundle, checked before the files are installed) is what proves a plugin
// intact. It cannot be combined with WithoutManifest.
func WithRequireManifest() Option {
	return func(o *options) { o.requireManifest = true }
}

// WithProbe makes Open load every plugin first in a child process: the
// host's own executable (the file New read, see WithExecutable), started
// again with the plugins this loader already opened and the new one, which
// it opens in that order and exits, before main runs. A plugin whose init
// panics, exits, crashes or runs longer than timeout there is refused with
// a *RefusedError (wrapping a *ProbeError) and never opened in the host; so
// is one plugin.Open fails on there. A timeout of 0 or less means
// DefaultProbeTimeout.
//
// It costs one process start and the plugins' init functions per Open, and
// the child runs the host's package initializers that Go orders before
// this package's (at least the standard library's; see the package
// documentation). New fails when the host executable does not link this
// package.
func WithProbe(timeout time.Duration) Option {
	return func(o *options) {
		o.probeTimeout = timeout
		if timeout <= 0 {
			o.probeTimeout = DefaultProbeTimeout
		}
	}
}

// DefaultProbeTimeout is how long a probe of WithProbe may run.
const DefaultProbeTimeout = 30 * time.Second

// WithMaxGLIBC sets the glibc version of the target system ("2.36"):
// plugins needing a newer one are refused.
func WithMaxGLIBC(v string) Option {
	return func(o *options) { o.maxGLIBC = v }
}

// withOpen replaces plugin.Open; for tests.
func withOpen(open func(path string) (symbols, error)) Option {
	return func(o *options) { o.open = open }
}

// symbols is what a loaded plugin offers: *plugin.Plugin, or a fake in tests.
type symbols interface {
	Lookup(name string) (plugin.Symbol, error)
}

func openPlugin(path string) (symbols, error) {
	p, err := plugin.Open(path)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Loader opens plugins into the running process after checking that they
// will load. Its methods are safe for concurrent use; loading is
// serialized.
type Loader struct {
	mu              sync.Mutex
	host            *abi.File
	session         *abi.Session
	abiKey          string // "" when the manifest key is not checked
	manifest        bool
	requireManifest bool
	open            func(path string) (symbols, error)
	// exe is the absolute path of the host executable; probe is the
	// timeout of a probe, 0 without WithProbe.
	exe   string
	probe time.Duration
	// opened maps the real (absolute, symlink-free) path of every plugin
	// opened to it, as the runtime identifies plugins by that path; order
	// lists those paths in the order they were opened.
	opened map[string]*Plugin
	order  []string
	// poisoned is the first failed real load (*OpenError), after which
	// nothing is opened any more.
	poisoned error
}

// New returns a loader for the running process. It reads the host's
// executable (see WithExecutable) once. A host that cannot load plugins at
// all is not an error here: every Check and Open then refuses, naming the
// reason.
func New(opts ...Option) (*Loader, error) {
	o := options{open: openPlugin}
	for _, opt := range opts {
		opt(&o)
	}
	if o.noManifest && o.requireManifest {
		return nil, errors.New("loader: WithoutManifest and WithRequireManifest exclude each other")
	}
	exe := o.executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("loader: find the host executable: %w", err)
		}
	}
	exe, err := filepath.Abs(exe)
	if err != nil {
		return nil, fmt.Errorf("loader: find the host executable: %w", err)
	}
	host, err := abi.ReadFile(exe)
	if err != nil {
		return nil, fmt.Errorf("loader: read the host executable: %w", err)
	}
	if _, ok := host.Packages[loaderPackage]; o.probeTimeout > 0 && !ok {
		return nil, fmt.Errorf("loader: WithProbe: the host executable %s does not link %s, so it cannot probe plugins", exe, loaderPackage)
	}
	key := hostABIKey
	if o.abiKeySet {
		key = o.abiKey
	}
	if key == unknownABIKey {
		key = ""
	}
	l := &Loader{
		host:            host,
		session:         abi.NewSession(host, abi.Options{MaxGLIBC: o.maxGLIBC}),
		abiKey:          key,
		manifest:        !o.noManifest,
		requireManifest: o.requireManifest,
		open:            o.open,
		exe:             exe,
		opened:          map[string]*Plugin{},
		probe:           o.probeTimeout,
	}
	return l, nil
}

// Check reports whether Open would load the plugin at path: nil, or a
// *RefusedError naming the cause. It opens nothing. A plugin this loader
// already opened checks as nil (Open returns it again). Check does not
// report a poisoned loader (see PoisonedError).
func (l *Loader) Check(path string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	real, err := realPath(path)
	if err != nil {
		return err
	}
	if _, ok := l.opened[real]; ok {
		return nil
	}
	_, err = l.inspect(path)
	return err
}

// Open checks the plugin at path and, if it passes, opens it with
// plugin.Open. It returns a *RefusedError when the plugin would not load
// (nothing is opened then), a *PoisonedError when an earlier plugin failed
// in the runtime (whatever the path, as plugin.Open is never called again),
// and an *OpenError when the runtime refuses a plugin the check accepted;
// after that the loader is poisoned. Opening the same file again, by any
// path, returns the same *Plugin.
//
// A panic in one of the plugin's init functions goes on up through Open
// (it kills the host unless the host recovers it; WithProbe prevents it);
// the loader is poisoned then too, so that a host that recovers does not
// hang re-opening the plugin.
func (l *Loader) Open(path string) (*Plugin, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.poisoned != nil {
		return nil, &PoisonedError{Path: path, First: l.poisoned}
	}
	real, err := realPath(path)
	if err != nil {
		return nil, err
	}
	if p, ok := l.opened[real]; ok {
		return p, nil
	}
	f, err := l.inspect(path)
	if err != nil {
		return nil, err
	}
	if l.probe > 0 {
		if err := l.runProbe(path, real); err != nil {
			return nil, err
		}
	}
	// By the resolved path: the one the runtime identifies plugins by.
	syms, err := l.openGuarded(path, real, f)
	if err != nil {
		l.session.Record(f, false)
		oe := &OpenError{Path: path, Err: err}
		l.poisoned = oe
		return nil, oe
	}
	l.session.Record(f, true)
	p := &Plugin{Path: path, PluginPath: f.PluginPath, syms: syms}
	l.opened[real] = p
	l.order = append(l.order, real)
	return p, nil
}

// openGuarded calls l.open. If it panics (an init function of the plugin
// panicked), the panic goes on, but the loader is poisoned first: the
// runtime never finishes that plugin's load, and plugin.Open of the same
// path would then block forever (measured in go1.22 to go1.26). l.mu is
// held.
func (l *Loader) openGuarded(path, real string, f *abi.File) (symbols, error) {
	returned := false
	defer func() {
		if !returned {
			l.session.Record(f, false)
			l.poisoned = &OpenError{Path: path, Err: errInitPanicked}
		}
	}()
	syms, err := l.open(real)
	returned = true
	return syms, err
}

// errInitPanicked is the OpenError cause of a plugin.Open that panicked.
var errInitPanicked = errors.New("plugin.Open panicked: an init function of the plugin panicked")

// inspect reads the file at path, verifies it against its manifest, and
// predicts its load. l.mu is held.
func (l *Loader) inspect(path string) (*abi.File, error) {
	f, err := abi.ReadFile(path)
	if err != nil {
		// A c-archive is no ELF file: say what the manifest says it is.
		if re := l.cABIListed(path); re != nil {
			return nil, re
		}
		return nil, refuseRead(path, err)
	}
	if l.manifest {
		if err := l.verifyManifest(path); err != nil {
			return nil, err
		}
	}
	if ld := l.session.Predict(f); !ld.OK {
		return nil, &RefusedError{Path: path, Problems: ld.Problems}
	}
	return f, nil
}

// realPath is the absolute, symlink-free path of a file, which the runtime
// identifies plugins by.
func realPath(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", refuseRead(path, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", refuseRead(path, err)
	}
	return real, nil
}

func refuseRead(path string, err error) *RefusedError {
	inner := err
	if re, ok := err.(*abi.ReadError); ok {
		inner = re.Err
	}
	return &RefusedError{Path: path, Reason: "cannot read it: " + inner.Error(), Err: err}
}

// Plugin is a plugin the loader opened.
type Plugin struct {
	// Path is the path the plugin was first opened by.
	Path string
	// PluginPath is the plugin's import path, unique among the plugins of a
	// process.
	PluginPath string

	syms symbols
}

// Lookup returns the symbol name of the plugin: a pointer for a variable,
// the function itself for a function. A missing symbol is a *SymbolError.
func (p *Plugin) Lookup(name string) (plugin.Symbol, error) {
	s, err := p.syms.Lookup(name)
	if err != nil {
		return nil, &SymbolError{Path: p.Path, Symbol: name, Err: err}
	}
	return s, nil
}

// Lookup returns the symbol name of p as a T. A variable of type T comes
// back from the runtime as a *T, which Lookup dereferences; a function, or
// any symbol that is already a T (for an interface T: that implements it),
// is returned as is. Anything else is a *SymbolError naming both types.
func Lookup[T any](p *Plugin, name string) (T, error) {
	var zero T
	s, err := p.Lookup(name)
	if err != nil {
		return zero, err
	}
	got := fmt.Sprintf("%T", s)
	if ptr, ok := s.(*T); ok {
		if ptr != nil {
			return *ptr, nil
		}
		got = "a nil " + got
	} else if v, ok := s.(T); ok {
		return v, nil
	}
	t := reflect.TypeOf((*T)(nil)).Elem()
	return zero, &SymbolError{Path: p.Path, Symbol: name, Want: fmt.Sprintf("%s or *%s", t, t), Got: got}
}
