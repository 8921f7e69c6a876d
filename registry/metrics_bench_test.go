package registry_test

import (
	"encoding/binary"
	"net/http"
	"testing"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/metrics"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/filesystem"
	"github.com/berth-registry/berth/storagedriver/inmemory"
	"github.com/berth-registry/berth/storagedriver/observed"
)

// BenchmarkPushPull measures what metrics cost on the hot path: each
// iteration pushes a fresh 64 KiB blob (monolithic POST), then HEADs and
// GETs it, with metrics off and on (app metrics and the driver wrapper),
// on the in-memory driver (where per-request overhead shows most) and on
// the filesystem driver (fsyncs included). Compare on and off of one run:
//
//	go test ./registry/ -run '^$' -bench PushPull -count 6 | benchstat -col /metrics -
func BenchmarkPushPull(b *testing.B) {
	for _, drv := range []struct {
		name string
		new  func(b *testing.B) storagedriver.Driver
	}{
		{"inmemory", func(*testing.B) storagedriver.Driver { return inmemory.New() }},
		{"filesystem", func(b *testing.B) storagedriver.Driver {
			d, err := filesystem.New(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return d
		}},
	} {
		for _, on := range []bool{false, true} {
			name := "driver=" + drv.name + "/metrics=off"
			if on {
				name = "driver=" + drv.name + "/metrics=on"
			}
			b.Run(name, func(b *testing.B) {
				d := drv.new(b)
				opts := []registry.Option{registry.WithDelete(true)}
				if on {
					m, err := metrics.New()
					if err != nil {
						b.Fatal(err)
					}
					d = observed.Wrap(d, m)
					opts = append(opts, registry.WithMetrics(m))
				}
				app, err := registry.New(b.Context(), d, opts...)
				if err != nil {
					b.Fatal(err)
				}
				blob := make([]byte, 64<<10)
				b.SetBytes(int64(len(blob)))
				var i uint64
				for b.Loop() {
					i++
					binary.LittleEndian.PutUint64(blob, i) // a new blob each time
					dg := pushBlob(b, app, "bench/app", blob)
					if rec := do(b, app, "HEAD", "/v2/bench/app/blobs/"+dg.String(), nil); rec.Code != http.StatusOK {
						b.Fatalf("HEAD: %d", rec.Code)
					}
					if rec := do(b, app, "GET", "/v2/bench/app/blobs/"+dg.String(), nil); rec.Code != http.StatusOK || rec.Body.Len() != len(blob) {
						b.Fatalf("GET: %d, %d bytes", rec.Code, rec.Body.Len())
					}
				}
			})
		}
	}
}
