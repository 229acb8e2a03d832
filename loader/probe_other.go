//go:build !unix

package loader

import "os/exec"

// probeProcAttr: without process groups, a timed-out probe is killed
// alone (exec.CommandContext's default).
func probeProcAttr(*exec.Cmd) (cleanup func()) { return func() {} }
