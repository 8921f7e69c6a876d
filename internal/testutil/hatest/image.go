package hatest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/registry/client"
)

// File is one entry of a layer: a regular file unless Type says otherwise
// (tar.TypeDir, TypeSymlink, TypeLink: Link is the target). Zero Mode is
// 0644 (0755 for a directory).
type File struct {
	Name     string
	Data     []byte
	Type     byte
	Link     string
	Mode     int64
	UID, GID int
}

// Spec describes a test image.
type Spec struct {
	Layers      [][]File
	Annotations map[string]string // of the manifest
	Labels      map[string]string // of the config
	Created     time.Time         // zero: a fixed date
	Platform    v1.Platform       // zero: linux/amd64
	// History replaces the config's one default entry (tools such as
	// buildah want one entry per layer).
	History []v1.History
}

// Image is a valid OCI image in memory.
type Image struct {
	Manifest []byte
	Digest   digest.Digest
	Config   v1.Descriptor
	Layers   []v1.Descriptor
	Blobs    map[digest.Digest][]byte
}

// Descriptor is the manifest's descriptor.
func (img *Image) Descriptor() v1.Descriptor {
	return v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: img.Digest, Size: int64(len(img.Manifest))}
}

// NewImage builds the image spec describes: gzip tar layers, a config with
// the layers' diff IDs, an OCI manifest.
func NewImage(t testing.TB, spec Spec) *Image {
	t.Helper()
	img := &Image{Blobs: map[digest.Digest][]byte{}}
	var diffIDs []digest.Digest
	for _, files := range spec.Layers {
		raw := Tar(t, files)
		diffIDs = append(diffIDs, digest.FromBytes(raw))
		img.Layers = append(img.Layers, img.add(v1.MediaTypeImageLayerGzip, Gzip(t, raw)))
	}
	created := spec.Created
	if created.IsZero() {
		created = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	}
	plat := spec.Platform
	if plat.OS == "" {
		plat = v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	history := spec.History
	if history == nil {
		history = []v1.History{{Created: &created, CreatedBy: "hatest.NewImage"}}
	}
	cfg := mustJSON(t, v1.Image{
		Created:  &created,
		Platform: plat,
		Config:   v1.ImageConfig{Labels: spec.Labels, Cmd: []string{"/bin/sh"}},
		RootFS:   v1.RootFS{Type: "layers", DiffIDs: diffIDs},
		History:  history,
	})
	img.Config = img.add(v1.MediaTypeImageConfig, cfg)
	img.Manifest = mustJSON(t, v1.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   v1.MediaTypeImageManifest,
		Config:      img.Config,
		Layers:      img.Layers,
		Annotations: spec.Annotations,
	})
	img.Digest = digest.FromBytes(img.Manifest)
	return img
}

func (img *Image) add(mediaType string, b []byte) v1.Descriptor {
	d := digest.FromBytes(b)
	img.Blobs[d] = b
	return v1.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

// Push uploads the image's blobs and its manifest under ref.
func Push(t testing.TB, ctx context.Context, c *client.Client, ref string, img *Image) {
	t.Helper()
	r, err := client.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range append([]v1.Descriptor{img.Config}, img.Layers...) {
		if size, err := c.BlobHead(ctx, r, d.Digest); err == nil && size == d.Size {
			continue
		}
		if err := c.BlobPut(ctx, r, d, bytes.NewReader(img.Blobs[d.Digest])); err != nil {
			t.Fatalf("push %s: blob %s: %v", ref, d.Digest, err)
		}
	}
	if _, err := c.ManifestPut(ctx, r, v1.MediaTypeImageManifest, img.Manifest); err != nil {
		t.Fatalf("push %s: manifest: %v", ref, err)
	}
}

// PushIndex pushes the images (already pushed by digest or not) and an
// index of them, one per platform, under ref.
func PushIndex(t testing.TB, ctx context.Context, c *client.Client, ref string, imgs map[string]*Image) digest.Digest {
	t.Helper()
	r, err := client.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	idx := v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex}
	for plat, img := range imgs {
		Push(t, ctx, c, r.Name()+"@"+img.Digest.String(), img)
		d := img.Descriptor()
		p, err := oci.ParsePlatform(plat)
		if err != nil {
			t.Fatal(err)
		}
		d.Platform = &p
		idx.Manifests = append(idx.Manifests, d)
	}
	b := mustJSON(t, idx)
	if _, err := c.ManifestPut(ctx, r, v1.MediaTypeImageIndex, b); err != nil {
		t.Fatalf("push %s: index: %v", ref, err)
	}
	return digest.FromBytes(b)
}

// Random returns n bytes derived from seed (incompressible).
func Random(seed string, n int) []byte {
	var s [32]byte
	copy(s[:], seed)
	rng := rand.New(rand.NewChaCha8(s))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// Tar makes an uncompressed tar of files, with fixed times and owners.
func Tar(t testing.TB, files []File) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, f := range files {
		h := &tar.Header{Typeflag: f.Type, Name: f.Name, Mode: f.Mode, Linkname: f.Link, Uid: f.UID, Gid: f.GID, ModTime: mtime}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(f.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Gzip compresses b.
func Gzip(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
