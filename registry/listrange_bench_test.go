package registry_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/storage/blobcache"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// fsServer serves an App on the filesystem driver with the blob
// descriptor cache in memory, as regbench runs registry serve, over
// loopback HTTP.
func fsServer(b *testing.B, opts ...registry.Option) (*registry.App, *httptest.Server) {
	b.Helper()
	d, err := filesystem.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	c := blobcache.New(blobcache.NewMemory(0), nil, nil)
	b.Cleanup(func() { c.Close() })
	app, err := registry.New(b.Context(), d, append([]registry.Option{registry.WithDelete(true), registry.WithBlobDescriptorCache(c)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(app)
	b.Cleanup(srv.Close)
	return app, srv
}

// get GETs path from srv and reads the body into buf, checking the status.
func get(b *testing.B, c *http.Client, url string, status int, buf []byte, hdr ...string) int64 {
	req, err := http.NewRequestWithContext(b.Context(), http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{resp.Body}, buf)
	if err != nil || resp.StatusCode != status {
		b.Fatalf("GET %s: %d, %v", url, resp.StatusCode, err)
	}
	return n
}

// BenchmarkRangeGet GETs random 4 KiB ranges of a 64 MiB blob over
// loopback, as regbench's range workload does (from one client here):
// the cost of a ranged blob GET on the filesystem driver, apart from the
// bytes. Profile it with -cpuprofile, count allocations with -benchmem.
//
//	go test ./registry/ -run '^$' -bench RangeGet -benchmem -count 6
func BenchmarkRangeGet(b *testing.B) {
	app, srv := fsServer(b)
	blob := make([]byte, 64<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range blob {
		blob[i] = byte(r.Uint32())
	}
	d := pushBlob(b, app, "bench/big", blob)
	url := srv.URL + "/v2/bench/big/blobs/" + d.String()
	c := srv.Client()
	buf := make([]byte, 32<<10)
	for b.Loop() {
		off := r.Int64N(int64(len(blob)) - 4096)
		if n := get(b, c, url, http.StatusPartialContent, buf, "Range", fmt.Sprintf("bytes=%d-%d", off, off+4095)); n != 4096 {
			b.Fatalf("range: %d bytes", n)
		}
	}
}

// BenchmarkTagList GETs the whole tag list of a repository of 5,000 tags
// over loopback, as regbench's tags workload does.
//
//	go test ./registry/ -run '^$' -bench TagList -benchmem -count 6
func BenchmarkTagList(b *testing.B) {
	app, srv := fsServer(b)
	const tags = 5000
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	cd := pushBlob(b, app, "bench/tags", cfg)
	m := imageManifest(cd, len(cfg), map[digest.Digest]int{}, "")
	for i := range tags {
		rec := do(b, app, "PUT", fmt.Sprintf("/v2/bench/tags/manifests/v%05d", i), m, "Content-Type", "application/vnd.oci.image.manifest.v1+json")
		if rec.Code != http.StatusCreated {
			b.Fatalf("PUT: %d %s", rec.Code, rec.Body)
		}
	}
	url := srv.URL + "/v2/bench/tags/tags/list"
	c := srv.Client()
	buf := make([]byte, 32<<10)
	for b.Loop() {
		if n := get(b, c, url, http.StatusOK, buf); n < tags*8 {
			b.Fatalf("tag list: %d bytes", n)
		}
	}
}

// discardWriter is a ResponseWriter that keeps the status and drops the
// body, with a fresh header map per request as net/http's.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// BenchmarkRangeGetHandler is BenchmarkRangeGet without the network and
// net/http: the App's own cost of a 4 KiB range GET (allocations per
// request with -benchmem), access log off as in regbench.
func BenchmarkRangeGetHandler(b *testing.B) {
	app, _ := fsServer(b, registry.WithAccessLog(false))
	blob := make([]byte, 64<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range blob {
		blob[i] = byte(r.Uint32())
	}
	d := pushBlob(b, app, "bench/big", blob)
	req := httptest.NewRequestWithContext(b.Context(), http.MethodGet, "/v2/bench/big/blobs/"+d.String(), nil)
	for b.Loop() {
		off := r.Int64N(int64(len(blob)) - 4096)
		req.Header = http.Header{"Range": {"bytes=" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(off+4095, 10)}}
		w := &discardWriter{h: http.Header{}}
		app.ServeHTTP(w, req)
		if w.status != http.StatusPartialContent || w.n != 4096 {
			b.Fatalf("range: %d, %d bytes", w.status, w.n)
		}
	}
}
