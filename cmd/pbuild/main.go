// Command pbuild builds a Go plugin host and its plugins in one pinned
// toolchain container so that they are guaranteed to load together.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], readEnv(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
