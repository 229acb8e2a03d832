package outdir

import (
	"fmt"
	"strings"
)

// NotOwnedError is an output pbuild will not replace.
type NotOwnedError struct {
	Path string
	What string // "is a symbolic link", "holds files pbuild did not write", ...
	// Files are the entries pbuild did not write, when that is the reason.
	Files []string
	// Fatal: --output-clean does not help (not a directory).
	Fatal bool
}

func (e *NotOwnedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "output %s %s; pbuild replaces only an output directory it made", e.Path, e.What)
	if len(e.Files) > 0 {
		shown := e.Files
		if len(shown) > 5 {
			shown = shown[:5]
		}
		fmt.Fprintf(&b, ":\n  %s", strings.Join(shown, "\n  "))
		if len(e.Files) > len(shown) {
			fmt.Fprintf(&b, "\n  ... and %d more", len(e.Files)-len(shown))
		}
	}
	return b.String()
}

// Hint tells the user what to do.
func (e *NotOwnedError) Hint() string {
	if e.Fatal {
		return "set output in the config (or --out) to a directory of its own: pbuild never follows or replaces a symbolic link or a file"
	}
	return "set output to a new or empty directory, move those files out, or pass --output-clean to let pbuild replace " + e.Path + " and everything in it"
}

// ChangedError is an output that changed while pbuild built the new one.
type ChangedError struct{ Path string }

func (e *ChangedError) Error() string {
	return fmt.Sprintf("output %s changed while pbuild built the new one; it was left as it is", e.Path)
}

// Hint tells the user what to do.
func (e *ChangedError) Hint() string {
	return "something else writes to the output directory: stop it and build again"
}

// RecoverError is an output that is missing while more than one old output
// lies beside it: pbuild does not guess which to put back.
type RecoverError struct {
	Path  string
	Aside []string
}

func (e *RecoverError) Error() string {
	return fmt.Sprintf("output %s is missing and %d earlier outputs lie beside it:\n  %s", e.Path, len(e.Aside), strings.Join(e.Aside, "\n  "))
}

// Hint tells the user what to do.
func (e *RecoverError) Hint() string {
	return "rename the one to keep to " + e.Path + " and remove the others, then build again"
}
