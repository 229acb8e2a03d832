package owner

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ID names a process.
type ID struct {
	// Machine is a short hash of the host name and the kernel's boot ID:
	// the same for every process of one boot of one machine.
	Machine string
	PID     int
	// Start is the process's start time (clock ticks after boot, from
	// /proc/PID/stat); 0 where the system does not tell it.
	Start uint64
}

// String encodes the ID as MACHINE.PID.START, the form of container labels
// and markers.
func (id ID) String() string {
	return fmt.Sprintf("%s.%d.%d", id.Machine, id.PID, id.Start)
}

// Parse decodes the form String writes.
func Parse(s string) (ID, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[0] == "" {
		return ID{}, fmt.Errorf("owner %q: want MACHINE.PID.START", s)
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return ID{}, fmt.Errorf("owner %q: bad process ID", s)
	}
	start, err := strconv.ParseUint(parts[2], 10, 64)
	if err != nil {
		return ID{}, fmt.Errorf("owner %q: bad start time", s)
	}
	return ID{Machine: parts[0], PID: pid, Start: start}, nil
}

// Self is the running process. cmd/pbuild calls it once and hands the
// result down.
func Self() (ID, error) {
	host, err := os.Hostname()
	if err != nil {
		return ID{}, fmt.Errorf("owner: host name: %w", err)
	}
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	sum := sha256.Sum256([]byte(host + "\x00" + strings.TrimSpace(string(boot))))
	pid := os.Getpid()
	start, _ := startTime(pid) // 0 where /proc is missing
	return ID{Machine: hex.EncodeToString(sum[:6]), PID: pid, Start: start}, nil
}

// State is what one process can tell of another.
type State int

const (
	// Unknown: the process runs on another machine, or cannot be judged.
	Unknown State = iota
	// Alive: the process runs.
	Alive
	// Dead: the process is gone (or its ID was reused by another process).
	Dead
)

func (s State) String() string {
	switch s {
	case Alive:
		return "alive"
	case Dead:
		return "dead"
	}
	return "unknown"
}

// Judge tells, from self, the state of the process other.
func (self ID) Judge(other ID) State {
	if other.Machine != self.Machine {
		return Unknown
	}
	if other.PID == self.PID {
		if other.Start == self.Start {
			return Alive
		}
		return Dead // our process ID, an earlier process's
	}
	if self.Start != 0 {
		// This system has /proc: a process is there with its start time.
		start, err := startTime(other.PID)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return Dead
		case err == nil && other.Start != 0 && start != other.Start:
			return Dead
		case err == nil:
			return Alive
		}
	}
	// Ask the kernel whether the process exists.
	switch err := syscall.Kill(other.PID, 0); {
	case errors.Is(err, syscall.ESRCH):
		return Dead
	case err == nil, errors.Is(err, syscall.EPERM):
		return Alive
	}
	return Unknown
}

// startTime reads field 22 of /proc/PID/stat: the start time in clock
// ticks after boot.
func startTime(pid int) (uint64, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	// fields[0] is field 3 (state): field 22 is fields[19].
	if len(fields) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields)+2)
	}
	return strconv.ParseUint(fields[19], 10, 64)
}
