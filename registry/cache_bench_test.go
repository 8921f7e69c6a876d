package registry_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/storage/blobcache"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/filesystem"
	"github.com/berth-registry/berth/storagedriver/observed"
)

// opCounter counts storage operations.
type opCounter struct{ n atomic.Int64 }

func (c *opCounter) StorageOp(string, string, time.Duration, error) { c.n.Add(1) }

// BenchmarkBlobHead measures a blob HEAD without a blob descriptor cache
// and with each kind (redis: a redis-server of the benchmark's own on
// loopback), on the filesystem driver and on S3 (versitygw on loopback).
// With a cache, a HEAD reads the link and the size from it and still
// relies on the blob (one Stat of its used record): one storage request
// instead of three. Compare the rows of one run:
//
//	go test ./registry/ -run '^$' -bench BlobHead -count 6 | benchstat -col /cache -
func BenchmarkBlobHead(b *testing.B) {
	drivers := map[string]func(b *testing.B) storagedriver.Driver{
		"filesystem": func(b *testing.B) storagedriver.Driver {
			d, err := filesystem.New(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return d
		},
		"s3": func(b *testing.B) storagedriver.Driver { return s3test.NewDriver(b) },
	}
	for _, run := range []struct{ driver, kind string }{
		{"filesystem", "off"}, {"filesystem", "inmemory"}, {"filesystem", "redis"},
		{"s3", "off"}, {"s3", "inmemory"}, {"s3", "redis"},
	} {
		kind := run.kind
		b.Run("driver="+run.driver+"/cache="+kind, func(b *testing.B) {
			d := drivers[run.driver](b)
			var c *blobcache.Cache
			switch kind {
			case "inmemory":
				c = blobcache.New(blobcache.NewMemory(0), nil, nil)
			case "redis":
				client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{testutil.Redis(b).Addr}})
				c = blobcache.New(blobcache.NewRedis(client), nil, nil)
			}
			defer c.Close()
			ops := &opCounter{}
			app, err := registry.New(b.Context(), observed.Wrap(d, ops), registry.WithBlobDescriptorCache(c))
			if err != nil {
				b.Fatal(err)
			}
			dg := pushBlob(b, app, "bench/app", make([]byte, 64<<10))
			ops.n.Store(0)
			for b.Loop() {
				if rec := do(b, app, "HEAD", "/v2/bench/app/blobs/"+dg.String(), nil); rec.Code != http.StatusOK {
					b.Fatalf("HEAD: %d", rec.Code)
				}
			}
			b.ReportMetric(float64(ops.n.Load())/float64(b.N), "storage-ops/op")
		})
	}
}
