package buildkitengine

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	dcontainer "github.com/docker/docker/api/types/container"
	dockerclient "github.com/docker/docker/client"

	"github.com/pbuild/pbuild/internal/container"
)

// RootFS returns a directory holding the root filesystem of image, a local
// image of the Docker engine cli talks to, for ToolchainRootFS. The tree is
// exported once (a created, never started, labelled container: ContainerExport)
// and kept in cacheDir under the image ID; later calls return it at once.
// It also returns the image ID, the key to give ToolchainRootFS.
func RootFS(ctx context.Context, cli *dockerclient.Client, image, cacheDir string) (dir, imageID string, err error) {
	img, err := cli.ImageInspect(ctx, image)
	if err != nil {
		if dockerclient.IsErrNotFound(err) {
			return "", "", fmt.Errorf("image %s: %w", image, container.ErrNotFound)
		}
		return "", "", fmt.Errorf("inspect image %s: %w", image, err)
	}
	hex := strings.TrimPrefix(img.ID, "sha256:")
	if hex == "" || strings.ContainsAny(hex, `/\.`) {
		return "", "", fmt.Errorf("image %s: unexpected ID %q", image, img.ID)
	}
	dir = filepath.Join(cacheDir, "rootfs-"+hex)
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return dir, img.ID, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", "", err
	}
	tmp, err := os.MkdirTemp(cacheDir, ".rootfs-"+hex[:12]+"-*")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(tmp) // gone after a successful rename

	created, err := cli.ContainerCreate(ctx,
		&dcontainer.Config{Image: img.ID, Cmd: []string{"true"}, Labels: container.Labels(container.Spec{Step: "rootfs"})},
		&dcontainer.HostConfig{NetworkMode: "none"}, nil, nil, "")
	if err != nil {
		return "", "", fmt.Errorf("create container of %s: %w", image, err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rerr := cli.ContainerRemove(rctx, created.ID, dcontainer.RemoveOptions{Force: true, RemoveVolumes: true}); rerr != nil && err == nil {
			err = fmt.Errorf("remove export container: %w", rerr)
		}
	}()
	rc, err := cli.ContainerExport(ctx, created.ID)
	if err != nil {
		return "", "", fmt.Errorf("export %s: %w", image, err)
	}
	defer rc.Close()
	if err := ExtractRootFS(rc, tmp); err != nil {
		return "", "", fmt.Errorf("export %s: %w", image, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if fi, serr := os.Stat(dir); serr == nil && fi.IsDir() {
			return dir, img.ID, nil // another process made it first
		}
		return "", "", err
	}
	return dir, img.ID, nil
}

// ExtractRootFS extracts a root filesystem tar stream (docker export) into
// dst, an empty directory: directories, regular files, symbolic and hard
// links, with their modes, times and, when running as root, owners. Devices
// and FIFOs are skipped (the runtime provides /dev). Nothing is written
// outside dst: entries must be relative and clean of "..", and no entry is
// written through a symbolic link.
func ExtractRootFS(r io.Reader, dst string) error {
	x := &extractor{dst: dst, dirs: map[string]bool{".": true}, files: map[string]bool{}, asRoot: os.Geteuid() == 0}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return err
		}
	}
	// Directory times last: writing into a directory changes its mtime.
	for i := len(x.dirTimes) - 1; i >= 0; i-- {
		d := x.dirTimes[i]
		os.Chtimes(d.path, d.t, d.t)
	}
	return nil
}

type extractor struct {
	dst      string
	dirs     map[string]bool // directories this extraction made, relative
	files    map[string]bool // regular files it wrote, for hard links
	asRoot   bool
	dirTimes []struct {
		path string
		t    time.Time
	}
}

// clean validates an archive name and returns it relative to dst.
func clean(name string) (string, error) {
	n := strings.TrimPrefix(name, "./")
	n = strings.TrimSuffix(n, "/")
	if n == "" || n == "." {
		return ".", nil
	}
	if path.IsAbs(n) || path.Clean(n) != n || n == ".." || strings.HasPrefix(n, "../") || strings.Contains(n, "\\") {
		return "", fmt.Errorf("unsafe entry %q", name)
	}
	return n, nil
}

// parent makes sure rel's parent is a directory this extraction made,
// creating missing ones, and returns rel's path on disk.
func (x *extractor) parent(rel string) (string, error) {
	d := path.Dir(rel)
	if !x.dirs[d] {
		if _, err := x.mkdir(d, 0o755); err != nil {
			return "", err
		}
	}
	return filepath.Join(x.dst, filepath.FromSlash(rel)), nil
}

func (x *extractor) mkdir(rel string, mode os.FileMode) (string, error) {
	p, err := x.parent(rel)
	if err != nil {
		return "", err
	}
	if !x.dirs[rel] {
		if err := os.Mkdir(p, mode.Perm()); err != nil {
			return "", fmt.Errorf("entry %s: %w", rel, err)
		}
		x.dirs[rel] = true
	}
	return p, nil
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	rel, err := clean(hdr.Name)
	if err != nil {
		return err
	}
	mode := hdr.FileInfo().Mode()
	var p string
	switch hdr.Typeflag {
	case tar.TypeDir:
		if p, err = x.mkdir(rel, mode); err != nil {
			return err
		}
		if rel == "." {
			p = x.dst
		}
		x.dirTimes = append(x.dirTimes, struct {
			path string
			t    time.Time
		}{p, hdr.ModTime})
	case tar.TypeReg:
		if p, err = x.newPath(rel); err != nil {
			return err
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("entry %s: %w", rel, err)
		}
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("entry %s: %w", rel, err)
		}
		x.files[rel] = true
	case tar.TypeSymlink:
		if p, err = x.newPath(rel); err != nil {
			return err
		}
		if err := os.Symlink(hdr.Linkname, p); err != nil {
			return fmt.Errorf("entry %s: %w", rel, err)
		}
		if x.asRoot {
			os.Lchown(p, hdr.Uid, hdr.Gid)
		}
		return nil
	case tar.TypeLink:
		target, err := clean(hdr.Linkname)
		if err != nil || !x.files[target] {
			return fmt.Errorf("entry %s: hard link to %q, not a file extracted before it", rel, hdr.Linkname)
		}
		if p, err = x.newPath(rel); err != nil {
			return err
		}
		if err := os.Link(filepath.Join(x.dst, filepath.FromSlash(target)), p); err != nil {
			return fmt.Errorf("entry %s: %w", rel, err)
		}
		return nil
	default:
		return nil // devices, FIFOs, PAX globals: not needed in a build root
	}
	if x.asRoot {
		if err := os.Lchown(p, hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("entry %s: %w", rel, err)
		}
	}
	// After chown, which clears the set-user-ID and set-group-ID bits.
	if err := os.Chmod(p, mode&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky)); err != nil {
		return fmt.Errorf("entry %s: %w", rel, err)
	}
	if hdr.Typeflag == tar.TypeReg {
		os.Chtimes(p, hdr.ModTime, hdr.ModTime)
	}
	return nil
}

// newPath is where a non-directory entry goes; it must not exist yet.
func (x *extractor) newPath(rel string) (string, error) {
	if rel == "." || x.dirs[rel] {
		return "", fmt.Errorf("entry %s: replaces a directory", rel)
	}
	return x.parent(rel)
}
