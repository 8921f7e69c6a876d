package hostagent

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/internal/testutil/hatest"
	"github.com/berth-registry/berth/registry/client"
)

// The tar helpers of hatest under the short names these tests use.
var (
	testTime = hatest.TestTime
	file     = hatest.TarFile
	dir      = hatest.TarDir
	symlink  = hatest.TarSymlink
	hardlink = hatest.TarHardlink
	mkTar    = hatest.MkTar
)

// ent is one tar entry of a test layer.
type ent = hatest.Ent

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testImage is an image to put in a test layout: uncompressed layer tars,
// gzipped on the way.
type testImage struct {
	names    []string // io.containerd.image.name of each descriptor
	layers   [][]byte
	platform v1.Platform
	labels   map[string]string

	desc   v1.Descriptor // set by writeLayout
	config digest.Digest
	blobs  []v1.Descriptor // layers as written
}

func writeBlob(t testing.TB, layout string, b []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(b)
	p := filepath.Join(layout, "blobs", "sha256", d.Encoded())
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// buildImage writes img's blobs into layout and fills img.desc.
func buildImage(t testing.TB, layout string, img *testImage) {
	t.Helper()
	var diffIDs []digest.Digest
	img.blobs = nil
	for _, l := range img.layers {
		diffIDs = append(diffIDs, digest.FromBytes(l))
		z := gz(t, l)
		img.blobs = append(img.blobs, v1.Descriptor{MediaType: v1.MediaTypeImageLayerGzip, Digest: writeBlob(t, layout, z), Size: int64(len(z))})
	}
	plat := img.platform
	if plat.OS == "" {
		plat = v1.Platform{OS: "linux", Architecture: "amd64"}
	}
	created := testTime
	cfg := mustJSON(t, v1.Image{
		Created: &created, Platform: plat,
		Config:  v1.ImageConfig{Cmd: []string{"/bin/sh"}, Labels: img.labels},
		RootFS:  v1.RootFS{Type: "layers", DiffIDs: diffIDs},
		History: []v1.History{{Created: &created, CreatedBy: "test"}},
	})
	img.config = writeBlob(t, layout, cfg)
	m := mustJSON(t, v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
		Config: v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: img.config, Size: int64(len(cfg))},
		Layers: img.blobs,
	})
	img.desc = v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: writeBlob(t, layout, m), Size: int64(len(m)), Platform: &plat}
}

// writeLayout makes an OCI layout of the images in a new directory.
func writeLayout(t testing.TB, imgs ...*testImage) string {
	t.Helper()
	layout := t.TempDir()
	idx := v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex}
	for _, img := range imgs {
		buildImage(t, layout, img)
		for _, n := range img.names {
			d := img.desc
			r, err := client.ParseReference(n)
			if err != nil {
				t.Fatal(err)
			}
			d.Annotations = map[string]string{store.AnnotationImageName: r.String(), v1.AnnotationRefName: r.Tag}
			idx.Manifests = append(idx.Manifests, d)
		}
	}
	if err := os.WriteFile(filepath.Join(layout, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(layout, "index.json"), mustJSON(t, idx), 0o644); err != nil {
		t.Fatal(err)
	}
	return layout
}

func newTestAgent(t testing.TB) *Agent {
	t.Helper()
	dc, err := client.NewDockerConfig(filepath.Join(t.TempDir(), "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(filepath.Join(t.TempDir(), "store"), WithDockerConfig(dc))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// loadImages puts the images in a's store through a layout directory.
func loadImages(t testing.TB, a *Agent, imgs ...*testImage) {
	t.Helper()
	if _, err := a.Load(t.Context(), writeLayout(t, imgs...), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
}

// snapshot describes the store's files (hatest.Snapshot).
func snapshot(t testing.TB, root string) string { return hatest.Snapshot(t, root) }
