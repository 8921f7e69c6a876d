package client

// The client against CNCF Distribution v3, run in-process, with its own
// htpasswd and token access controllers: the flows real registries use,
// not only Berth's.

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/testutil/disttest"
)

// exercise runs the operations a host agent needs against host with c.
func exercise(t *testing.T, c *Client, host string) {
	t.Helper()
	ctx := t.Context()
	if err := c.Ping(ctx, host); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	ref := mustRef(t, host+"/team/app:v1")
	img := newImage(t, 11, nil, "", 500, 300_000) // the second layer goes in chunks
	img.push(t, c, ref)
	m, err := c.ManifestGet(ctx, ref)
	if err != nil || m.Descriptor.Digest != img.Digest || m.Descriptor.MediaType != v1.MediaTypeImageManifest {
		t.Fatalf("ManifestGet = %+v, %v", m, err)
	}
	if desc, err := c.ManifestHead(ctx, ref); err != nil || desc.Digest != img.Digest {
		t.Errorf("ManifestHead = %+v, %v", desc, err)
	}
	big := img.Layers[1]
	d := digest.FromBytes(big)
	if got := readBlob(t, c, ref, d, int64(len(big))); !bytes.Equal(got, big) {
		t.Error("layer reads back differently")
	}
	rc, size, err := c.BlobGet(ctx, ref, d, 1000)
	if err != nil || size != int64(len(big)) {
		t.Fatalf("BlobGet from 1000 = %d, %v", size, err)
	}
	tail, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(tail, big[1000:]) {
		t.Errorf("resumed read: %d bytes, %v", len(tail), err)
	}
	// Copy the image to another repository by mounting its blobs.
	dst := mustRef(t, host+"/team/copy:v1")
	for _, b := range append([][]byte{img.Config}, img.Layers...) {
		if ok, err := c.BlobMount(ctx, dst, ref.Repository, digest.FromBytes(b)); err != nil || !ok {
			t.Errorf("BlobMount = %v, %v", ok, err)
		}
	}
	if _, err := c.ManifestPut(ctx, dst, v1.MediaTypeImageManifest, img.Manifest); err != nil {
		t.Errorf("ManifestPut after mounting every blob: %v", err)
	}
	if ok, err := c.BlobMount(ctx, dst, ref.Repository, digest.FromString("unknown")); err != nil || ok {
		t.Errorf("BlobMount of an unknown blob = %v, %v", ok, err)
	}
	if _, err := c.ManifestPut(ctx, ref.WithTag("v2"), v1.MediaTypeImageManifest, img.Manifest); err != nil {
		t.Fatal(err)
	}
	if tags, err := c.Tags(ctx, ref); err != nil || !slices.Equal(tags, []string{"v1", "v2"}) {
		t.Errorf("Tags = %q, %v", tags, err)
	}
	if repos, err := c.Catalog(ctx, host); err != nil || !slices.Equal(repos, []string{"team/app", "team/copy"}) {
		t.Errorf("Catalog = %q, %v", repos, err)
	}
	byDigest := ref.WithDigest(img.Digest)
	byDigest.Tag = ""
	if err := c.ManifestDelete(ctx, byDigest); err != nil {
		t.Fatalf("ManifestDelete: %v", err)
	}
	if _, err := c.ManifestGet(ctx, byDigest); !errors.Is(err, ErrNotFound) {
		t.Errorf("ManifestGet after delete: %v, want ErrNotFound", err)
	}
}

// TestDistributionHtpasswd: basic auth against Distribution's htpasswd.
func TestDistributionHtpasswd(t *testing.T) {
	host := disttest.Start(t, disttest.Options{Auth: disttest.Htpasswd, Users: map[string]string{"alice": "secret"}}).Host
	exercise(t, New(WithChunkSize(128<<10), creds(host, "alice", "secret")), host)

	for name, c := range map[string]*Client{"wrong password": New(creds(host, "alice", "nope")), "no credentials": New()} {
		if err := c.Ping(t.Context(), host); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("Ping with %s: %v, want ErrUnauthorized", name, err)
		}
	}
}

// TestDistributionToken: the bearer flow against Distribution's token
// access controller, with a token server that signs what it verifies.
func TestDistributionToken(t *testing.T) {
	dist := disttest.Start(t, disttest.Options{Auth: disttest.Token, Users: map[string]string{"alice": "secret"}})
	host := dist.Host

	c := New(WithChunkSize(128<<10), creds(host, "alice", "secret"))
	exercise(t, c, host)
	// Dozens of requests, one token per scope set: no token request is
	// made twice.
	requests := dist.Token.Requests()
	seen := map[string]bool{}
	for _, q := range requests {
		if seen[q] {
			t.Errorf("token requested twice: %s", q)
		}
		seen[q] = true
	}
	t.Logf("%d token requests: %q", len(requests), requests)

	// Anonymous: pull works, push is refused.
	ref := mustRef(t, host+"/public/img:1")
	newImage(t, 12, nil, "", 100).push(t, c, ref)
	anon := New()
	if _, err := anon.ManifestGet(t.Context(), ref); err != nil {
		t.Errorf("anonymous pull: %v", err)
	}
	if err := anon.BlobPut(t.Context(), ref, blobDesc([]byte("x"), ""), strings.NewReader("x")); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("anonymous push: %v, want ErrUnauthorized", err)
	}
	if _, err := New(creds(host, "alice", "wrong")).ManifestGet(t.Context(), ref); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("wrong password: %v, want ErrUnauthorized", err)
	}
}
