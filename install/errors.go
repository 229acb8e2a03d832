package install

import (
	"fmt"
	"path/filepath"
)

// ConflictError is a file in the release directory that install will not
// touch: another file with other content where the dist has one, a
// symbolic link, a directory or a special file.
type ConflictError struct {
	Dir    string // the release directory
	File   string // slash path relative to it
	Detail string // what is there
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("install: %s: %s", filepath.Join(e.Dir, filepath.FromSlash(e.File)), e.Detail)
}

// Hint tells the user what to do.
func (e *ConflictError) Hint() string {
	return "install into another directory, or remove the file yourself: pbuild install never overwrites, follows or deletes anything"
}

// ABIError is a release directory whose manifest has another ABI key than
// the dist's.
type ABIError struct {
	Dir        string
	Have, Want string // the directory's ABI key, the dist's
}

func (e *ABIError) Error() string {
	return fmt.Sprintf("install: %s has ABI key %s, the dist %s", filepath.Join(e.Dir, manifestName), e.Have, e.Want)
}

// Hint tells the user what to do.
func (e *ABIError) Hint() string {
	return "plugins of another ABI cannot load with this directory's host: install into another directory (one per host release)"
}

// MergeError is a pair of manifests that cannot be one: a file both list
// with two sha256s, an artifact name for two files, two hosts.
type MergeError struct {
	Dir string
	Msg string
}

func (e *MergeError) Error() string {
	return fmt.Sprintf("install: cannot merge %s with the dist's manifest: %s", filepath.Join(e.Dir, manifestName), e.Msg)
}

// Hint tells the user what to do.
func (e *MergeError) Hint() string {
	return "give each version of an artifact its own name and file in the config (name: greet-0.2, file: plugins/greet.so.{{.Version}}), or install into another directory"
}

// DistError is a dist whose files differ from its manifest.
type DistError struct {
	Dist   string
	File   string // slash path relative to the dist
	Detail string
}

func (e *DistError) Error() string {
	return fmt.Sprintf("install: %s: %s", filepath.Join(e.Dist, filepath.FromSlash(e.File)), e.Detail)
}

// Hint tells the user what to do.
func (e *DistError) Hint() string {
	return "the dist no longer matches its manifest: build it again (pbuild build) and install then"
}

// InputError is input install cannot read: a missing or invalid manifest,
// a dist or release directory that is not a directory.
type InputError struct {
	Err  error
	hint string
}

func (e *InputError) Error() string { return "install: " + e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Hint tells the user what to do.
func (e *InputError) Hint() string { return e.hint }
