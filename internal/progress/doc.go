// Package progress shows one command's progress in one display: BuildKit's
// progressui (the display `docker buildx` shows, in its tty, plain, quiet
// and rawjson modes), fed by pbuild's own steps, each a vertex whose
// messages are its log, and by every BuildKit solve the command runs.
package progress
