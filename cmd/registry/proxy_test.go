package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// TestServeProxy: a proxy section with an upstream by prefix starts a
// pull-through cache: an image of the upstream is pulled through it, a push
// into the cached namespace is refused, and other repositories take pushes.
func TestServeProxy(t *testing.T) {
	up, manifest, layer := upstreamImage(t)
	dir := t.TempDir()
	file := writeFile(t, dir, "config.yml", "version: 0.1\nlog:\n  level: error\nstorage: inmemory\nhttp:\n  addr: 127.0.0.1:0\n  draintimeout: 0s\n"+
		"proxy:\n  upstreams:\n    - prefix: upstream\n      remoteurl: "+up.URL+"\n      ttl: 1h\n")
	s := startServe(t, []string{"serve", file}, nil)
	base := "http://" + s.addr + "/v2/"

	resp, err := http.Get(base + "upstream/team/app/manifests/v1")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(got) != manifest {
		t.Fatalf("GET manifest through the cache: %d %s", resp.StatusCode, got)
	}
	resp, err = http.Get(base + "upstream/team/app/blobs/" + digest.FromBytes(layer).String())
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, layer) {
		t.Fatalf("GET blob through the cache: %d %q", resp.StatusCode, got)
	}

	for repo, want := range map[string]int{"upstream/team/app": http.StatusMethodNotAllowed, "mine/app": http.StatusAccepted} {
		resp, err := http.Post(base+repo+"/blobs/uploads/", "", strings.NewReader(""))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("POST upload into %s: %d, want %d", repo, resp.StatusCode, want)
		}
	}
	if code := s.stop(); code != exitOK {
		t.Errorf("exit code %d, want 0; stderr: %s", code, s.stderr)
	}
}

// upstreamImage starts a registry holding the image team/app:v1 (a config
// and one layer) and returns it, the manifest and the layer.
func upstreamImage(t *testing.T) (up *registrytest.Server, manifest string, layer []byte) {
	t.Helper()
	up = registrytest.Start(t, inmemory.New())
	c := client.New()
	ctx := t.Context()
	layer = []byte("a layer served through the cache")
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	ref, err := client.ParseReference(up.Host + "/team/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{cfg, layer} {
		desc := v1.Descriptor{Digest: digest.FromBytes(b), Size: int64(len(b))}
		if err := c.BlobPut(ctx, ref, desc, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	manifest = fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[{"mediaType":%q,"digest":%q,"size":%d}]}`,
		v1.MediaTypeImageManifest, v1.MediaTypeImageConfig, digest.FromBytes(cfg), len(cfg),
		v1.MediaTypeImageLayerGzip, digest.FromBytes(layer), len(layer))
	if _, err := c.ManifestPut(ctx, ref, v1.MediaTypeImageManifest, []byte(manifest)); err != nil {
		t.Fatal(err)
	}
	return up, manifest, layer
}
