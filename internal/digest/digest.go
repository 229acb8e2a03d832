// Package digest computes the sha256 digests pbuild records and compares.
//
// The hashing itself is package safefile's (one sha256-of-a-file in
// pbuild): it reads regular files only, never blocks on a named pipe or a
// device, and stops when its context is cancelled. A file named by input
// (a manifest's artifact, a checksums line) is hashed with
// safefile.Digest, inside its directory and with a limit; these functions
// are for paths pbuild or the user chose.
package digest

import (
	"context"

	"github.com/pbuild/pbuild/internal/safefile"
)

// FileContext returns the lowercase hex sha256 of the regular file at
// path, following symbolic links; a named pipe, a device or a directory is
// a *safefile.Error. It stops with the context's error when ctx is
// cancelled.
func FileContext(ctx context.Context, path string) (string, error) {
	f, err := safefile.OpenPath(ctx, path, safefile.NoLimit)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return f.Digest(ctx)
}

// File is FileContext for callers that have no context yet (builder,
// toolchain, cmd/pbuild's build); it cannot be cancelled.
func File(path string) (string, error) {
	return FileContext(context.Background(), path)
}
