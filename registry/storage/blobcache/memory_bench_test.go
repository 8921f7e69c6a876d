package blobcache

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// BenchmarkMemoryLink sets and looks up links of many repositories, past
// the bound (evicting), with the public API only, so that it runs against
// earlier versions of the package too.
func BenchmarkMemoryLink(b *testing.B) {
	ctx := context.Background()
	repos := make([]string, 4*DefaultMemorySize)
	for i := range repos {
		repos[i] = fmt.Sprintf("catalog/repo-%05d", i)
	}
	ds := []digest.Digest{digest.FromString("config"), digest.FromString("layer"), digest.FromString("manifest")}
	m := NewMemory(0)
	at := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r, d := repos[i%len(repos)], ds[i%len(ds)]
		if err := m.SetLink(ctx, r, d, at, time.Minute); err != nil {
			b.Fatal(err)
		}
		if _, ok, _ := m.Link(ctx, r, d); !ok {
			b.Fatal("a link just set is missing")
		}
		// Set 5,000 links ago: a hit, once there is one.
		j := (i + len(repos) - DefaultMemorySize/2) % len(repos)
		_, _, _ = m.Link(ctx, repos[j], ds[j%len(ds)])
		_, _, _ = m.Link(ctx, repos[(i+len(repos)/2)%len(repos)], d) // evicted: a miss
		i++
	}
}
