package loader

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"plugin"
	"strconv"
	"strings"
	"time"
)

// probeEnv names the environment variable that makes a host executable a
// probe (WithProbe): its value is a probeRequest in JSON. It is internal
// to this package; a process started with it opens the plugins it names
// and exits before main runs.
const probeEnv = "PBUILD_LOADER_PROBE"

// probeRequest is what the parent asks of a probe.
type probeRequest struct {
	// FD is the file descriptor the probe reports on, Nonce starts every
	// report line, Plugins are opened in order.
	FD      int      `json:"fd"`
	Nonce   string   `json:"nonce"`
	Plugins []string `json:"plugins"`
}

// Limits of what the parent reads from a probe.
const (
	maxProbeOutput = 64 << 10 // stdout and stderr kept
	probeLines     = 4        // lines of it a ProbeError names
)

// init turns a process started as a probe into one: package initializers
// run before main, so the host's main never runs in a probe.
func init() {
	v, ok := os.LookupEnv(probeEnv)
	if !ok {
		return
	}
	os.Exit(probeChild(v))
}

// probeChild opens the plugins the request names, reporting each step on
// the request's descriptor, and returns the exit status: 0 once the
// report is complete (whether or not plugin.Open succeeded).
func probeChild(v string) int {
	os.Unsetenv(probeEnv) // not for processes the plugins start
	var req probeRequest
	if err := json.Unmarshal([]byte(v), &req); err != nil || req.FD < 3 || req.Nonce == "" {
		fmt.Fprintf(os.Stderr, "loader: bad %s request %q\n", probeEnv, v)
		return 125
	}
	out := os.NewFile(uintptr(req.FD), "probe-report")
	say := func(line string) { fmt.Fprintf(out, "%s %s\n", req.Nonce, line) }
	say("start")
	for i, p := range req.Plugins {
		say("open " + strconv.Itoa(i))
		if _, err := plugin.Open(p); err != nil {
			say("error " + strconv.Itoa(i) + " " + strconv.Quote(err.Error()))
			return 0
		}
	}
	say("ok")
	return 0
}

// ProbeError is what a probe process (WithProbe) showed about a plugin: it
// died, hung, or plugin.Open failed there. A *RefusedError wraps it.
type ProbeError struct {
	// Path is the plugin; Executable is the host executable run as the
	// probe.
	Path       string
	Executable string
	// Replay is set when the probe failed on a plugin this loader had
	// opened before (Path then names that one), not on the new one.
	Replay bool
	// State says how the probe ended when it did not finish: "exit status
	// 2", "signal: segmentation fault", "timed out after 30s".
	State string
	// TimedOut is set when the probe ran out of time (State says after
	// how long).
	TimedOut bool
	// OpenErr is plugin.Open's error in the probe, when it returned one.
	OpenErr string
	// Output is the start of what the probe printed (stdout and stderr).
	Output string
}

func (e *ProbeError) Error() string {
	var b strings.Builder
	if e.Replay {
		fmt.Fprintf(&b, "a probe process could not open %s again, which this process opened before: ", e.Path)
	} else {
		b.WriteString("in a probe process (the host started again), ")
	}
	switch {
	case e.OpenErr != "":
		fmt.Fprintf(&b, "plugin.Open failed: %s", e.OpenErr)
	case e.TimedOut:
		fmt.Fprintf(&b, "loading it %s (an init function that does not return?)", e.State)
	case hasLine(e.Output, "panic: "):
		fmt.Fprintf(&b, "an init function panicked (%s)", e.State)
	case hasLine(e.Output, "fatal error: "):
		fmt.Fprintf(&b, "loading it hit a fatal error (%s)", e.State)
	default:
		fmt.Fprintf(&b, "loading it ended the process (%s)", e.State)
	}
	if lines := firstLines(e.Output, probeLines); lines != "" && e.OpenErr == "" {
		fmt.Fprintf(&b, ": %s", lines)
	}
	return b.String()
}

func hasLine(out, prefix string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// firstLines joins the first n non-empty lines of s with " | ".
func firstLines(s string, n int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
			if len(out) == n {
				break
			}
		}
	}
	return strings.Join(out, " | ")
}

// runProbe loads the plugins opened so far and then the one at real in a
// probe process and returns nil when that went through, else a
// *RefusedError wrapping a *ProbeError. l.mu is held.
func (l *Loader) runProbe(path, real string) error {
	refuse := func(err error) error {
		return &RefusedError{Path: path, Reason: err.Error(), Err: err}
	}
	cannotStart := func(err error) error {
		return refuse(fmt.Errorf("cannot start a probe process: %w", err))
	}
	var n [16]byte
	if _, err := rand.Read(n[:]); err != nil {
		return cannotStart(err)
	}
	req := probeRequest{FD: 3, Nonce: hex.EncodeToString(n[:]), Plugins: append(append([]string(nil), l.order...), real)}
	enc, err := json.Marshal(req)
	if err != nil {
		return cannotStart(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return cannotStart(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), l.probe)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.exe)
	cmd.Env = append(os.Environ(), probeEnv+"="+string(enc))
	cmd.ExtraFiles = []*os.File{w} // descriptor 3
	out := &headBuffer{max: maxProbeOutput}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, out, out // stdin: /dev/null
	cmd.WaitDelay = time.Second
	cleanup := probeProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		w.Close()
		return cannotStart(err)
	}
	w.Close()
	report := make(chan []string, 1)
	go func() { report <- readReport(r, req.Nonce) }()
	waitErr := cmd.Wait()
	cleanup()
	// A process the plugin started may hold the pipe: stop reading soon.
	r.SetReadDeadline(time.Now().Add(time.Second))
	lines := <-report

	pe := &ProbeError{Path: path, Executable: l.exe, Output: out.String()}
	last, at := "", -1
	for _, line := range lines {
		last = line
		if rest, ok := strings.CutPrefix(line, "open "); ok {
			at, _ = strconv.Atoi(rest)
		}
	}
	switch {
	case ctx.Err() != nil:
		pe.State, pe.TimedOut = fmt.Sprintf("timed out after %s", l.probe), true
	case waitErr != nil:
		var ee *exec.ExitError
		if errors.As(waitErr, &ee) {
			pe.State = ee.ProcessState.String()
		} else {
			pe.State = waitErr.Error()
		}
	case last == "ok":
		return nil
	default:
		pe.State = "exit status 0"
	}
	if rest, ok := strings.CutPrefix(last, "error "); ok {
		i, msg, _ := strings.Cut(rest, " ")
		at, _ = strconv.Atoi(i)
		if m, err := strconv.Unquote(msg); err == nil {
			pe.OpenErr = m
		} else {
			pe.OpenErr = msg
		}
	}
	if len(lines) == 0 && pe.State != "" && !pe.TimedOut {
		return refuse(fmt.Errorf("the host executable %s did not act as a probe (%s): is it the program this loader runs in?", l.exe, pe.State))
	}
	if at >= 0 && at < len(l.order) {
		pe.Replay = true
		pe.Path = l.order[at]
	}
	return refuse(pe)
}

// readReport reads the probe's report lines that carry nonce, without it.
func readReport(r io.Reader, nonce string) []string {
	var lines []string
	sc := bufio.NewScanner(io.LimitReader(r, maxProbeOutput))
	sc.Buffer(make([]byte, 0, 4096), maxProbeOutput)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), nonce+" "); ok {
			lines = append(lines, rest)
		}
	}
	return lines
}

// headBuffer keeps the first max bytes written to it.
type headBuffer struct {
	max int
	buf bytes.Buffer
}

func (b *headBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		if len(p) > room {
			b.buf.Write(p[:room])
		} else {
			b.buf.Write(p)
		}
	}
	return len(p), nil
}

func (b *headBuffer) String() string { return b.buf.String() }
