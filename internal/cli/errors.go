package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/pbuild/pbuild/builder"
	"github.com/pbuild/pbuild/check"
	"github.com/pbuild/pbuild/config"
	"github.com/pbuild/pbuild/install"
	"github.com/pbuild/pbuild/internal/container"
	"github.com/pbuild/pbuild/internal/outdir"
)

// Exit codes.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// usageError is a command line pbuild cannot act on.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Hint() string  { return "see pbuild --help" }

// hinter is an error that knows what the user should do next.
type hinter interface{ Hint() string }

// renderError prints err once, with a one-line hint, and picks the exit code.
// It is the only place errors are printed.
func renderError(w io.Writer, ctx context.Context, err error) int {
	if errors.Is(err, context.Canceled) || ctx.Err() != nil {
		fmt.Fprintln(w, "pbuild: interrupted; containers were removed and the output directory left as it was")
		return exitInterrupted
	}
	code := exitFailure
	var cfgErr *config.Error
	var usage *usageError
	var input *check.InputError
	var notOwned *outdir.NotOwnedError
	var placement *builder.PlacementError
	var installInput *install.InputError
	switch {
	case errors.As(err, &usage), errors.As(err, &cfgErr), errors.As(err, &input),
		errors.As(err, &notOwned), errors.As(err, &placement), errors.As(err, &installInput):
		code = exitUsage
	}
	fmt.Fprintf(w, "pbuild: %s\n", strings.TrimSpace(err.Error()))
	if hint := hintFor(err); hint != "" {
		fmt.Fprintf(w, "hint: %s\n", hint)
	}
	return code
}

func hintFor(err error) string {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return noSpaceHint(err)
	}
	var h hinter
	if errors.As(err, &h) {
		return h.Hint()
	}
	if errors.Is(err, container.ErrNotFound) {
		return "run `pbuild doctor` to see what is missing"
	}
	msg := err.Error()
	if strings.Contains(msg, "Cannot connect to the Docker daemon") || strings.Contains(msg, "docker engine") || strings.Contains(msg, "docker.sock") {
		return "start the Docker engine (dockerd) or point DOCKER_HOST at one; `pbuild doctor` checks it"
	}
	return ""
}

// noSpaceHint names the place that is full: the path of the failed file
// operation, when the error carries one.
func noSpaceHint(err error) string {
	where := "the disk pbuild writes to"
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		where = "the file system holding " + pe.Path
	case errors.As(err, &le):
		where = "the file system holding " + le.New
	}
	return "no space left on " + where + ": free space there, or point TMPDIR (pbuild's temporary files) or the output elsewhere"
}
