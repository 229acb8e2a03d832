//go:build unix

package loader

import (
	"os/exec"
	"syscall"
)

// probeProcAttr starts the probe in its own process group, kills the
// whole group when the probe times out, and returns a function that kills
// what is left of the group once the probe has been waited for: processes
// a plugin's init started in the probe go with it.
func probeProcAttr(cmd *exec.Cmd) (cleanup func()) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	return func() {
		if cmd.Process != nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // ESRCH when none is left
		}
	}
}
