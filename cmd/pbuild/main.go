// Command pbuild builds a Go plugin host and its plugins in one pinned
// toolchain container so that they are guaranteed to load together.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pbuild/pbuild/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.ReadEnv(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
