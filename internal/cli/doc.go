// Package cli is pbuild's command line: cobra commands that parse flags,
// call the library packages and render their results, one progress display
// per command, and one renderer of errors with a hint and an exit code.
// cmd/pbuild's main reads the environment once (ReadEnv) and calls Run.
package cli
