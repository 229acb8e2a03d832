package install

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pbuild/pbuild/internal/fsx"
	"github.com/pbuild/pbuild/internal/owner"
	"github.com/pbuild/pbuild/internal/safefile"
	"github.com/pbuild/pbuild/manifests"
)

const manifestName = manifests.FileName

// Action is what Into did with one file of the dist.
type Action string

const (
	// Copied: the file was not in the release directory; it is now.
	Copied Action = "copied"
	// Present: the file was there already, with the same sha256.
	Present Action = "present"
)

// File is one file of the dist and what Into did with it.
type File struct {
	File   string `json:"file"` // slash path relative to both directories
	SHA256 string `json:"sha256"`
	Action Action `json:"action"`
}

// Result is a finished install.
type Result struct {
	Dir      string `json:"dir"`      // the release directory
	Manifest string `json:"manifest"` // its manifest
	Files    []File `json:"files"`    // the dist's files, in its manifest's order
	// Kept are the artifacts of the release directory's earlier manifest
	// that the dist's does not list, kept in the merged one: "plugin
	// greet-0.1 (plugins/greet.so.0.1)".
	Kept []string `json:"kept"`
	// Artifacts is how many artifacts the release directory's manifest
	// lists now.
	Artifacts int `json:"artifacts"`
	// ManifestChanged is false when the manifest was already what the
	// install would write.
	ManifestChanged bool `json:"manifestChanged"`
}

// distFile is a file a dist's manifest lists, with what it must be.
type distFile struct {
	file   string // slash path relative to the dist
	size   int64
	sha256 string
}

// filesOf lists the files of a manifest's artifacts: each artifact's file,
// and a C-ABI library's header.
func filesOf(m *manifests.Manifest) []distFile {
	var out []distFile
	for _, a := range m.Artifacts {
		for _, f := range a.Files() {
			out = append(out, distFile{file: f.File, size: f.Size, sha256: f.SHA256})
		}
	}
	return out
}

// Into copies every file the manifest of the dist directory dist lists
// into the release directory dir, at the same relative path, and writes
// dir's manifest: the dist's, merged with the one dir already has. It
// never deletes anything (but the temporary files of killed installs) and
// never overwrites a file with other content; every check is made before
// anything is written. See the package documentation. self is the running
// pbuild: the temporary files it writes carry its name.
func Into(ctx context.Context, dist, dir string, self owner.ID) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m, err := readDist(ctx, dist)
	if err != nil {
		return nil, err
	}
	files := filesOf(m)
	for _, f := range files {
		if err := verifyDist(ctx, dist, f); err != nil {
			return nil, err
		}
	}
	if err := checkPlacement(dist, dir); err != nil {
		return nil, err
	}
	if err := makeDir(dir); err != nil {
		return nil, err
	}
	unlock, err := lock(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, &InputError{Err: err, hint: "pass a directory you can write to as --to"}
	}
	defer root.Close()

	// Every check first: the manifests (another ABI says the most), then
	// every file's place.
	res := &Result{Dir: dir, Manifest: filepath.Join(dir, manifestName), Files: []File{}, Kept: []string{}}
	old, oldData, err := readOld(ctx, root, dir)
	if err != nil {
		return nil, err
	}
	merged, kept, err := merge(dir, m, old)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := manifests.Write(&buf, merged); err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	for _, a := range kept {
		res.Kept = append(res.Kept, fmt.Sprintf("%s %s (%s)", a.Kind, a.Name, a.File))
	}
	res.Artifacts = len(merged.Artifacts)
	var mkdirs []string
	for _, f := range files {
		present, err := examine(ctx, root, dir, f, &mkdirs)
		if err != nil {
			return nil, err
		}
		act := Copied
		if present {
			act = Present
		}
		res.Files = append(res.Files, File{File: f.file, SHA256: f.sha256, Action: act})
	}

	// Then the writes: away with what killed installs left in the
	// directories written to, then directories, files, the manifest last.
	sweepTemps(root, ".", self)
	swept := map[string]bool{".": true}
	for _, f := range files {
		if d := path.Dir(f.file); !swept[d] && !slices.Contains(mkdirs, d) {
			swept[d] = true
			sweepTemps(root, d, self)
		}
	}
	for _, d := range mkdirs {
		if err := mkdir(root, dir, d); err != nil {
			return nil, err
		}
	}
	for i, f := range files {
		if res.Files[i].Action != Copied {
			continue
		}
		present, err := copyFile(ctx, root, dist, dir, f, self)
		if err != nil {
			return nil, err
		}
		if present {
			res.Files[i].Action = Present
		}
	}
	if !bytes.Equal(buf.Bytes(), oldData) {
		if err := writeManifest(root, dir, buf.Bytes(), self); err != nil {
			return nil, err
		}
		res.ManifestChanged = true
	}
	return res, nil
}

// readDist reads the dist's manifest, which validates it: every file it
// names is a clean relative path inside the dist.
func readDist(ctx context.Context, dist string) (*manifests.Manifest, error) {
	m, err := manifests.ReadFile(ctx, filepath.Join(dist, manifestName))
	if err == nil {
		return m, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	hint := "pass the output directory of a pbuild build: it holds " + manifestName
	if errors.Is(err, fs.ErrNotExist) {
		if ps := platformDirs(dist); len(ps) > 0 {
			hint = fmt.Sprintf("%s holds one directory per platform (%s): install each into a directory of its own, e.g. pbuild install --to DIR/%s %s",
				dist, strings.Join(ps, ", "), ps[0], filepath.Join(dist, ps[0]))
		}
	} else {
		hint = "the dist's manifest is not one pbuild wrote: build it again (pbuild build)"
	}
	return nil, &InputError{Err: fmt.Errorf("dist %s: %w", dist, err), hint: hint}
}

// platformDirs are the directories of a multi-platform output that hold a
// manifest.
func platformDirs(dist string) []string {
	entries, err := os.ReadDir(dist)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if fi, err := os.Lstat(filepath.Join(dist, e.Name(), manifestName)); err == nil && fi.Mode().IsRegular() {
			out = append(out, e.Name())
		}
	}
	return out
}

// verifyDist makes sure a file of the dist is what its manifest says.
func verifyDist(ctx context.Context, dist string, f distFile) error {
	sum, err := safefile.Digest(ctx, dist, f.file, f.size)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, safefile.ErrTooLarge):
		return &DistError{Dist: dist, File: f.file, Detail: fmt.Sprintf("larger than the %d bytes its manifest records", f.size)}
	case errors.Is(err, fs.ErrNotExist):
		return &DistError{Dist: dist, File: f.file, Detail: "missing; its manifest lists it"}
	case err != nil:
		return &DistError{Dist: dist, File: f.file, Detail: err.Error()}
	case sum != f.sha256:
		return &DistError{Dist: dist, File: f.file, Detail: fmt.Sprintf("sha256 is %s, its manifest says %s", sum, f.sha256)}
	}
	return nil
}

// checkPlacement refuses a release directory inside the dist: the next
// build replaces the dist, and refuses to while it holds files it did not
// write.
func checkPlacement(dist, dir string) error {
	d, err := fsx.RealPath(dist)
	if err != nil {
		return &InputError{Err: err, hint: "pass the output directory of a pbuild build"}
	}
	r, err := fsx.RealPath(dir)
	if err != nil {
		return &InputError{Err: err, hint: "pass a directory you can write to as --to"}
	}
	if rel, err := filepath.Rel(d, r); err == nil && rel != "." && filepath.IsLocal(rel) {
		return &InputError{Err: fmt.Errorf("%s is inside the dist %s, which the next build replaces", dir, dist),
			hint: "install into a directory outside the output directory, e.g. beside it"}
	}
	return nil
}

// makeDir makes the release directory when it does not exist. The
// directory is the user's to name: a symbolic link to a directory is
// followed (nothing inside it is).
func makeDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("install: %w", err)
		}
		return nil
	case err != nil:
		return &InputError{Err: err, hint: "pass a directory you can write to as --to"}
	case !fi.IsDir():
		return &InputError{Err: fmt.Errorf("%s is not a directory", dir), hint: "pass a directory (new, or an earlier install) as --to"}
	}
	return nil
}

// lock takes the release directory's lock: one install at a time, so no
// merge is lost.
func lock(ctx context.Context, dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("install: %w", err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("install: lock %s: %w", dir, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// examine looks at where a dist file goes in the release directory, by
// lstat, following nothing: it reports whether the same file is there
// already, adds the directories to make to mkdirs, and refuses anything
// else in the way.
func examine(ctx context.Context, root *os.Root, dir string, f distFile, mkdirs *[]string) (present bool, err error) {
	conflict := func(file, format string, args ...any) error {
		return &ConflictError{Dir: dir, File: file, Detail: fmt.Sprintf(format, args...)}
	}
	parts := strings.Split(f.file, "/")
	for i := 1; i < len(parts); i++ {
		d := strings.Join(parts[:i], "/")
		fi, err := root.Lstat(filepath.FromSlash(d))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if !slices.Contains(*mkdirs, d) {
				*mkdirs = append(*mkdirs, d)
			}
			continue
		case err != nil:
			return false, fmt.Errorf("install: %w", err)
		case fi.Mode()&fs.ModeSymlink != 0:
			return false, conflict(d, "is a symbolic link where the dist has a directory (for %s)", f.file)
		case !fi.IsDir():
			return false, conflict(d, "is %s where the dist has a directory (for %s)", safefile.Describe(fi.Mode()), f.file)
		}
	}
	if slices.Contains(*mkdirs, path.Dir(f.file)) {
		return false, nil
	}
	fi, err := root.Lstat(filepath.FromSlash(f.file))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("install: %w", err)
	case !fi.Mode().IsRegular():
		return false, conflict(f.file, "is %s, where the dist has a file", safefile.Describe(fi.Mode()))
	case fi.Size() != f.size:
		return false, conflict(f.file, "already there with other content (%d bytes, the dist's %d)", fi.Size(), f.size)
	}
	sum, err := safefile.Digest(ctx, dir, f.file, f.size)
	switch {
	case ctx.Err() != nil:
		return false, ctx.Err()
	case errors.Is(err, safefile.ErrTooLarge):
		return false, conflict(f.file, "already there with other content (it grows)")
	case err != nil:
		return false, fmt.Errorf("install: %w", err)
	case sum != f.sha256:
		return false, conflict(f.file, "already there with other content (sha256 %s, the dist's %s)", sum, f.sha256)
	}
	return true, nil
}

// readOld reads the release directory's manifest, if it has one, and its
// bytes.
func readOld(ctx context.Context, root *os.Root, dir string) (*manifests.Manifest, []byte, error) {
	fi, err := root.Lstat(manifestName)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("install: %w", err)
	case !fi.Mode().IsRegular():
		return nil, nil, &ConflictError{Dir: dir, File: manifestName, Detail: fmt.Sprintf("is %s, not a manifest", safefile.Describe(fi.Mode()))}
	}
	data, err := safefile.ReadFile(ctx, dir, manifestName, manifests.MaxSize)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, &InputError{Err: err, hint: "install into another directory"}
	}
	old, err := manifests.Read(bytes.NewReader(data))
	if err != nil {
		return nil, nil, &InputError{Err: fmt.Errorf("%s: %w", filepath.Join(dir, manifestName), err),
			hint: "that is not a manifest pbuild wrote: install into another directory"}
	}
	return old, data, nil
}

// mkdir makes a directory of the release directory; one made meanwhile
// must be a directory too.
func mkdir(root *os.Root, dir, d string) error {
	err := root.Mkdir(filepath.FromSlash(d), 0o755)
	if errors.Is(err, fs.ErrExist) {
		fi, lerr := root.Lstat(filepath.FromSlash(d))
		if lerr == nil && fi.IsDir() {
			return nil
		}
		return &ConflictError{Dir: dir, File: d, Detail: "appeared while installing, and is not a directory"}
	}
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	return nil
}

// copyFile copies a dist file into the release directory: into a
// temporary file beside its place, checked against the manifest while it
// is copied, then renamed into place without replacing anything. It
// reports whether the same file appeared there meanwhile.
func copyFile(ctx context.Context, root *os.Root, dist, dir string, f distFile, self owner.ID) (present bool, err error) {
	src, err := safefile.Open(ctx, dist, f.file, f.size)
	if err != nil {
		return false, fmt.Errorf("install: %w", err)
	}
	defer src.Close()
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(src.Name()); err == nil && fi.Mode()&0o111 != 0 {
		mode = 0o755
	}
	parent, err := openDir(root, path.Dir(f.file))
	if err != nil {
		return false, fmt.Errorf("install: %w", err)
	}
	defer parent.Close()
	fd := int(parent.Fd())
	base := path.Base(f.file)
	tmp, err := writeTemp(fd, base, mode, self, func(w io.Writer) error {
		h := sha256.New()
		n, err := safefile.Copy(ctx, io.MultiWriter(w, h), src)
		if err != nil {
			return err
		}
		if sum := hex.EncodeToString(h.Sum(nil)); n != f.size || sum != f.sha256 {
			return &DistError{Dist: dist, File: f.file, Detail: "changed while it was installed"}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	defer unix.Unlinkat(fd, tmp, 0) // gone once linked or renamed
	err = renameNoReplace(fd, tmp, base)
	if errors.Is(err, unix.EEXIST) {
		// Someone put a file there since it was examined.
		return examine(ctx, root, dir, f, new([]string))
	}
	if err != nil {
		return false, fmt.Errorf("install: %s: %w", filepath.Join(dir, filepath.FromSlash(f.file)), err)
	}
	if err := parent.Sync(); err != nil {
		return false, fmt.Errorf("install: %w", err)
	}
	return false, nil
}

// openDir opens a directory of the release directory (slash path, "." for
// itself) through root: never outside it.
func openDir(root *os.Root, d string) (*os.File, error) {
	f, err := root.Open(filepath.FromSlash(d))
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s is not a directory", d)
	}
	return f, nil
}

// writeTemp writes a new temporary file of self in the directory fd, named
// after base (tempName), with write, and returns its name once its content
// is on disk.
func writeTemp(fd int, base string, mode os.FileMode, self owner.ID, write func(io.Writer) error) (string, error) {
	var name string
	var tf int
	for {
		var rnd [6]byte
		if _, err := rand.Read(rnd[:]); err != nil {
			return "", err
		}
		name = tempName(base, self, rnd)
		var err error
		tf, err = unix.Openat(fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(mode.Perm()))
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("install: create %s: %w", name, err)
		}
		break
	}
	f := os.NewFile(uintptr(tf), name)
	err := write(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		unix.Unlinkat(fd, name, 0)
		var de *DistError
		if errors.As(err, &de) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return "", err
		}
		return "", fmt.Errorf("install: write %s: %w", name, err)
	}
	return name, nil
}

// tempInfix is in the name of every temporary file install writes:
// .BASE.pbuild-install-OWNER-RANDOM.
const tempInfix = ".pbuild-install-"

// maxName is the longest file name, in bytes, a directory holds (NAME_MAX).
const maxName = 255

// tempName is the name of self's temporary file for base, with the random
// part rnd. base is cut short where the name would be longer than a file
// name may be: it only tells the file apart.
func tempName(base string, self owner.ID, rnd [6]byte) string {
	suffix := tempInfix + self.String() + "-" + hex.EncodeToString(rnd[:])
	name := "." + base
	if len(name)+len(suffix) > maxName {
		name = name[:maxName-len(suffix)]
	}
	return name + suffix
}

// tempOwner returns the process whose temporary file (tempName) name is;
// false when name is not one.
func tempOwner(name string) (owner.ID, bool) {
	i := strings.LastIndex(name, tempInfix)
	if i < 1 || name[0] != '.' {
		return owner.ID{}, false
	}
	id, rnd, ok := strings.Cut(name[i+len(tempInfix):], "-")
	if !ok || len(rnd) != hex.EncodedLen(6) {
		return owner.ID{}, false
	}
	if _, err := hex.DecodeString(rnd); err != nil {
		return owner.ID{}, false
	}
	o, err := owner.Parse(id)
	return o, err == nil
}

// sweepTemps removes from the directory d of the release directory (slash
// path, "." for itself) the temporary files that installs killed on this
// machine left: those whose process is dead. Those of live processes and
// of other machines, and everything else, are left alone. It does what it
// can: a file it cannot remove stays.
func sweepTemps(root *os.Root, d string, self owner.ID) {
	parent, err := openDir(root, d)
	if err != nil {
		return
	}
	defer parent.Close()
	entries, err := parent.ReadDir(-1)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if o, ok := tempOwner(e.Name()); ok && self.Judge(o) == owner.Dead {
			unix.Unlinkat(int(parent.Fd()), e.Name(), 0)
		}
	}
}

// renameNoReplace renames from to to in the directory fd unless to
// exists (unix.EEXIST): with renameat2(RENAME_NOREPLACE), or, where the
// file system cannot, a hard link (which never replaces either).
func renameNoReplace(fd int, from, to string) error {
	err := unix.Renameat2(fd, from, fd, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) {
		err = unix.Linkat(fd, from, fd, to, 0)
	}
	return err
}

// writeManifest replaces the release directory's manifest with data,
// atomically.
func writeManifest(root *os.Root, dir string, data []byte, self owner.ID) error {
	parent, err := openDir(root, ".")
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	defer parent.Close()
	fd := int(parent.Fd())
	tmp, err := writeTemp(fd, manifestName, 0o644, self, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return err
	}
	if err := unix.Renameat(fd, tmp, fd, manifestName); err != nil {
		unix.Unlinkat(fd, tmp, 0)
		return fmt.Errorf("install: %s: %w", filepath.Join(dir, manifestName), err)
	}
	if err := parent.Sync(); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	return nil
}
