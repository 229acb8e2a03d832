package cli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"

	"github.com/pbuild/pbuild/internal/owner"
)

// Env is everything pbuild takes from its environment, read once at start
// (ReadEnv).
type Env struct {
	// Go holds the module settings: GOPROXY, GOSUMDB, GONOSUMDB, GOPRIVATE,
	// GOFLAGS, GONOPROXY, GOINSECURE. Values from the environment win;
	// otherwise the go command's effective settings, when it is installed.
	Go map[string]string
	// Proxy holds HTTP(S)_PROXY and NO_PROXY in the case they were set.
	Proxy map[string]string
	// CAFile is the CA bundle forwarded into containers ("" if none found).
	CAFile   string
	CacheDir string
	Progress string // BUILDKIT_PROGRESS, the default of --progress
	// BuildKitHost is BUILDKIT_HOST, the default of --buildkit-addr.
	BuildKitHost string
	// SourceDateEpoch is SOURCE_DATE_EPOCH as set ("" when unset): the time
	// pbuild bundle stamps on a release.
	SourceDateEpoch string
	GOOS            string
	GOARCH          string
	// Self names this pbuild process: it marks what the process makes so
	// that a later pbuild can clean up after it if it is killed.
	Self owner.ID
}

// goSettings are the go command settings pbuild forwards.
func goSettings() []string {
	return []string{"GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GOFLAGS", "GONOPROXY", "GOINSECURE"}
}

// ReadEnv reads the environment; main calls it once.
func ReadEnv() Env {
	e := Env{Go: map[string]string{}, Proxy: map[string]string{}, GOOS: "linux", GOARCH: runtime.GOARCH}
	missing := false
	for _, k := range goSettings() {
		if v, ok := os.LookupEnv(k); ok {
			e.Go[k] = v
		} else {
			missing = true
		}
	}
	if missing {
		if out, err := exec.Command("go", append([]string{"env", "-json"}, goSettings()...)...).Output(); err == nil {
			var fromGo map[string]string
			if json.Unmarshal(out, &fromGo) == nil {
				for k, v := range fromGo {
					if _, ok := e.Go[k]; !ok {
						e.Go[k] = v
					}
				}
			}
		}
	}
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"} {
		if v := os.Getenv(k); v != "" {
			e.Proxy[k] = v
		}
	}
	e.CAFile = findCABundle(os.Getenv("SSL_CERT_FILE"))
	if dir := os.Getenv("PBUILD_CACHE"); dir != "" {
		e.CacheDir = dir
	} else if dir, err := os.UserCacheDir(); err == nil {
		e.CacheDir = filepath.Join(dir, "pbuild")
	} else {
		e.CacheDir = filepath.Join(os.TempDir(), "pbuild-cache")
	}
	e.Progress = os.Getenv("BUILDKIT_PROGRESS")
	e.BuildKitHost = os.Getenv("BUILDKIT_HOST")
	e.SourceDateEpoch = os.Getenv("SOURCE_DATE_EPOCH")
	if self, err := owner.Self(); err == nil {
		e.Self = self
	} else {
		// No host name: still a process of this machine, named by its ID.
		e.Self = owner.ID{Machine: "unknown", PID: os.Getpid()}
	}
	return e
}

// findCABundle returns the CA bundle to forward: SSL_CERT_FILE, else the
// first of the usual system locations that exists.
func findCABundle(explicit string) string {
	candidates := []string{
		explicit,
		"/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine
		"/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
		"/etc/ssl/ca-bundle.pem",             // openSUSE
		"/etc/ssl/cert.pem",                  // macOS, BSDs
	}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if fi, err := os.Stat(c); err == nil && fi.Mode().IsRegular() {
			return c
		}
	}
	return ""
}

// resolveEnv is what the resolve step forwards into its container.
func (e Env) resolveEnv() []string {
	var out []string
	for _, k := range goSettings() {
		if v := e.Go[k]; v != "" {
			out = append(out, k+"="+v)
		}
	}
	for k, v := range e.Proxy {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}
