package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/pbuild/pbuild/builder"
)

// progress prints build events for the chosen --progress mode.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	mode  string
	start time.Time
}

func newProgress(w io.Writer, mode string) *progress {
	return &progress{w: w, mode: mode, start: time.Now()}
}

// event prints one event; builds report from several goroutines.
func (p *progress) event(e builder.Event) {
	if p.mode == "quiet" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%6.1fs] %-9s %s\n", time.Since(p.start).Seconds(), e.Step, e.Message)
}
