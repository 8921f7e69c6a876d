package proxy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/registry/proxy"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// counter sits in front of an upstream and counts the requests it
// receives, by "METHOD path", as they arrive (so that a count is complete
// once the answer is), leaving out GET /v2/. With authRequired it also
// leaves out requests without credentials, which a registry that wants
// them answers with a 401 challenge and no content. intercept, when set,
// may answer a request itself (true).
type counter struct {
	next         http.Handler
	authRequired bool
	mu           sync.Mutex
	n            map[string]int
	intercept    func(w http.ResponseWriter, r *http.Request) bool
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	if r.URL.Path != "/v2/" && (!c.authRequired || r.Header.Get("Authorization") != "") {
		c.n[r.Method+" "+r.URL.Path]++
	}
	icpt := c.intercept
	c.mu.Unlock()
	if icpt == nil || !icpt(w, r) {
		c.next.ServeHTTP(w, r)
	}
}

// take returns the counts since the last take and starts afresh.
func (c *counter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

func (c *counter) setIntercept(f func(w http.ResponseWriter, r *http.Request) bool) {
	c.mu.Lock()
	c.intercept = f
	c.mu.Unlock()
}

// upstream is a registry serving over loopback behind a counter.
type upstream struct {
	*httptest.Server
	host   string
	counts *counter
}

func serveCounted(t *testing.T, h http.Handler, authRequired bool) *upstream {
	t.Helper()
	cnt := &counter{next: h, authRequired: authRequired, n: map[string]int{}}
	srv := httptest.NewServer(cnt)
	t.Cleanup(srv.Close)
	return &upstream{Server: srv, host: srv.Listener.Addr().String(), counts: cnt}
}

// startBerth starts a Berth registry (in memory, deletes on) as an upstream.
func startBerth(t *testing.T) *upstream {
	t.Helper()
	app, err := registry.New(t.Context(), inmemory.New(), registry.WithDelete(true))
	if err != nil {
		t.Fatal(err)
	}
	return serveCounted(t, app, false)
}

// clock is a settable time source for TTL tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cacheServer is a Berth registry acting as a pull-through cache.
type cacheServer struct {
	*registrytest.Server
	clock *clock
	log   *syncBuffer
}

// startCache serves a pull-through cache of ups, over the in-memory driver,
// with a settable clock and a captured log.
func startCache(t *testing.T, ups []proxy.Upstream, opts ...proxy.Option) *cacheServer {
	t.Helper()
	cs := &cacheServer{clock: newClock(), log: &syncBuffer{}}
	drv := inmemory.New()
	logger := slog.New(slog.NewTextHandler(cs.log, nil))
	all := append([]proxy.Option{proxy.WithLogger(logger), proxy.WithSpoolDir(t.TempDir()), proxy.WithClock(cs.clock.Now)}, opts...)
	cache, err := proxy.New(drv, ups, all...)
	if err != nil {
		t.Fatal(err)
	}
	cs.Server = registrytest.Start(t, drv, registry.WithPullThrough(cache), registry.WithDelete(true))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("cache log:\n%s", cs.log)
		}
	})
	return cs
}

// image is a test image: a config and layers of pseudo-random bytes, its
// manifest, and optionally an index holding it (what a tag points to).
type image struct {
	config   []byte
	layers   [][]byte
	manifest []byte
	index    []byte // nil: the tag points to the manifest
}

func newImage(seed uint64, withIndex bool, layerSizes ...int) *image {
	rng := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}))
	im := &image{config: fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","seed":%d,"rootfs":{"type":"layers","diff_ids":[]}}`, seed)}
	layers := []v1.Descriptor{}
	for _, n := range layerSizes {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		im.layers = append(im.layers, b)
		layers = append(layers, v1.Descriptor{MediaType: v1.MediaTypeImageLayerGzip, Digest: digest.FromBytes(b), Size: int64(n)})
	}
	im.manifest = mustJSON(map[string]any{
		"schemaVersion": 2, "mediaType": v1.MediaTypeImageManifest,
		"config": v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: digest.FromBytes(im.config), Size: int64(len(im.config))},
		"layers": layers,
	})
	if withIndex {
		im.index = mustJSON(map[string]any{
			"schemaVersion": 2, "mediaType": v1.MediaTypeImageIndex,
			"manifests": []v1.Descriptor{{
				MediaType: v1.MediaTypeImageManifest, Digest: digest.FromBytes(im.manifest), Size: int64(len(im.manifest)),
				Platform: &v1.Platform{OS: "linux", Architecture: "amd64"},
			}},
		})
	}
	return im
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// top is the digest the image's tag points to.
func (im *image) top() digest.Digest {
	if im.index != nil {
		return digest.FromBytes(im.index)
	}
	return digest.FromBytes(im.manifest)
}

func (im *image) blobs() [][]byte { return append([][]byte{im.config}, im.layers...) }

// push puts the image into ref's repository under ref's tag.
func (im *image) push(t *testing.T, c *client.Client, ref client.Reference) {
	t.Helper()
	ctx := t.Context()
	for _, b := range im.blobs() {
		if err := c.BlobPut(ctx, ref, v1.Descriptor{Digest: digest.FromBytes(b), Size: int64(len(b))}, bytes.NewReader(b)); err != nil {
			t.Fatalf("push blob: %v", err)
		}
	}
	if im.index == nil {
		if _, err := c.ManifestPut(ctx, ref, v1.MediaTypeImageManifest, im.manifest); err != nil {
			t.Fatalf("push manifest: %v", err)
		}
		return
	}
	byDigest := ref.WithDigest(digest.FromBytes(im.manifest))
	byDigest.Tag = ""
	if _, err := c.ManifestPut(ctx, byDigest, v1.MediaTypeImageManifest, im.manifest); err != nil {
		t.Fatalf("push manifest: %v", err)
	}
	if _, err := c.ManifestPut(ctx, ref, v1.MediaTypeImageIndex, im.index); err != nil {
		t.Fatalf("push index: %v", err)
	}
}

// fetches is what pulling the image costs upstream at most: one GET of the
// tag, of each child manifest and of each blob, in upstream repository repo.
func (im *image) fetches(repo, tag string) map[string]int {
	want := map[string]int{"GET /v2/" + repo + "/manifests/" + tag: 1}
	if im.index != nil {
		want["GET /v2/"+repo+"/manifests/"+digest.FromBytes(im.manifest).String()] = 1
	}
	for _, b := range im.blobs() {
		want["GET /v2/"+repo+"/blobs/"+digest.FromBytes(b).String()] = 1
	}
	return want
}

func mustRef(t *testing.T, s string) client.Reference {
	t.Helper()
	ref, err := client.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// newClient is a client that does not retry, so that a retry never hides a
// failure of the cache.
func newClient(opts ...client.Option) *client.Client {
	return client.New(append([]client.Option{client.WithRetry(client.RetryPolicy{Attempts: 1})}, opts...)...)
}

// pull pulls ref as docker does, verifying every byte, and returns the
// digest its tag pointed to.
func pull(ctx context.Context, c *client.Client, ref client.Reference) (digest.Digest, error) {
	m, err := c.ManifestGet(ctx, ref)
	if err != nil {
		return "", err
	}
	top, payload := m.Descriptor.Digest, m.Payload
	var doc struct {
		Manifests []v1.Descriptor `json:"manifests"`
		Config    v1.Descriptor   `json:"config"`
		Layers    []v1.Descriptor `json:"layers"`
	}
	if err := json.Unmarshal(payload, &doc); err != nil {
		return "", err
	}
	if len(doc.Manifests) > 0 {
		child, err := c.ManifestGet(ctx, ref.WithDigest(doc.Manifests[0].Digest))
		if err != nil {
			return "", err
		}
		if err := json.Unmarshal(child.Payload, &doc); err != nil {
			return "", err
		}
	}
	for _, d := range append([]v1.Descriptor{doc.Config}, doc.Layers...) {
		rc, size, err := c.BlobGet(ctx, ref, d.Digest, 0)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(io.Discard, client.VerifyReader(rc, d.Digest, size))
		rc.Close()
		if err != nil {
			return "", fmt.Errorf("blob %s: %w", d.Digest, err)
		}
	}
	return top, nil
}

// ociError is the first error of a registry's error body.
type ociError struct{ Code, Message string }

// get sends a request to the cache and returns its status, body and error.
func get(t *testing.T, method, url string) (int, []byte, ociError) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e struct{ Errors []ociError }
	if json.Unmarshal(body, &e) == nil && len(e.Errors) > 0 {
		return resp.StatusCode, body, e.Errors[0]
	}
	return resp.StatusCode, body, ociError{}
}

// sameCounts compares request counts, naming what differs.
func sameCounts(t *testing.T, what string, got, want map[string]int) {
	t.Helper()
	if maps.Equal(got, want) {
		return
	}
	var b strings.Builder
	for k, n := range got {
		if want[k] != n {
			fmt.Fprintf(&b, "\n  %s: %d, want %d", k, n, want[k])
		}
	}
	for k, n := range want {
		if _, ok := got[k]; !ok {
			fmt.Fprintf(&b, "\n  %s: 0, want %d", k, n)
		}
	}
	t.Errorf("%s: upstream requests differ:%s", what, b.String())
}

func blobDesc(b []byte) v1.Descriptor {
	return v1.Descriptor{Digest: digest.FromBytes(b), Size: int64(len(b))}
}
