package conformance_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// testImage is a small, valid OCI image (with nothing in it to run) made in
// memory: a config and a few gzip tar layers, one of them incompressible and large
// enough to need more than one write. Everything is derived from a seed, so
// two images with different seeds share no blob.
type testImage struct {
	manifest []byte
	digest   digest.Digest
	blobs    map[digest.Digest][]byte // config and layers
}

func newTestImage(t *testing.T, seed string) *testImage {
	t.Helper()
	rng := rand.New(rand.NewChaCha8(sha256Seed(seed)))
	big := make([]byte, 1536<<10)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	layers := [][]tarFile{
		{{"etc/berth-seed", []byte(seed + "\n")}, {"etc/motd", []byte("built by the berth e2e tests\n")}},
		{{"data/random.bin", big}},
		{{"data/dir/a.txt", []byte("a " + seed + "\n")}, {"data/dir/b.txt", []byte("b " + seed + "\n")}},
	}
	img := &testImage{blobs: map[digest.Digest][]byte{}}
	var diffIDs []digest.Digest
	var layerDescs []ocispec.Descriptor
	for _, files := range layers {
		raw := makeTar(t, files)
		gz := gzipBytes(t, raw)
		diffIDs = append(diffIDs, digest.FromBytes(raw))
		layerDescs = append(layerDescs, img.add(ocispec.MediaTypeImageLayerGzip, gz))
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cfg := mustJSON(t, ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{Architecture: "amd64", OS: "linux"},
		Config:   ocispec.ImageConfig{Env: []string{"BERTH_SEED=" + seed}, Cmd: []string{"/bin/sh"}},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
	})
	img.manifest = mustJSON(t, ocispec.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageManifest,
		Config:      img.add(ocispec.MediaTypeImageConfig, cfg),
		Layers:      layerDescs,
		Annotations: map[string]string{"org.opencontainers.image.title": "berth-e2e-" + seed},
	})
	img.digest = digest.FromBytes(img.manifest)
	return img
}

func (img *testImage) add(mediaType string, b []byte) ocispec.Descriptor {
	d := digest.FromBytes(b)
	img.blobs[d] = b
	return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
}

// layerDigests lists the layers' digests in manifest order.
func (img *testImage) layerDigests(t *testing.T) []digest.Digest {
	t.Helper()
	var m ocispec.Manifest
	if err := json.Unmarshal(img.manifest, &m); err != nil {
		t.Fatal(err)
	}
	var ds []digest.Digest
	for _, l := range m.Layers {
		ds = append(ds, l.Digest)
	}
	return ds
}

// writeLayout writes the image as an OCI image layout in dir, under tag.
func (img *testImage) writeLayout(t *testing.T, dir, tag string) {
	t.Helper()
	for d, b := range img.blobs {
		writeFile(t, filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded()), b)
	}
	writeFile(t, filepath.Join(dir, "blobs", img.digest.Algorithm().String(), img.digest.Encoded()), img.manifest)
	writeFile(t, filepath.Join(dir, ocispec.ImageLayoutFile), mustJSON(t, ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}))
	writeFile(t, filepath.Join(dir, "index.json"), mustJSON(t, ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{{
			MediaType:   ocispec.MediaTypeImageManifest,
			Digest:      img.digest,
			Size:        int64(len(img.manifest)),
			Annotations: map[string]string{ocispec.AnnotationRefName: tag},
		}},
	}))
}

// requireLayoutEqual checks that the OCI layout in dir holds this image
// byte for byte: the manifest under tag (or the layout's only manifest when
// tag is empty) and every blob it references.
func (img *testImage) requireLayoutEqual(t *testing.T, dir, tag string) {
	t.Helper()
	var idx ocispec.Index
	readJSON(t, filepath.Join(dir, "index.json"), &idx)
	var found []ocispec.Descriptor
	for _, m := range idx.Manifests {
		if tag == "" || m.Annotations[ocispec.AnnotationRefName] == tag {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("layout %s: %d manifests for tag %q in index.json: %+v", dir, len(found), tag, idx.Manifests)
	}
	if found[0].Digest != img.digest {
		t.Fatalf("layout %s: manifest %s, want %s", dir, found[0].Digest, img.digest)
	}
	got := readBlob(t, dir, img.digest)
	if !bytes.Equal(got, img.manifest) {
		t.Fatalf("layout %s: manifest bytes differ:\n got %s\nwant %s", dir, got, img.manifest)
	}
	for _, d := range slices.Sorted(maps.Keys(img.blobs)) {
		if !bytes.Equal(readBlob(t, dir, d), img.blobs[d]) {
			t.Fatalf("layout %s: blob %s differs from what was pushed", dir, d)
		}
	}
}

func readBlob(t *testing.T, layout string, d digest.Digest) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(layout, "blobs", d.Algorithm().String(), d.Encoded()))
	if err != nil {
		t.Fatalf("layout %s: %v", layout, err)
	}
	if got := digest.FromBytes(b); got != d {
		t.Fatalf("layout %s: blob %s hashes to %s", layout, d, got)
	}
	return b
}

type tarFile struct {
	name string
	data []byte
}

func makeTar(t *testing.T, files []tarFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	dirs := map[string]bool{}
	for _, f := range files {
		for d := filepath.Dir(f.name); d != "."; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		must(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: mtime}))
	}
	for _, f := range files {
		must(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: mtime}))
		_, err := tw.Write(f.data)
		must(t, err)
	}
	must(t, tw.Close())
	return buf.Bytes()
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(b)
	must(t, err)
	must(t, zw.Close())
	return buf.Bytes()
}

func sha256Seed(s string) [32]byte {
	var seed [32]byte
	copy(seed[:], digest.FromString(s).Encoded())
	return seed
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	return b
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, b, 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
