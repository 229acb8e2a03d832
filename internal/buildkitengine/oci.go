package buildkitengine

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	dockerclient "github.com/docker/docker/client"
	"github.com/moby/buildkit/client/llb"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pbuild/pbuild/internal/container"
)

// OCIStoreID names the OCI layout store a Solve offers the daemon
// (SolveOptions.OCIStores) for ToolchainOCI.
const OCIStoreID = "pbuild-toolchain"

// ociRefName is the name the toolchain goes by inside the OCI layout source;
// only its digest matters to BuildKit.
const ociRefName = "pbuild/toolchain"

// ToolchainOCI is the toolchain as the image in an OCI layout on this
// machine (OCILayout), offered to the daemon as the session content store
// OCIStoreID. BuildKit addresses it by manifest digest: the first build
// pulls its layers through the session, later ones find them in the
// daemon's store and transfer only the manifest and config.
func ToolchainOCI(manifest digest.Digest, platform *ocispecs.Platform) Toolchain {
	opts := []llb.OCILayoutOption{llb.OCIStore("", OCIStoreID), llb.WithCustomName("toolchain " + shortKey(manifest.Encoded()))}
	if platform != nil {
		opts = append(opts, llb.Platform(*platform))
	}
	return Toolchain{
		Root:     llb.OCILayout(ociRefName+"@"+manifest.String(), opts...),
		Env:      append([]string{}, DefaultToolchainEnv...),
		Platform: platform,
	}
}

// OCILayout returns an OCI image layout holding image, a local image of the
// Docker engine cli talks to, and the digest of its manifest, for
// ToolchainOCI. The layout is written once from the engine's image export
// (docker save, which Docker 20.10 writes in its own format: the layers,
// uncompressed, become OCI layers unchanged, so the config's diff IDs still
// hold) and kept in cacheDir under the image ID; the manifest is written the
// same way every time, so its digest depends only on the image.
func OCILayout(ctx context.Context, cli *dockerclient.Client, image, cacheDir string) (dir string, manifest digest.Digest, err error) {
	img, err := cli.ImageInspect(ctx, image)
	if err != nil {
		if dockerclient.IsErrNotFound(err) {
			return "", "", fmt.Errorf("image %s: %w", image, container.ErrNotFound)
		}
		return "", "", fmt.Errorf("inspect image %s: %w", image, err)
	}
	id, err := digest.Parse(img.ID)
	if err != nil {
		return "", "", fmt.Errorf("image %s: ID %q: %w", image, img.ID, err)
	}
	dir = filepath.Join(cacheDir, "oci-"+id.Encoded())
	if m, err := readLayoutManifest(dir); err == nil {
		return dir, m, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", "", err
	}
	tmp, err := os.MkdirTemp(cacheDir, ".oci-"+id.Encoded()[:12]+"-*")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(tmp) // gone after a successful rename
	rc, err := cli.ImageSave(ctx, []string{img.ID})
	if err != nil {
		return "", "", fmt.Errorf("save image %s: %w", image, err)
	}
	defer rc.Close()
	if _, err := WriteOCILayout(rc, tmp); err != nil {
		return "", "", fmt.Errorf("save image %s: %w", image, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := readLayoutManifest(dir); serr != nil {
			return "", "", err
		}
		// another process made it first
	}
	m, err := readLayoutManifest(dir)
	return dir, m, err
}

// readLayoutManifest is the digest of the one manifest a layout's index
// names, when the layout is complete.
func readLayoutManifest(dir string) (digest.Digest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ocispecs.ImageIndexFile))
	if err != nil {
		return "", err
	}
	var idx ocispecs.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return "", err
	}
	if len(idx.Manifests) != 1 {
		return "", fmt.Errorf("%s: %d manifests, want 1", dir, len(idx.Manifests))
	}
	d := idx.Manifests[0].Digest
	if err := d.Validate(); err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded())); err != nil {
		return "", err
	}
	return d, nil
}

// saveManifest is an entry of a docker save archive's manifest.json.
type saveManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// WriteOCILayout converts a docker save archive holding one image into an
// OCI image layout in dir and returns its manifest's digest.
func WriteOCILayout(r io.Reader, dir string) (digest.Digest, error) {
	blobDir := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobDir, 0o755); err != nil {
		return "", err
	}
	blobs := map[string]ocispecs.Descriptor{} // archive name -> blob
	links := map[string]string{}              // archive name -> archive name it links to
	small := map[string][]byte{}              // top-level JSON files
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("read image archive: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		switch {
		case hdr.Typeflag == tar.TypeReg && !strings.Contains(name, "/") && strings.HasSuffix(name, ".json"):
			b, err := io.ReadAll(io.LimitReader(tr, 16<<20))
			if err != nil {
				return "", fmt.Errorf("read %s: %w", name, err)
			}
			small[name] = b
		case hdr.Typeflag == tar.TypeReg && strings.HasSuffix(name, ".tar"):
			d, err := writeBlob(blobDir, tr)
			if err != nil {
				return "", fmt.Errorf("layer %s: %w", name, err)
			}
			blobs[name] = d
		case hdr.Typeflag == tar.TypeSymlink && strings.HasSuffix(name, ".tar"):
			links[name] = path.Join(path.Dir(name), hdr.Linkname)
		}
	}
	var entries []saveManifest
	if err := json.Unmarshal(small["manifest.json"], &entries); err != nil {
		return "", fmt.Errorf("image archive manifest.json: %w", err)
	}
	if len(entries) != 1 {
		return "", fmt.Errorf("image archive holds %d images, want 1", len(entries))
	}
	e := entries[0]
	cfg, ok := small[path.Clean(e.Config)]
	if !ok {
		return "", fmt.Errorf("image archive lacks its config %s", e.Config)
	}
	cfgDesc, err := writeBlob(blobDir, strings.NewReader(string(cfg)))
	if err != nil {
		return "", err
	}
	cfgDesc.MediaType = ocispecs.MediaTypeImageConfig
	m := ocispecs.Manifest{MediaType: ocispecs.MediaTypeImageManifest, Config: cfgDesc}
	m.SchemaVersion = 2
	for _, l := range e.Layers {
		name := path.Clean(l)
		for i := 0; i < 8; i++ {
			if to, ok := links[name]; ok {
				name = path.Clean(to)
			}
		}
		d, ok := blobs[name]
		if !ok {
			return "", fmt.Errorf("image archive lacks layer %s", l)
		}
		d.MediaType = ocispecs.MediaTypeImageLayer
		m.Layers = append(m.Layers, d)
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	mDesc, err := writeBlob(blobDir, strings.NewReader(string(mb)))
	if err != nil {
		return "", err
	}
	mDesc.MediaType = ocispecs.MediaTypeImageManifest
	if len(e.RepoTags) > 0 {
		mDesc.Annotations = map[string]string{ocispecs.AnnotationRefName: e.RepoTags[0]}
	}
	idx := ocispecs.Index{MediaType: ocispecs.MediaTypeImageIndex, Manifests: []ocispecs.Descriptor{mDesc}}
	idx.SchemaVersion = 2
	ib, err := json.Marshal(idx)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, ocispecs.ImageLayoutFile), []byte(`{"imageLayoutVersion":"`+ocispecs.ImageLayoutVersion+`"}`), 0o644); err != nil {
		return "", err
	}
	// The index last: a layout with an index is complete.
	if err := os.WriteFile(filepath.Join(dir, ocispecs.ImageIndexFile), ib, 0o644); err != nil {
		return "", err
	}
	return mDesc.Digest, nil
}

// writeBlob stores r under its sha256 in blobDir.
func writeBlob(blobDir string, r io.Reader) (ocispecs.Descriptor, error) {
	f, err := os.CreateTemp(blobDir, ".blob-*")
	if err != nil {
		return ocispecs.Descriptor{}, err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return ocispecs.Descriptor{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return ocispecs.Descriptor{}, err
	}
	d := digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil)))
	if err := os.Rename(f.Name(), filepath.Join(blobDir, d.Encoded())); err != nil {
		return ocispecs.Descriptor{}, err
	}
	return ocispecs.Descriptor{Digest: d, Size: n}, nil
}
