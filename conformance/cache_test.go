package conformance_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/storage/blobcache"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// TestConformanceBlobCacheInMemory runs the suite on the filesystem driver
// with storage.cache.blobdescriptor: inmemory. The redis cache runs the
// suite in TestMetricsAfterConformance.
func TestConformanceBlobCacheInMemory(t *testing.T) {
	t.Parallel()
	bin := suiteBinary(t)
	fsd, err := filesystem.New(t.TempDir())
	must(t, err)
	cache := blobcache.New(blobcache.NewMemory(0), nil, nil)
	srv := registrytest.Start(t, fsd, append(suiteOptions(), registry.WithBlobDescriptorCache(cache))...)
	runSuite(t, bin, srv.Host, "filesystem, inmemory blob descriptor cache")
}

// redisCache is a blob descriptor cache in a redis-server of the test's
// own, reporting to obs.
func redisCache(t *testing.T, obs blobcache.Observer) *blobcache.Cache {
	t.Helper()
	rs := testutil.Redis(t)
	c := blobcache.New(blobcache.NewRedis(redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{rs.Addr}})), obs, nil)
	t.Cleanup(func() { c.Close() })
	return c
}
