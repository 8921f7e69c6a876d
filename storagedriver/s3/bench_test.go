package s3_test

// The S3 benchmark: one 1 GiB blob pushed and pulled through the HTTP API of
// Berth on this driver and of CNCF Distribution (in-process, its s3-aws
// driver on aws-sdk-go v1), against the same versitygw, in the same run.
//
//	go test ./storagedriver/s3/ -run '^$' -bench BlobThroughS3 -benchtime 1x
//
// The push is what docker does: POST, one PATCH streaming the whole blob,
// PUT ?digest=. The pull is one GET streamed into sha256. Both registries
// serve blobs themselves (Distribution's redirect to S3 is disabled, Berth
// does not redirect), use their default part and copy sizes, and are fed
// from the same generated stream, so nothing but the registry differs.

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/s3-aws" // registers "s3"
	"github.com/opencontainers/go-digest"
	"github.com/sirupsen/logrus"

	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storagedriver/s3"
)

var benchSize = flag.Int64("s3bench.size", 1<<30, "bytes of the blob BenchmarkBlobThroughS3 pushes and pulls")

// BenchmarkBlobThroughS3 reports, per registry, push and pull throughput in
// MB/s (10^6 bytes) and the peak growth of the process's heap during each,
// and Berth's throughput as a ratio of Distribution's.
func BenchmarkBlobThroughS3(b *testing.B) {
	srv, root := s3test.NewRoot(b)
	size := *benchSize
	d, err := digest.SHA256.FromReader(blobSource(size))
	if err != nil {
		b.Fatal(err)
	}
	berth := startBerthS3(b, srv, root+"/berth")
	dist := startDistributionS3(b, srv, root+"/distribution")
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		repo := fmt.Sprintf("bench/blob%d", i)
		var res [2]transfer
		for j, base := range []string{berth, dist} {
			if res[j], err = pushPull(b.Context(), base, repo, d, size); err != nil {
				b.Fatalf("%s: %v", []string{"berth", "distribution"}[j], err)
			}
		}
		mb := float64(size) / 1e6
		bp, bl := mb/res[0].push.Seconds(), mb/res[0].pull.Seconds()
		dp, dl := mb/res[1].push.Seconds(), mb/res[1].pull.Seconds()
		b.ReportMetric(bp, "berth-push-MB/s")
		b.ReportMetric(bl, "berth-pull-MB/s")
		b.ReportMetric(dp, "dist-push-MB/s")
		b.ReportMetric(dl, "dist-pull-MB/s")
		b.ReportMetric(bp/dp, "push-ratio")
		b.ReportMetric(bl/dl, "pull-ratio")
		b.Logf("%d MiB blob through versitygw on loopback:", size>>20)
		b.Logf("  berth        push %7.1f MB/s (%6.2fs, heap +%s)  pull %7.1f MB/s (%6.2fs, heap +%s)",
			bp, res[0].push.Seconds(), mib(res[0].pushHeap), bl, res[0].pull.Seconds(), mib(res[0].pullHeap))
		b.Logf("  distribution push %7.1f MB/s (%6.2fs, heap +%s)  pull %7.1f MB/s (%6.2fs, heap +%s)",
			dp, res[1].push.Seconds(), mib(res[1].pushHeap), dl, res[1].pull.Seconds(), mib(res[1].pullHeap))
		b.Logf("  berth/distribution: push %.2fx, pull %.2fx", bp/dp, bl/dl)
	}
}

// transfer is one push and pull: durations and peak heap growth.
type transfer struct {
	push, pull         time.Duration
	pushHeap, pullHeap int64
}

// blobSource is the blob: a seeded ChaCha8 stream, size bytes long.
func blobSource(size int64) io.Reader {
	var key [32]byte
	key[0] = 42
	return io.LimitReader(rand.NewChaCha8(key), size)
}

// startBerthS3 serves Berth on the S3 driver with its default sizes.
func startBerthS3(b testing.TB, srv *s3test.Server, root string) string {
	p := srv.Params(s3test.Bucket, root)
	p.ChunkSize, p.MultipartCopyChunkSize, p.MultipartCopyMaxConcurrency, p.MultipartCopyThresholdSize = 0, 0, 0, 0
	drv, err := s3.New(b.Context(), p)
	if err != nil {
		b.Fatal(err)
	}
	app, err := registry.New(b.Context(), drv)
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(app)
	b.Cleanup(hs.Close)
	return hs.URL
}

// startDistributionS3 serves Distribution on its s3-aws driver with its
// default sizes, redirects off.
func startDistributionS3(b testing.TB, srv *s3test.Server, root string) string {
	logrus.SetOutput(io.Discard)
	cfg, err := configuration.Parse(strings.NewReader(fmt.Sprintf(`
version: 0.1
log:
  level: error
storage:
  s3:
    region: us-east-1
    regionendpoint: %s
    bucket: %s
    rootdirectory: /%s
    accesskey: %s
    secretkey: %s
    forcepathstyle: true
    secure: false
  redirect:
    disable: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  secret: benchmark
`, srv.Endpoint, s3test.Bucket, root, srv.AccessKey, srv.SecretKey)))
	if err != nil {
		b.Fatal(err)
	}
	app, err := newDistribution(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(app)
	b.Cleanup(func() {
		hs.Close()
		_ = app.Shutdown()
	})
	return hs.URL
}

// newDistribution turns NewApp's panics on bad configuration into errors.
func newDistribution(ctx context.Context, cfg *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handlers.NewApp: %v", p)
		}
	}()
	return handlers.NewApp(ctx, cfg), nil
}

// pushPull pushes the blob to base as docker does, then pulls it and
// checks its digest, measuring each and the heap's peak growth.
func pushPull(ctx context.Context, base, repo string, d digest.Digest, size int64) (transfer, error) {
	var tr transfer
	hc := &http.Client{}
	runtime.GC()
	idle := heapInuse()
	stop := sampleHeap()
	start := time.Now()
	err := push(ctx, hc, base, repo, d, size)
	tr.push, tr.pushHeap = time.Since(start), int64(stop())-int64(idle)
	if err != nil {
		return tr, fmt.Errorf("push: %w", err)
	}

	runtime.GC()
	idle = heapInuse()
	stop = sampleHeap()
	start = time.Now()
	err = pull(ctx, hc, base, repo, d, size)
	tr.pull, tr.pullHeap = time.Since(start), int64(stop())-int64(idle)
	if err != nil {
		return tr, fmt.Errorf("pull: %w", err)
	}
	return tr, nil
}

func push(ctx context.Context, hc *http.Client, base, repo string, d digest.Digest, size int64) error {
	resp, err := send(ctx, hc, "POST", base+"/v2/"+repo+"/blobs/uploads/", nil, -1, http.StatusAccepted)
	if err != nil {
		return err
	}
	loc, err := resolve(base, resp.Header.Get("Location"))
	if err != nil {
		return err
	}
	if resp, err = send(ctx, hc, "PATCH", loc, blobSource(size), size, http.StatusAccepted); err != nil {
		return err
	}
	if loc, err = resolve(base, resp.Header.Get("Location")); err != nil {
		return err
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	_, err = send(ctx, hc, "PUT", loc+sep+"digest="+d.String(), nil, -1, http.StatusCreated)
	return err
}

func pull(ctx context.Context, hc *http.Client, base, repo string, d digest.Digest, size int64) error {
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/v2/"+repo+"/blobs/"+d.String(), nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET: %s", resp.Status)
	}
	dg := digest.SHA256.Digester()
	n, err := io.Copy(dg.Hash(), resp.Body)
	if err != nil {
		return err
	}
	if n != size || dg.Digest() != d {
		return fmt.Errorf("GET: %d bytes hashing to %s, want %d bytes of %s", n, dg.Digest(), size, d)
	}
	return nil
}

// send does one request with a streamed body of size bytes (-1: none),
// drains the answer and checks its status.
func send(ctx context.Context, hc *http.Client, method, url string, body io.Reader, size int64, want int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %s %s", method, url, resp.Status, msg)
	}
	return resp, nil
}

// resolve makes an upload Location (relative for Berth, absolute for
// Distribution) absolute.
func resolve(base, loc string) (string, error) {
	if loc == "" {
		return "", fmt.Errorf("no Location")
	}
	if strings.HasPrefix(loc, "/") {
		return base + loc, nil
	}
	return loc, nil
}

func heapInuse() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// sampleHeap samples HeapInuse every 10 ms until stop, which returns the
// peak.
func sampleHeap() (stop func() uint64) {
	var (
		mu   sync.Mutex
		peak uint64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	sample := func() {
		h := heapInuse()
		mu.Lock()
		peak = max(peak, h)
		mu.Unlock()
	}
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
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
	return func() uint64 {
		close(done)
		wg.Wait()
		sample()
		return peak
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
