package proxy_test

// The memory proof of the pull-through path: a 256 MiB blob goes from an
// upstream through the cache to a client while the heap of the whole
// process (upstream, cache and client) is sampled. A cache that held a blob
// in memory, or let the upstream run ahead of the client into a buffer,
// would fail it.

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/proxy"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

const (
	proxyMemBlobSize = 256 << 20
	// proxyMemHeapBound is the most the heap may grow while the blob
	// streams: copy buffers and GC slack, far below the blob.
	proxyMemHeapBound = 16 << 20
)

// memBlob is a reproducible stream of pseudo-random bytes.
func memBlob() io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{'p', 'r', 'o', 'x', 'y'}), proxyMemBlobSize)
}

// TestMemoryStreams256MiB pulls a 256 MiB blob through the cache (the
// filesystem driver on both sides, the spool on disk) and asserts that the
// peak HeapInuse, sampled every 2 ms, stays within 16 MiB of the idle
// heap. The figures are logged; there is no timing assertion.
func TestMemoryStreams256MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 256 MiB through an upstream and the cache; skipped with -short")
	}
	ctx := t.Context()
	h := sha256.New()
	if _, err := io.Copy(h, memBlob()); err != nil {
		t.Fatal(err)
	}
	d := digest.NewDigest(digest.SHA256, h)

	// The upstream: Berth on the filesystem, the blob put in through its
	// storage (no HTTP push, to spare the CPU).
	upDrv, err := filesystem.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	u, err := storage.New(upDrv).StartUpload(ctx, "big/blob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Commit(ctx, d, memBlob(), -1); err != nil {
		t.Fatal(err)
	}
	upApp, err := registry.New(ctx, upDrv)
	if err != nil {
		t.Fatal(err)
	}
	up := serveCounted(t, upApp, false)

	drv, err := filesystem.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cache, err := proxy.New(drv, []proxy.Upstream{{Prefix: "up", RemoteURL: up.URL}}, proxy.WithSpoolDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	app, err := registry.New(ctx, drv, registry.WithPullThrough(cache))
	if err != nil {
		t.Fatal(err)
	}
	srv := serveCounted(t, app, false)

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := sampleHeap(2 * time.Millisecond)
	start := time.Now()

	got, n, err := fetch(ctx, srv.URL+"/v2/up/big/blob/blobs/"+d.String())
	elapsed := time.Since(start)
	peak := stop()
	if err != nil || got != d || n != proxyMemBlobSize {
		t.Fatalf("pull through the cache: %s, %d bytes, %v; want %s, %d", got, n, err, d, proxyMemBlobSize)
	}
	growth := int64(peak) - int64(before.HeapInuse)
	t.Logf("256 MiB through the cache in %v: HeapInuse %d MiB idle, %d MiB peak (+%.1f MiB)",
		elapsed.Round(time.Millisecond), before.HeapInuse>>20, peak>>20, float64(growth)/(1<<20))
	if growth > proxyMemHeapBound {
		t.Errorf("heap grew by %d MiB while 256 MiB streamed through the cache, want at most %d MiB", growth>>20, proxyMemHeapBound>>20)
	}
	// The blob is cached: the second pull does not reach the upstream.
	// The cache stores it in the background of the first pull; wait for
	// that to end, so that no write is in flight when the test's
	// directories go.
	waitCached(t, drv, "up/big/blob", d)
	up.counts.take()
	if got, _, err := fetch(ctx, srv.URL+"/v2/up/big/blob/blobs/"+d.String()); err != nil || got != d {
		t.Fatalf("second pull: %s, %v", got, err)
	}
	sameCounts(t, "pull of the cached blob", up.counts.take(), map[string]int{})
}

// waitCached waits until the cache over drv has blob d of repository name
// linked and its upload gone: its background store has finished.
func waitCached(t *testing.T, drv storagedriver.Driver, name string, d digest.Digest) {
	t.Helper()
	s := storage.New(drv)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, err := s.StatBlob(t.Context(), name, d)
		uploads, _ := drv.List(t.Context(), "/docker/registry/v2/repositories/"+name+"/_uploads")
		if err == nil && len(uploads) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("blob not cached after 30s: %v, uploads %v", err, uploads)
		}
	}
}

// fetch GETs url into sha256 and returns the digest and the length.
func fetch(ctx context.Context, url string) (digest.Digest, int64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return "", 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	return digest.NewDigest(digest.SHA256, h), n, err
}

// sampleHeap samples HeapInuse every period until stop, which returns the
// peak.
func sampleHeap(every time.Duration) (stop func() uint64) {
	var (
		peak uint64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}
