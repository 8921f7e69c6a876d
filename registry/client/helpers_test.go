package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// fastRetry keeps retry tests quick.
func fastRetry() Option {
	return WithRetry(RetryPolicy{Attempts: 4, MinDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond})
}

// startBerth serves Berth's registry (in memory, deletes on) behind wrap,
// which may be nil, and returns its host.
func startBerth(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	app, err := registry.New(t.Context(), inmemory.New(), registry.WithDelete(true))
	if err != nil {
		t.Fatalf("registry.New: %v", err)
	}
	var h http.Handler = app
	if wrap != nil {
		h = wrap(app)
	}
	return serve(t, h)
}

// serve starts h on loopback and returns its host.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// recorder counts the requests that reach a handler, by "METHOD kind"
// where kind is the last API path element kind (manifests, blobs, uploads,
// tags, _catalog, referrers), and the bytes of blob bodies it served.
type recorder struct {
	mu        sync.Mutex
	counts    map[string]int
	requests  []*http.Request
	blobBytes int64
}

func newRecorder() *recorder { return &recorder{counts: map[string]int{}} }

func (r *recorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		k := req.Method + " " + pathKind(req.URL.Path)
		r.mu.Lock()
		r.counts[k]++
		r.requests = append(r.requests, req.Clone(context.WithoutCancel(req.Context())))
		r.mu.Unlock()
		if pathKind(req.URL.Path) == "blobs" && req.Method == http.MethodGet {
			w = &countingWriter{ResponseWriter: w, r: r}
		}
		next.ServeHTTP(w, req)
	})
}

func (r *recorder) count(k string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[k]
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts, r.requests, r.blobBytes = map[string]int{}, nil, 0
}

func pathKind(p string) string {
	switch {
	case p == "/v2/" || p == "/v2":
		return "base"
	case strings.Contains(p, "/blobs/uploads"):
		return "uploads"
	case strings.Contains(p, "/blobs/"):
		return "blobs"
	case strings.Contains(p, "/manifests/"):
		return "manifests"
	case strings.HasSuffix(p, "/tags/list"):
		return "tags"
	case strings.HasSuffix(p, "/_catalog"):
		return "_catalog"
	case strings.Contains(p, "/referrers/"):
		return "referrers"
	}
	return p
}

func (r *recorder) servedBlobBytes() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.blobBytes
}

// countingWriter counts the bytes of successful answers before they leave,
// so that a client that has them sees them counted.
type countingWriter struct {
	http.ResponseWriter
	r      *recorder
	status int
}

func (w *countingWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 || w.status < 300 {
		w.r.mu.Lock()
		w.r.blobBytes += int64(len(p))
		w.r.mu.Unlock()
	}
	return w.ResponseWriter.Write(p)
}

// mustRef parses a reference or fails the test.
func mustRef(t *testing.T, s string) Reference {
	t.Helper()
	r, err := ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// randomBytes is n bytes of deterministic noise.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func blobDesc(b []byte, mediaType string) v1.Descriptor {
	return v1.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))}
}

// testImage is an image: a config, layers and the manifest over them.
type testImage struct {
	Config   []byte
	Layers   [][]byte
	Manifest []byte
	Digest   digest.Digest
}

// newImage builds an image whose layers are the given sizes of noise, and
// whose manifest carries annotations and subject when given.
func newImage(t *testing.T, seed uint64, subject *v1.Descriptor, artifactType string, layerSizes ...int) testImage {
	t.Helper()
	img := testImage{Config: []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},"seed":%d}`, seed))}
	m := v1.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    v1.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       blobDesc(img.Config, v1.MediaTypeImageConfig),
		Layers:       []v1.Descriptor{},
		Subject:      subject,
	}
	for i, n := range layerSizes {
		l := randomBytes(n, seed*100+uint64(i))
		img.Layers = append(img.Layers, l)
		m.Layers = append(m.Layers, blobDesc(l, v1.MediaTypeImageLayer))
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	img.Manifest, img.Digest = b, digest.FromBytes(b)
	return img
}

// push uploads img's blobs and manifest to ref with c.
func (img testImage) push(t *testing.T, c *Client, ref Reference) {
	t.Helper()
	ctx := t.Context()
	for _, b := range append([][]byte{img.Config}, img.Layers...) {
		if err := c.BlobPut(ctx, ref, blobDesc(b, ""), bytes.NewReader(b)); err != nil {
			t.Fatalf("BlobPut to %s: %v", ref, err)
		}
	}
	d, err := c.ManifestPut(ctx, ref, v1.MediaTypeImageManifest, img.Manifest)
	if err != nil {
		t.Fatalf("ManifestPut %s: %v", ref, err)
	}
	if d != img.Digest {
		t.Fatalf("ManifestPut %s = %s, want %s", ref, d, img.Digest)
	}
}

// readBlob reads a whole blob through BlobGet and VerifyReader.
func readBlob(t *testing.T, c *Client, ref Reference, d digest.Digest, size int64) []byte {
	t.Helper()
	rc, n, err := c.BlobGet(t.Context(), ref, d, 0)
	if err != nil {
		t.Fatalf("BlobGet %s: %v", d, err)
	}
	defer rc.Close()
	if n != size {
		t.Errorf("BlobGet %s size = %d, want %d", d, n, size)
	}
	b, err := io.ReadAll(VerifyReader(rc, d, size))
	if err != nil {
		t.Fatalf("read blob %s: %v", d, err)
	}
	return b
}
