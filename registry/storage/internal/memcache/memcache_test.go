package memcache

import (
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// The bound on bytes holds (from storage's TestMemCacheForgetsAndBounds,
// whose first half checks the forgetting through a store).
func TestBounds(t *testing.T) {
	small := New(64<<10, time.Hour)
	payload := make([]byte, 1000)
	for i := range 1000 {
		payload[0] = byte(i)
		payload[1] = byte(i >> 8)
		d := digest.FromBytes(payload)
		small.PutManifest(&Manifest{Digest: d, Payload: append([]byte(nil), payload...)})
		if _, ok := small.Manifest(d); !ok {
			t.Fatalf("manifest %d not cached just after its put", i)
		}
	}
	n, bytes, _, _ := small.Len()
	if bytes > 64<<10 || n == 0 || int64(n)*entrySize(&Manifest{Payload: payload}) != bytes {
		t.Errorf("%d manifests of %d bytes in all, want at most %d", n, bytes, 64<<10)
	}
	big := &Manifest{Digest: digest.FromString("big"), Payload: make([]byte, 16<<10)}
	small.PutManifest(big)
	if _, ok := small.Manifest(big.Digest); ok {
		t.Errorf("a manifest over an eighth of the bound was cached")
	}
}
