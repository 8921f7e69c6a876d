package registry_test

// The memory proof of the hot path: a 1 GiB blob goes up through the HTTP
// API to the filesystem driver and comes back down, and the heap of the
// whole process (client and server) grows by no more than a fixed bound. A
// server that held a blob or a chunk in memory would fail it.

import (
	"context"
	_ "crypto/sha256" // digest.SHA256 needs it linked in
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

const (
	memBlobSize  = 1 << 30
	memChunkSize = 64 << 20
	// memHeapBound is the most the heap may grow while 1 GiB streams
	// through: room for buffers and GC slack, far below one chunk.
	memHeapBound = 16 << 20
	memSampling  = 2 * time.Millisecond
)

// TestMemoryStreams1GiB pushes 1 GiB monolithically (POST + PUT with the
// whole body) and in 64 MiB PATCH chunks, pulls it back into sha256, and
// asserts that the peak HeapInuse, sampled every 2 ms, stays within 16 MiB of
// the idle heap. The figures are logged; there is no timing assertion.
func TestMemoryStreams1GiB(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 2 GiB through the filesystem driver; skipped with -short")
	}
	for _, tc := range []struct {
		name string
		seed uint64
		push func(c *memClient, ctx context.Context, repo string, d digest.Digest, src io.Reader) error
	}{
		{"monolithic PUT", 1, (*memClient).pushMonolithic},
		{"chunked PATCH 64MiB", 2, (*memClient).pushChunked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			// Each case has its own root, removed at its end: at most
			// 1 GiB on disk at a time.
			drv, err := filesystem.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			app, err := registry.New(ctx, drv)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(app)
			defer srv.Close()
			c := &memClient{base: srv.URL, hc: srv.Client()}

			d, err := memDigest(tc.seed)
			if err != nil {
				t.Fatal(err)
			}

			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			stop := memSample(memSampling)
			start := time.Now()

			const repo = "memory/proof"
			if err := tc.push(c, ctx, repo, d, memSource(tc.seed)); err != nil {
				stop()
				t.Fatalf("push: %v", err)
			}
			pushed := time.Since(start)
			got, n, err := c.pull(ctx, repo, d)
			pulled := time.Since(start) - pushed
			peak := stop()
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatalf("pull: %v", err)
			}
			if n != memBlobSize || got != d {
				t.Fatalf("pulled %d bytes with digest %s, want %d bytes with %s", n, got, memBlobSize, d)
			}

			growth := int64(peak.HeapInuse) - int64(before.HeapInuse)
			t.Logf("HeapInuse idle %s, peak %s (+%s); HeapAlloc idle %s, peak %s (+%s); "+
				"TotalAlloc +%s, Mallocs +%d, NumGC +%d, samples %d",
				mib(before.HeapInuse), mib(peak.HeapInuse), mibSigned(growth),
				mib(before.HeapAlloc), mib(peak.HeapAlloc), mibSigned(int64(peak.HeapAlloc)-int64(before.HeapAlloc)),
				mib(after.TotalAlloc-before.TotalAlloc), after.Mallocs-before.Mallocs, after.NumGC-before.NumGC, peak.Samples)
			t.Logf("push %.0f MiB/s, pull %.0f MiB/s (for information only)",
				float64(memBlobSize>>20)/pushed.Seconds(), float64(memBlobSize>>20)/pulled.Seconds())
			if growth > memHeapBound {
				t.Errorf("HeapInuse grew by %s while 1 GiB streamed through, want at most %s", mibSigned(growth), mib(memHeapBound))
			}
		})
	}
}

// memSource is the blob: a seeded ChaCha8 stream, memBlobSize bytes long.
func memSource(seed uint64) io.Reader {
	var key [32]byte
	key[0] = byte(seed)
	return io.LimitReader(rand.NewChaCha8(key), memBlobSize)
}

// memDigest hashes the blob of seed, which the push must announce up front.
func memDigest(seed uint64) (digest.Digest, error) {
	return digest.SHA256.FromReader(memSource(seed))
}

type memPeak struct {
	HeapInuse, HeapAlloc uint64
	Samples              int
}

// memSample reads runtime.MemStats every interval until stop is called, and
// stop returns the maxima seen (including one last sample).
func memSample(every time.Duration) (stop func() memPeak) {
	var (
		mu   sync.Mutex
		peak memPeak
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		mu.Lock()
		peak.HeapInuse = max(peak.HeapInuse, ms.HeapInuse)
		peak.HeapAlloc = max(peak.HeapAlloc, ms.HeapAlloc)
		peak.Samples++
		mu.Unlock()
	}
	wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				sample()
			}
		}
	})
	return func() memPeak {
		close(done)
		wg.Wait()
		sample()
		return peak
	}
}

// memClient pushes and pulls one large blob with streaming bodies.
type memClient struct {
	base string
	hc   *http.Client
}

// send performs one request with a body of size bytes (-1: none) and
// returns the response with its body drained, or an error naming the request,
// the status and the body when the status is not want.
func (c *memClient) send(ctx context.Context, method, target string, hdr http.Header, body io.Reader, size int64, want int) (*http.Response, error) {
	u, err := url.Parse(c.base)
	if err != nil {
		return nil, err
	}
	ref, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u.ResolveReference(ref).String(), body)
	if err != nil {
		return nil, err
	}
	req.Header = hdr
	if body != nil {
		req.ContentLength = size
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: status %d, want %d; body %q", method, req.URL, resp.StatusCode, want, msg)
	}
	return resp, nil
}

func (c *memClient) start(ctx context.Context, repo string) (string, error) {
	resp, err := c.send(ctx, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", http.Header{}, nil, -1, http.StatusAccepted)
	if err != nil {
		return "", err
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", fmt.Errorf("POST /v2/%s/blobs/uploads/: no Location", repo)
	}
	return loc, nil
}

// memWithDigest appends ?digest= to an upload location, keeping its query.
func memWithDigest(loc string, d digest.Digest) (string, error) {
	u, err := url.Parse(loc)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("digest", d.String())
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func (c *memClient) pushMonolithic(ctx context.Context, repo string, d digest.Digest, src io.Reader) error {
	loc, err := c.start(ctx, repo)
	if err != nil {
		return err
	}
	if loc, err = memWithDigest(loc, d); err != nil {
		return err
	}
	hdr := http.Header{"Content-Type": {"application/octet-stream"}}
	_, err = c.send(ctx, http.MethodPut, loc, hdr, src, memBlobSize, http.StatusCreated)
	return err
}

func (c *memClient) pushChunked(ctx context.Context, repo string, d digest.Digest, src io.Reader) error {
	loc, err := c.start(ctx, repo)
	if err != nil {
		return err
	}
	for off := int64(0); off < memBlobSize; off += memChunkSize {
		n := min(memChunkSize, memBlobSize-off)
		hdr := http.Header{
			"Content-Type":  {"application/octet-stream"},
			"Content-Range": {fmt.Sprintf("%d-%d", off, off+n-1)},
		}
		resp, err := c.send(ctx, http.MethodPatch, loc, hdr, io.LimitReader(src, n), n, http.StatusAccepted)
		if err != nil {
			return err
		}
		if loc = resp.Header.Get("Location"); loc == "" {
			return fmt.Errorf("PATCH at offset %d: no Location", off)
		}
	}
	if loc, err = memWithDigest(loc, d); err != nil {
		return err
	}
	_, err = c.send(ctx, http.MethodPut, loc, http.Header{}, nil, -1, http.StatusCreated)
	return err
}

// pull streams the blob into sha256 and returns its digest and length.
func (c *memClient) pull(ctx context.Context, repo string, d digest.Digest) (digest.Digest, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v2/"+repo+"/blobs/"+d.String(), nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return "", 0, fmt.Errorf("GET %s: status %d; body %q", req.URL, resp.StatusCode, msg)
	}
	if resp.ContentLength != memBlobSize {
		return "", 0, fmt.Errorf("GET %s: Content-Length %d, want %d", req.URL, resp.ContentLength, memBlobSize)
	}
	dg := digest.SHA256.Digester()
	n, err := io.Copy(dg.Hash(), resp.Body)
	if err != nil {
		return "", n, fmt.Errorf("GET %s: %w", req.URL, err)
	}
	return dg.Digest(), n, nil
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func mibSigned(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
