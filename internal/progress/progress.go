package progress

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
	digest "github.com/opencontainers/go-digest"
)

// Modes are the display modes, as --progress and BUILDKIT_PROGRESS name
// them.
var Modes = []string{"auto", "tty", "plain", "quiet", "rawjson"}

// ParseMode checks a display mode; empty is auto.
func ParseMode(s string) (progressui.DisplayMode, error) {
	if s == "" {
		return progressui.AutoMode, nil
	}
	for _, m := range Modes {
		if s == m {
			return progressui.DisplayMode(s), nil
		}
	}
	return "", fmt.Errorf("progress %q: want one of %s", s, strings.Join(Modes, ", "))
}

// Printer is one command's display.
type Printer struct {
	mu      sync.Mutex
	ch      chan *client.SolveStatus
	done    chan struct{}
	closed  bool
	seq     int
	current *client.Vertex // the step running now
}

// New starts a display writing to w (a console for tty).
func New(w io.Writer, mode progressui.DisplayMode) (*Printer, error) {
	d, err := progressui.NewDisplay(w, mode)
	if err != nil {
		return nil, fmt.Errorf("progress: %w", err)
	}
	p := &Printer{ch: make(chan *client.SolveStatus, 64), done: make(chan struct{})}
	go func() {
		// Its own context: the display drains until Close, so a cancelled
		// or failed command still shows every step's end.
		d.UpdateFrom(context.Background(), p.ch)
		close(p.done)
	}()
	return p, nil
}

// Step shows a message of a step: the step's vertex starts with its first
// message and ends when another step starts, or at Close.
func (p *Printer) Step(step, message string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	now := time.Now()
	ss := &client.SolveStatus{}
	if p.current == nil || p.current.Name != step {
		if p.current != nil {
			ss.Vertexes = append(ss.Vertexes, p.end(now, ""))
		}
		p.seq++
		p.current = &client.Vertex{Digest: digest.FromString(fmt.Sprintf("pbuild step %d %s", p.seq, step)), Name: step, Started: &now}
		ss.Vertexes = append(ss.Vertexes, p.copyCurrent())
	}
	ss.Logs = append(ss.Logs, &client.VertexLog{Vertex: p.current.Digest, Stream: 1, Data: []byte(message + "\n"), Timestamp: now})
	p.ch <- ss
}

// end completes the running step, with an error when errMsg is set.
func (p *Printer) end(now time.Time, errMsg string) *client.Vertex {
	p.current.Completed = &now
	p.current.Error = errMsg
	v := p.copyCurrent()
	p.current = nil
	return v
}

func (p *Printer) copyCurrent() *client.Vertex {
	v := *p.current
	return &v
}

// Write shows a BuildKit solve's status.
func (p *Printer) Write(ss *client.SolveStatus) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.ch <- ss
	}
}

// Close ends the running step (failed, when err is set) and waits until
// the display has shown everything.
func (p *Printer) Close(err error) {
	p.mu.Lock()
	if !p.closed {
		if p.current != nil {
			msg := ""
			if err != nil {
				msg = firstLine(err.Error())
			}
			p.ch <- &client.SolveStatus{Vertexes: []*client.Vertex{p.end(time.Now(), msg)}}
		}
		p.closed = true
		close(p.ch)
	}
	p.mu.Unlock()
	<-p.done
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
