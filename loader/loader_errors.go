package loader

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/pbuild/pbuild/loader/abi"
)

// RefusedError is a plugin the loader did not open because it would not
// load, because its file is damaged (an abi.Problem of kind
// abi.CorruptELF), because it is not what the manifest beside it lists, or
// because a probe process (WithProbe) died, hung or failed opening it.
// Nothing was opened: the process is unchanged.
type RefusedError struct {
	Path string
	// Reason says why, when the refusal is not an ABI problem: the file
	// cannot be read, the manifest check failed, or the probe did.
	Reason string
	// Problems are the reasons the runtime would refuse the plugin (or, for
	// a Problem with Fatal set, could crash on it), from abi.
	Problems []abi.Problem
	// Err is the underlying error, if any: of an unreadable file, or a
	// *ProbeError.
	Err error
}

func (e *RefusedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "refuse %s: ", e.Path)
	more := len(e.Problems)
	switch {
	case e.Reason != "":
		b.WriteString(e.Reason)
	case more > 0:
		b.WriteString(e.Problems[0].Summary())
		more--
	default:
		b.WriteString("refused")
	}
	if more > 0 {
		fmt.Fprintf(&b, "; and %d more", more)
	}
	return b.String()
}

func (e *RefusedError) Unwrap() error { return e.Err }

// OpenError is a plugin that passed every check but that the runtime
// refused to load. The check should have caught it: this is a case pbuild
// does not model. Once it happens, the loader is poisoned.
type OpenError struct {
	Path string
	Err  error // from plugin.Open
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("load %s: %v (the runtime refused a plugin that passed pbuild's load check: please report this as a pbuild bug)", e.Path, e.Err)
}

func (e *OpenError) Unwrap() error { return e.Err }

// PoisonedError refuses a plugin because an earlier one failed in the
// runtime: a failed load leaves its packages in the process, where they
// can make later plugins fail, and plugin.Open of the failed path again
// returns the old error ("(previous failure)") or, after an init function
// panicked, blocks forever (measured in go1.22 to go1.26); so the loader
// opens nothing any more. It does not unwrap to First, which concerns
// another plugin.
type PoisonedError struct {
	Path  string
	First error // the *OpenError of the plugin that failed
}

func (e *PoisonedError) Error() string {
	return fmt.Sprintf("refuse %s: an earlier plugin failed to load (%v); the process's plugin state cannot be trusted: restart the process", e.Path, e.First)
}

// SymbolError is a symbol a plugin lacks (Err), or whose type is not the
// one asked for (Got, Want).
type SymbolError struct {
	Path   string
	Symbol string
	Want   string
	Got    string
	Err    error
}

func (e *SymbolError) Error() string {
	file := filepath.Base(e.Path)
	if e.Err != nil {
		return fmt.Sprintf("symbol %s in %s: %v", e.Symbol, file, e.Err)
	}
	return fmt.Sprintf("symbol %s in %s is %s, want %s", e.Symbol, file, e.Got, e.Want)
}

func (e *SymbolError) Unwrap() error { return e.Err }
