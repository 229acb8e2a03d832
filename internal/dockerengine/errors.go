package dockerengine

import (
	"fmt"
	"time"
)

// Why an engine could not be reached.
const (
	// Refused: nothing accepts connections at the address.
	Refused = "refused"
	// NoAnswer: something accepted the connection but did not answer.
	NoAnswer = "no answer"
	// NotAnEngine: something answered, but not as a Docker engine.
	NotAnEngine = "not an engine"
)

// UnreachableError is a Docker engine that could not be reached.
type UnreachableError struct {
	Host   string
	Reason string // Refused, NoAnswer or NotAnEngine
	Err    error
}

func (e *UnreachableError) Error() string {
	switch e.Reason {
	case NoAnswer:
		return fmt.Sprintf("the Docker engine at %s accepted the connection but did not answer: %v", e.Host, e.Err)
	case NotAnEngine:
		return fmt.Sprintf("%s answered, but not as a Docker engine: %v", e.Host, e.Err)
	}
	return fmt.Sprintf("cannot reach a Docker engine at %s: %v", e.Host, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Hint tells the user what to do.
func (e *UnreachableError) Hint() string {
	switch e.Reason {
	case NoAnswer:
		return "the engine is stuck or DOCKER_HOST names something else: check `docker info`, restart the engine, or fix DOCKER_HOST"
	case NotAnEngine:
		return "point DOCKER_HOST at a Docker engine (unix:///var/run/docker.sock, tcp://HOST:2376, ...)"
	}
	return "start the Docker engine (dockerd) or point DOCKER_HOST at one; `pbuild doctor` checks it"
}

// TimeoutError is an engine call that ran out of time: the engine stopped
// answering.
type TimeoutError struct {
	Host  string
	Call  string
	After time.Duration
	Err   error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("the Docker engine at %s did not finish %s within %s: %v", e.Host, e.Call, e.After, e.Err)
}

func (e *TimeoutError) Unwrap() error { return e.Err }

// Hint tells the user what to do.
func (e *TimeoutError) Hint() string {
	return "the engine stopped answering: check `docker info` and the engine's log, restart it, and build again"
}
