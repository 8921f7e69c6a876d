package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/testutil/hatest"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

const mediaTypeNondistributable = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"

// pushForeign pushes to ref an image whose second layer is
// non-distributable, at urls, and not in the registry; it returns the
// layer's descriptor and bytes.
func pushForeign(t *testing.T, ref string, urls ...string) (v1.Descriptor, []byte) {
	t.Helper()
	ctx := t.Context()
	img := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{
		{{Name: "Files/base.txt", Data: []byte("base")}},
		{{Name: "Files/Windows/foreign.dll", Data: hatest.Random("foreign", 300<<10)}},
	}})
	var m v1.Manifest
	if err := json.Unmarshal(img.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	m.Layers[1].MediaType, m.Layers[1].URLs = mediaTypeNondistributable, urls
	raw, _ := json.Marshal(m)
	r, err := client.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	c := client.New()
	for _, d := range []v1.Descriptor{m.Config, m.Layers[0]} {
		if err := c.BlobPut(ctx, r, d, bytes.NewReader(img.Blobs[d.Digest])); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.ManifestPut(ctx, r, v1.MediaTypeImageManifest, raw); err != nil {
		t.Fatalf("push a manifest with a non-distributable layer: %v", err)
	}
	return m.Layers[1], img.Blobs[m.Layers[1].Digest]
}

// TestCLIForeignLayers: install fetches a non-distributable layer from its
// URL and verifies it; a URL refused by --foreign-urls, an unreachable one
// and wrong content each fail naming the layer (never "not found in the
// registry") and leave the store as it was; push leaves the layer out
// unless --allow-nondistributable.
func TestCLIForeignLayers(t *testing.T) {
	host := registrytest.Start(t, inmemory.New(), registry.WithDelete(true)).Host
	var served atomic.Int32
	var body atomic.Value // []byte the server sends
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		_, _ = w.Write(body.Load().([]byte))
	}))
	defer srv.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/layer.tgz"
	dead.Close()

	ref := host + "/win/foreign:1"
	layer, data := pushForeign(t, ref, srv.URL+"/layer.tgz")
	body.Store(data)

	// Refused by the allow-list: exit 2, naming the layer and the URL.
	ha := newCLI(t)
	msg := ha.fail(t, exitUsage, "install", "-q", ref, "--foreign-urls", `^https://download\.example\.com/`)
	if !strings.Contains(msg, layer.Digest.String()) || !strings.Contains(msg, "not allowed") || strings.Contains(msg, "not found") {
		t.Errorf("refused URL: %q", msg)
	}
	if served.Load() != 0 {
		t.Error("a refused URL was fetched")
	}
	// Wrong content at the URL: exit 7.
	body.Store([]byte("not the layer"))
	if msg := ha.fail(t, exitCorrupt, "install", "-q", ref); !strings.Contains(msg, layer.Digest.String()) {
		t.Errorf("wrong content: %q", msg)
	}
	if imgs := ha.list(t); len(imgs) != 0 {
		t.Errorf("failed installs named images: %+v", imgs)
	}
	// Fetched and verified.
	body.Store(data)
	ha.run(t, "install", ref, "--foreign-urls", "^"+srv.URL+"/")
	if imgs := ha.list(t); len(imgs) != 1 || imgs[0].Reference != ref {
		t.Fatalf("list: %+v", imgs)
	}
	ha.run(t, "verify")

	// Unreachable: exit 5, naming the layer and the URL.
	unreachable := host + "/win/unreachable:1"
	layer2, _ := pushForeign(t, unreachable, deadURL)
	other := newCLI(t)
	msg = other.fail(t, exitUnavailable, "install", "-q", unreachable)
	if layer2.Digest != layer.Digest {
		t.Fatal("the two images should share the layer")
	}
	if !strings.Contains(msg, layer.Digest.String()) || !strings.Contains(msg, deadURL) {
		t.Errorf("unreachable URL: %q", msg)
	}

	// Push leaves the layer out by default, uploads it when told.
	c := client.New()
	head := func(dest string) bool {
		r, _ := client.ParseReference(dest)
		_, err := c.BlobHead(t.Context(), r, layer.Digest)
		return err == nil
	}
	ha.run(t, "push", ref, host+"/copy/without:1")
	if head(host + "/copy/without:1") {
		t.Error("push uploaded a non-distributable layer without --allow-nondistributable")
	}
	ha.run(t, "push", ref, host+"/copy/with:1", "--allow-nondistributable")
	if !head(host + "/copy/with:1") {
		t.Error("push --allow-nondistributable did not upload the layer")
	}
	// A store that installs from the copy with the layer gets it from the
	// registry when the URL is gone.
	srv.Close()
	third := newCLI(t)
	third.run(t, "install", host+"/copy/with:1")
}
