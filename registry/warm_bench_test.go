package registry_test

import (
	"net/http"
	"testing"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/registry/storage/blobcache"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// BenchmarkWarmPaths measures what a node spends on a manifest GET by tag
// and a blob HEAD answered from its caches (the node cache and the blob
// descriptor cache, as "registry serve" sets them up, with no access log
// as in regbench), storage aside:
// issue 14 asks both to answer in 2 ms at the p50 with 20 ms of S3
// latency, so whatever a warm request costs here is what is left. Compare
// CPU and allocations per request before and after a change:
//
//	go test ./registry/ -run '^$' -bench WarmPaths -benchmem -count 6
func BenchmarkWarmPaths(b *testing.B) {
	c := blobcache.New(blobcache.NewMemory(0), nil, nil)
	defer c.Close()
	app, err := registry.New(b.Context(), inmemory.New(), registry.WithBlobDescriptorCache(c),
		registry.WithMemCache(storage.NewMemCache(0, 0)), registry.WithAccessLog(false), registry.WithDelete(true))
	if err != nil {
		b.Fatal(err)
	}
	pushImage(b, app, "bench/app", "v1", "")
	layer := pushBlob(b, app, "bench/app", []byte("a layer"))
	for _, req := range []struct{ name, method, target string }{
		{"manifest-get-by-tag", "GET", "/v2/bench/app/manifests/v1"},
		{"blob-head", "HEAD", "/v2/bench/app/blobs/" + layer.String()},
	} {
		b.Run(req.name, func(b *testing.B) {
			do(b, app, req.method, req.target, nil) // warm
			for b.Loop() {
				if rec := do(b, app, req.method, req.target, nil, "Accept", "application/vnd.oci.image.manifest.v1+json"); rec.Code != http.StatusOK {
					b.Fatalf("%s %s: %d", req.method, req.target, rec.Code)
				}
			}
		})
	}
}
