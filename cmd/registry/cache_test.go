package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/redis/go-redis/v9"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/registry/storage/blobcache"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// TestServeBlobCacheRedis: with storage.cache.blobdescriptor: redis, the
// blob HEADs after a push are answered from the cache and counted so; with
// the Redis killed they are answered from storage, /readyz stays 200, and
// the failures are counted and logged once; with it back, the cache serves
// again. The scrape passes promtool.
func TestServeBlobCacheRedis(t *testing.T) {
	rs := testutil.Redis(t)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config.yml", "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"+
		"storage:\n  filesystem:\n    rootdirectory: "+dir+"/data\n  cache:\n    blobdescriptor: redis\n"+
		"redis:\n  addrs: ["+rs.Addr+"]\n  dialtimeout: 100ms\n  readtimeout: 100ms\n  writetimeout: 100ms\n  maxretries: -1\n"+
		"http:\n  addr: 127.0.0.1:0\n  debug:\n    addr: 127.0.0.1:0\n    prometheus:\n      enabled: true\n")
	s := startServe(t, []string{"serve", cfg}, nil)
	metricsURL := "http://" + debugAddr(t, s.line) + "/metrics"
	base := "http://" + s.addr + "/v2/"

	blob := []byte("a layer pushed through a registry with a redis cache")
	d := digest.FromBytes(blob)
	resp, err := http.Post(base+"app/blobs/uploads/?digest="+d.String(), "application/octet-stream", bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("monolithic upload: %d", resp.StatusCode)
	}
	head := func(n int) {
		t.Helper()
		for range n {
			req, _ := http.NewRequest("HEAD", base+"app/blobs/"+d.String(), nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(blob)) {
				t.Fatalf("HEAD: %d, %d bytes", resp.StatusCode, resp.ContentLength)
			}
		}
	}
	const fromCache = `berth_content_served_total{kind="blob",source="cache"}`
	const fromStorage = `berth_content_served_total{kind="blob",source="storage"}`
	head(3)
	_, samples := scrapeMetrics(t, metricsURL)
	checkSeries(t, samples, []wantSeries{
		{fromCache, 3},
		{fromStorage, 0},
		{`berth_blob_descriptor_cache_lookups_total{cache="redis",result="hit"}`, 6}, // a link and a size each
	})

	rs.Stop()
	head(5)
	if code := get(t, http.DefaultClient, "http://"+s.addr+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz with the cache down: %d, want 200", code)
	}
	_, samples = scrapeMetrics(t, metricsURL)
	checkSeries(t, samples, []wantSeries{{fromCache, 3}, {fromStorage, 5}})
	if samples[`berth_blob_descriptor_cache_errors_total{cache="redis",operation="get"}`] < 5 {
		t.Errorf("cache errors not counted: %v", samples[`berth_blob_descriptor_cache_errors_total{cache="redis",operation="get"}`])
	}
	if n := strings.Count(s.stderr.String(), "blob descriptor cache failing"); n != 1 {
		t.Errorf("%d log lines for the failures, want 1 a minute:\n%s", n, s.stderr)
	}

	rs.Restart()
	time.Sleep(blobcache.RetryAfter + 100*time.Millisecond)
	head(2) // the first fills the empty Redis, the second is a hit
	raw, samples := scrapeMetrics(t, metricsURL)
	checkSeries(t, samples, []wantSeries{{fromCache, 4}, {fromStorage, 6}})
	if t.Failed() {
		t.Logf("scrape:\n%s", raw)
	}
	promtoolCheck(t, raw)
}

// TestServeBlobCacheInMemory: storage.cache.blobdescriptor: inmemory with
// its size serves repeated HEADs from the cache.
func TestServeBlobCacheInMemory(t *testing.T) {
	cfg := writeFile(t, t.TempDir(), "config.yml", "version: 0.1\nlog:\n  level: error\n"+
		"storage:\n  inmemory:\n  cache:\n    blobdescriptor: inmemory\n    blobdescriptorsize: 100\n"+
		"http:\n  addr: 127.0.0.1:0\n  debug:\n    addr: 127.0.0.1:0\n    prometheus:\n      enabled: true\n")
	s := startServe(t, []string{"serve", cfg}, nil)
	if !strings.Contains(s.line, ", blob descriptor cache inmemory") {
		t.Errorf("start-up line %q does not name the cache", s.line)
	}
	base := "http://" + s.addr + "/v2/"
	blob := []byte("layer")
	d := digest.FromBytes(blob)
	resp, err := http.Post(base+"app/blobs/uploads/?digest="+d.String(), "application/octet-stream", bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for range 2 {
		if code := get(t, http.DefaultClient, base+"app/blobs/"+d.String()); code != http.StatusOK {
			t.Fatalf("GET blob: %d", code)
		}
	}
	_, samples := scrapeMetrics(t, "http://"+debugAddr(t, s.line)+"/metrics")
	checkSeries(t, samples, []wantSeries{
		{`berth_content_served_total{kind="blob",source="cache"}`, 2},
		{`berth_blob_descriptor_cache_lookups_total{cache="inmemory",result="hit"}`, 4},
	})
}

// TestGCCommandForgetsInRedis: registry gc, with the redis cache
// configured, deletes the cache's keys of what it deletes, so that every
// serving node sees the deletion at once.
func TestGCCommandForgetsInRedis(t *testing.T) {
	rs := testutil.Redis(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "data")
	drv, err := filesystem.New(root)
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{rs.Addr}})
	defer client.Close()
	s := storage.New(drv, storage.WithBlobDescriptorCache(blobcache.New(blobcache.NewRedis(client), nil, nil)))
	ctx := t.Context()
	u, err := s.StartUpload(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	blob := []byte("uploaded, never referenced")
	d := digest.FromBytes(blob)
	if _, err := u.Commit(ctx, d, bytes.NewReader(blob), 0); err != nil {
		t.Fatal(err)
	}
	keys := []string{"berth::blobs::" + d.String(), "berth::repository::app::blobs::" + d.String()}
	if n := client.Exists(ctx, keys...).Val(); n != 2 {
		t.Fatalf("%d of the keys %q after the push, want 2", n, keys)
	}
	// Three hours pass for the storage.
	at := time.Now().Add(-3 * time.Hour)
	_ = filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			err = os.Chtimes(p, at, at)
		}
		return err
	})
	cfg := writeFile(t, dir, "config.yml", "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: "+root+
		"\n  cache:\n    blobdescriptor: redis\nredis:\n  addrs: ["+rs.Addr+"]\n")
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"gc", cfg}, nil, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), ", 1 blobs") {
		t.Fatalf("gc: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if n := client.Exists(ctx, keys...).Val(); n != 0 {
		t.Errorf("%d of the keys %q left after gc deleted the blob", n, keys)
	}
}

// TestServeBlobCacheRedisWithoutAddrs: blobdescriptor: redis without a
// server to use stops start-up with one line (Distribution panics).
func TestServeBlobCacheRedisWithoutAddrs(t *testing.T) {
	cfg := writeFile(t, t.TempDir(), "config.yml", "version: 0.1\nstorage:\n  inmemory:\n  cache:\n    blobdescriptor: redis\n")
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"serve", cfg}, nil, &stdout, &stderr); code != exitUsage {
		t.Errorf("exit code %d, want %d", code, exitUsage)
	}
	if want := "registry: config: storage.cache.blobdescriptor: redis needs redis.addrs (host:port of the server)\n"; stderr.String() != want {
		t.Errorf("stderr\n got %q\nwant %q", stderr.String(), want)
	}
}
