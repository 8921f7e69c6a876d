package registry_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/registry/storage/blobcache"
	"github.com/berth-registry/berth/storagedriver/inmemory"
	"github.com/berth-registry/berth/storagedriver/observed"
	"github.com/berth-registry/berth/storagedriver/s3"
)

// gateProxy stands between a registry and versitygw and can hold every
// S3 request until it is opened again: an API request that completes
// while the gate is shut made no S3 request it waited for.
type gateProxy struct {
	mu   sync.Mutex
	gate chan struct{} // nil: open; closed when opened again
	held []string      // requests that arrived while shut
}

func (g *gateProxy) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate, g.held = make(chan struct{}), nil
}

// open lets the held requests through and returns them.
func (g *gateProxy) open() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gate != nil {
		close(g.gate)
	}
	g.gate = nil
	return g.held
}

func (g *gateProxy) heldNow() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.held...)
}

func newGateProxy(t *testing.T, endpoint string) (*gateProxy, string) {
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	g := &gateProxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		gate := g.gate
		if gate != nil {
			g.held = append(g.held, r.Method+" "+r.URL.Path)
		}
		g.mu.Unlock()
		if gate != nil {
			<-gate
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { g.open(); srv.Close() })
	return g, srv.URL
}

// s3App is an App over the S3 storage of p, reached at endpoint (a
// proxy's), as registry serve runs it: the driver observed for the
// metrics (the wrapper must keep every capability), blob descriptors
// cached inmemory.
func s3App(t *testing.T, p s3.Params, endpoint string) *registry.App {
	t.Helper()
	p.RegionEndpoint = endpoint
	drv, err := s3.New(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	c := blobcache.New(blobcache.NewMemory(0), nil, nil)
	t.Cleanup(func() { _ = c.Close() })
	app, err := registry.New(t.Context(), observed.Wrap(drv, nopObserver{}), registry.WithBlobDescriptorCache(c))
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// syncS3 serves one API request with the gate shut and returns the S3
// requests it waited for: none when it completes within wait (200 OK
// required), else those held once wait is over (the gate is opened then,
// so that it completes).
func syncS3(t *testing.T, g *gateProxy, app http.Handler, method, target string, wait time.Duration) []string {
	t.Helper()
	g.shut()
	done := make(chan int, 1)
	go func() { done <- do(t, app, method, target, nil).Code }()
	var waited []string
	var code int
	select {
	case code = <-done:
	case <-time.After(wait):
		waited = g.heldNow()
		g.open()
		code = <-done
	}
	g.open()
	if code != http.StatusOK {
		t.Fatalf("%s %s: %d", method, target, code)
	}
	return waited
}

// TestWarmPathsNoS3Requests holds issue 14's cache goal on S3: once warm,
// a manifest GET by tag and a blob HEAD wait for no S3 request, for as
// long as clients keep asking (past the tag cache's TTL: a tag in use is
// read again in the background), with the blob descriptor cache as
// registry serve configures it. Each check shuts the S3 proxy's gate: a
// request that still completes made no S3 request it waited for. A cold
// GET, which must read the tag, shows the check can fail.
func TestWarmPathsNoS3Requests(t *testing.T) {
	srv, root := s3test.NewRoot(t)
	g, endpoint := newGateProxy(t, srv.Endpoint)
	app := s3App(t, srv.Params(s3test.Bucket, root), endpoint)
	cfg := pushBlob(t, app, "lat/app", []byte(`{"architecture":"amd64","os":"linux"}`))
	layer := pushBlob(t, app, "lat/app", []byte("a layer"))
	m := imageManifest(cfg, 37, map[digest.Digest]int{layer: 7}, "")
	if rec := do(t, app, "PUT", "/v2/lat/app/manifests/v1", m, "Content-Type", "application/vnd.oci.image.manifest.v1+json"); rec.Code != http.StatusCreated {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	getTag := "/v2/lat/app/manifests/v1"
	head := "/v2/lat/app/blobs/" + layer.String()

	// The control: this node never read tag v2 (its PUT leaves no cache
	// entry), so its GET waits on S3.
	if rec := do(t, app, "PUT", "/v2/lat/app/manifests/v2", m, "Content-Type", "application/vnd.oci.image.manifest.v1+json"); rec.Code != http.StatusCreated {
		t.Fatalf("PUT v2: %d", rec.Code)
	}
	if waited := syncS3(t, g, app, "GET", "/v2/lat/app/manifests/v2", 300*time.Millisecond); len(waited) == 0 {
		t.Fatal("a cold GET by tag completed with S3 held: the gate does not work")
	}

	do(t, app, "GET", getTag, nil) // warm
	do(t, app, "HEAD", head, nil)
	end := time.Now().Add(2500 * time.Millisecond) // 2.5 tag TTLs
	checks := 0
	for time.Now().Before(end) {
		for _, req := range [][2]string{{"GET", getTag}, {"HEAD", head}} {
			if waited := syncS3(t, g, app, req[0], req[1], 2*time.Second); len(waited) != 0 {
				t.Fatalf("warm %s %s waited for %d S3 requests: %q", req[0], req[1], len(waited), waited)
			}
			checks++
		}
		time.Sleep(20 * time.Millisecond) // the background tag read goes through
	}
	t.Logf("%d warm requests, 0 S3 requests waited for", checks)
}

// TestRepoDeleteStaleness holds the bounds the docs give for a
// repository deleted through another node (storage-s3-and-nodes.md, "How
// stale each answer can be"): the deleting node answers 404 at once; a
// node with its own inmemory blob descriptor cache answers a GET by tag
// 404 within the tag TTL (1 s) and a blob HEAD 404 within the cache's
// window, a quarter of the grace (8 s here, so 2 s).
func TestRepoDeleteStaleness(t *testing.T) {
	const grace = 8 * time.Second
	drv := inmemory.New()
	node := func() *registry.App {
		c := blobcache.New(blobcache.NewMemory(0), nil, nil)
		t.Cleanup(func() { _ = c.Close() })
		app, err := registry.New(t.Context(), drv, registry.WithDelete(true), registry.WithGCGrace(grace), registry.WithBlobDescriptorCache(c))
		if err != nil {
			t.Fatal(err)
		}
		return app
	}
	a, b := node(), node()
	pushImage(t, a, "gone/app", "v1", "")
	layer := pushBlob(t, a, "gone/app", []byte("layer of gone/app"))
	getTag, head := "/v2/gone/app/manifests/v1", "/v2/gone/app/blobs/"+layer.String()
	for _, n := range []*registry.App{a, b} { // both warm
		for _, req := range [][2]string{{"GET", getTag}, {"HEAD", head}} {
			if rec := do(t, n, req[0], req[1], nil); rec.Code != http.StatusOK {
				t.Fatalf("%s %s: %d", req[0], req[1], rec.Code)
			}
		}
	}
	if rec := do(t, a, "DELETE", "/berth/v1/repositories/gone/app", nil); rec.Code != http.StatusAccepted {
		t.Fatalf("DELETE repository: %d %s", rec.Code, rec.Body)
	}
	deleted := time.Now()
	for _, req := range [][2]string{{"GET", getTag}, {"HEAD", head}} {
		if rec := do(t, a, req[0], req[1], nil); rec.Code != http.StatusNotFound {
			t.Errorf("deleting node: %s %s: %d, want 404 at once", req[0], req[1], rec.Code)
		}
	}
	const slack = 500 * time.Millisecond // a loaded machine's scheduling
	for _, tc := range []struct {
		method, target string
		bound          time.Duration
	}{
		{"GET", getTag, storage.DefaultTagTTL},
		{"HEAD", head, grace / 4},
	} {
		for do(t, b, tc.method, tc.target, nil).Code != http.StatusNotFound {
			if time.Since(deleted) > tc.bound+slack {
				t.Fatalf("other node: %s %s still answers after %v, bound %v", tc.method, tc.target, time.Since(deleted), tc.bound)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("other node: %s 404 after %v (bound %v)", tc.method, time.Since(deleted).Round(time.Millisecond), tc.bound)
	}
}
