package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/hatest"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// dockerManifest is img's manifest as docker writes it: Docker media types,
// indented, so that its OCI form has another digest.
func dockerManifest(img *hatest.Image) []byte {
	l := img.Layers[0]
	return []byte(fmt.Sprintf(`{
   "schemaVersion": 2,
   "mediaType": %q,
   "config": {"mediaType": %q, "size": %d, "digest": %q},
   "layers": [{"mediaType": %q, "size": %d, "digest": %q}]
}`, oci.MediaTypeDockerManifest, oci.MediaTypeDockerConfig, img.Config.Size, img.Config.Digest,
		oci.MediaTypeDockerLayerGzip, l.Size, l.Digest))
}

// pushDockerManifest pushes img's blobs and its Docker manifest as ref and
// returns the manifest and its digest.
func pushDockerManifest(t *testing.T, ctx context.Context, c *client.Client, ref string, img *hatest.Image) ([]byte, digest.Digest) {
	t.Helper()
	r := mustRef(t, ref)
	hatest.Push(t, ctx, c, r.Name()+":oci", img) // the blobs
	dm := dockerManifest(img)
	if _, err := c.ManifestPut(ctx, r, oci.MediaTypeDockerManifest, dm); err != nil {
		t.Fatal(err)
	}
	return dm, digest.FromBytes(dm)
}

// writeOCILayout writes an OCI image layout in dir by hand: the blobs, and
// index.json listing entries.
func writeOCILayout(t *testing.T, dir string, blobs map[digest.Digest][]byte, entries ...v1.Descriptor) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		t.Fatal(err)
	}
	for d, b := range blobs {
		writeFile(t, filepath.Join(dir, "blobs", "sha256", d.Encoded()), "%s", b)
	}
	idx, err := json.Marshal(v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex, Manifests: entries})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "index.json"), "%s", idx)
	writeFile(t, filepath.Join(dir, "oci-layout"), `{"imageLayoutVersion":"1.0.0"}`)
}

// TestLoadKeepsDockerManifest: an OCI layout whose index.json names a
// Docker manifest (crane pull --format oci writes one; and one written by
// hand) loads as OCI with the layout's bytes beside, as install keeps a
// registry's: push then sends them, so the copy has the layout's digest,
// after a prune too. Save carries those bytes, so save → load → push keeps
// the digest, of a loaded image and of one installed from a registry. A
// saved archive's claim of them that does not hold is ignored.
func TestLoadKeepsDockerManifest(t *testing.T) {
	crane := testutil.Cmd{Path: testutil.RequireTool(t, "crane")}
	srv := registrytest.Start(t, inmemory.New())
	ctx := t.Context()
	c := client.New()
	img := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{{{Name: "bin/app", Data: hatest.Random("docker-layout", 32<<10)}}}})
	src := srv.Host + "/src/app:1"
	dm, want := pushDockerManifest(t, ctx, c, src, img)
	dir := t.TempDir()
	at := func(name string) string { return filepath.Join(dir, name) }

	// pushed checks that name, pushed as dest, has the registry digest
	// want, as crane sees it.
	pushed := func(t *testing.T, ha *cli, name, dest string) {
		t.Helper()
		var found bool
		for _, i := range ha.list(t) {
			if i.Reference == name {
				found = true
				if i.Digest == want || i.SourceDigest != want {
					t.Errorf("%s: stored as %s, source %s; want the OCI form, %s beside", name, i.Digest, i.SourceDigest, want)
				}
			}
		}
		if !found {
			t.Fatalf("%s not in the store", name)
		}
		ha.run(t, "prune")
		ha.run(t, "verify")
		if out := strings.TrimSpace(ha.run(t, "push", "-q", name, dest)); out != want.String() {
			t.Errorf("push %s printed %s, want %s", name, out, want)
		}
		if got := strings.TrimSpace(string(crane.Run(t, "digest", "--insecure", dest))); got != want.String() {
			t.Errorf("crane digest %s = %s, want %s", dest, got, want)
		}
	}

	crane.Run(t, "pull", "--insecure", "--format=oci", src, at("crane"))
	blobs := map[digest.Digest][]byte{want: dm}
	for d, b := range img.Blobs {
		blobs[d] = b
	}
	desc := v1.Descriptor{MediaType: oci.MediaTypeDockerManifest, Digest: want, Size: int64(len(dm)),
		Annotations: map[string]string{v1.AnnotationRefName: "example.com/hand/app:1"}}
	writeOCILayout(t, at("hand"), blobs, desc)
	for _, layout := range []string{"crane", "hand"} {
		t.Run(layout, func(t *testing.T) {
			if idx := archiveIndex(t, at(layout)); len(idx.Manifests) != 1 || idx.Manifests[0].Digest != want || idx.Manifests[0].MediaType != oci.MediaTypeDockerManifest {
				t.Fatalf("%s layout: %+v, want the Docker manifest %s", layout, idx.Manifests, want)
			}
			ha := newCLI(t)
			name := srv.Host + "/loaded/" + layout + ":1"
			ha.run(t, "load", "-i", at(layout), "--name", name)
			pushed(t, ha, name, srv.Host+"/copy/"+layout+":1")

			// save → load → push, in another store.
			saved := at(layout + "-saved.tar")
			ha.run(t, "save", "-o", saved, name)
			if e := archiveIndex(t, saved).Manifests[0]; e.MediaType != v1.MediaTypeImageManifest || e.Annotations[store.AnnotationSourceDigest] != want.String() {
				t.Errorf("saved index.json names %s (%s), annotated %v; want the OCI form, the source digest beside", e.Digest, e.MediaType, e.Annotations)
			}
			other := newCLI(t)
			if out := other.run(t, "load", "-i", saved); !strings.Contains(out, "registry's manifest (push sends it): "+want.String()) {
				t.Errorf("load of a saved archive:\n%s", out)
			}
			pushed(t, other, name, srv.Host+"/copy/"+layout+"-saved:1")
		})
	}

	t.Run("installed", func(t *testing.T) {
		ha := newCLI(t)
		ha.run(t, "install", src)
		ha.run(t, "save", "-o", at("installed.tar.gz"), src)
		other := newCLI(t)
		other.run(t, "load", "-i", at("installed.tar.gz"))
		pushed(t, other, src, srv.Host+"/copy/installed:1")
	})

	t.Run("false claim", func(t *testing.T) {
		// An OCI manifest annotated with a Docker manifest that is not
		// its own: loaded without it, pushed as it is.
		other := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{{{Name: "other", Data: []byte("other")}}}})
		blobs := map[digest.Digest][]byte{want: dm, other.Digest: other.Manifest}
		for d, b := range other.Blobs {
			blobs[d] = b
		}
		d := other.Descriptor()
		d.Annotations = map[string]string{v1.AnnotationRefName: "example.com/claim/app:1", store.AnnotationSourceDigest: want.String()}
		writeOCILayout(t, at("claim"), blobs, d)
		ha := newCLI(t)
		ha.run(t, "load", "-i", at("claim"))
		if imgs := ha.list(t); len(imgs) != 1 || imgs[0].Digest != other.Digest || imgs[0].SourceDigest != "" {
			t.Fatalf("loaded %+v, want %s without a source digest", imgs, other.Digest)
		}
		if out := strings.TrimSpace(ha.run(t, "push", "-q", "example.com/claim/app:1", srv.Host+"/copy/claim:1")); out != other.Digest.String() {
			t.Errorf("push printed %s, want %s", out, other.Digest)
		}
	})
}
