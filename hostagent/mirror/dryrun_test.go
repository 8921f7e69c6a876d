package mirror

import (
	"sync"
	"testing"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/registry/client"
)

// TestDryRunCountsASharedBlobOnce: a dry run into the store counts a blob
// that several images fetch at once as copied once and skipped by the
// others, as the real run would fetch it once.
func TestDryRunCountsASharedBlobOnce(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := &syncer{m: &Mirror{store: st}, known: newKnownBlobs(), dryRun: true}
	base := v1.Descriptor{MediaType: v1.MediaTypeImageLayerGzip, Digest: digest.FromString("a shared base"), Size: 1234}
	const images = 16
	stats := make([]imageStats, images)
	var start sync.WaitGroup
	start.Add(1)
	var wg sync.WaitGroup
	for i := range images {
		wg.Go(func() {
			start.Wait()
			if err := s.fetchBlob(t.Context(), client.Reference{}, base, &stats[i]); err != nil {
				t.Error(err)
			}
		})
	}
	start.Done()
	wg.Wait()
	var copied, skipped int
	var bytes int64
	for i := range stats {
		copied += stats[i].blobs.Copied
		skipped += stats[i].blobs.Skipped
		bytes += stats[i].bytes
	}
	if copied != 1 || skipped != images-1 || bytes != base.Size {
		t.Fatalf("copied %d, skipped %d, %d bytes; want 1, %d, %d", copied, skipped, bytes, images-1, base.Size)
	}
}
