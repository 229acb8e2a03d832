// Package install keeps earlier releases' files beside a new one: it copies
// the artifacts a dist directory's manifest lists into a release directory
// that a build never replaces, and merges the two manifests
// (`pbuild install --to DIR [DIST]`).
//
// A dist directory is replaced on every build, so a plugin built only by an
// earlier release (plugins/greet.so.0.1) is gone once the next release builds
// only plugins/greet.so.0.2. Installing every release into one directory keeps
// both, with one manifest listing both, so the host's loader verifies each
// against it.
//
// What it promises:
//
//   - Nothing is deleted (but killed installs' temporary files, below), and
//     no file is overwritten with other content: a file already in DIR with
//     the same sha256 is left as it is; one with other content, a symbolic
//     link, or anything else in the way is a *ConflictError, and nothing is
//     written.
//   - The manifests merge only when their ABI keys are equal (*ABIError:
//     plugins of another ABI cannot load with this host). The merged
//     manifest is the dist's, with the artifacts DIR's manifest lists and
//     the dist's does not added (and their modules); a file both list must
//     have one sha256, and an artifact name one file (*MergeError).
//   - Every check is made before anything is written. Every file is written
//     as a temporary file in its directory and renamed into place (a new
//     file without replacing anything, the manifest replacing the old one),
//     so a kill leaves each file old or new, and the manifest last. A
//     temporary file's name carries its process (internal/owner); the next
//     install removes, from the directories it writes to, those of dead
//     processes of this machine (never a live install's, another
//     machine's, or any other file).
//   - Every file read from the dist and from DIR goes through
//     internal/safefile (inside its directory, regular, bounded by the
//     manifest's size, cancellable); names come from validated manifests;
//     DIR's entries are examined with lstat and never followed.
//   - One install into a directory at a time (a lock on DIR).
package install
