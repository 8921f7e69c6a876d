package memcache

import (
	"fmt"
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

// (from storage's tag list cache tests)
// The lists held stay within maxCachedListTags tags; a longer one is not
// held; a list used past half the TTL is read again in the background.
func TestTagListBoundsAndRenews(t *testing.T) {
	c := New(0, 10*time.Second)
	now := time.Now()
	long := make([]string, maxCachedListTags/3)
	for i := range 10 {
		_, epoch, _, _ := c.TagList(fmt.Sprint("r", i), now)
		c.RememberTagList(fmt.Sprint("r", i), long, now, epoch)
		if _, _, ok, _ := c.TagList(fmt.Sprint("r", i), now); !ok {
			t.Fatalf("list %d not cached just after it was remembered", i)
		}
		if c.listTags > maxCachedListTags || c.listTags != len(c.lists)*len(long) {
			t.Fatalf("%d lists of %d tags in all, want at most %d", len(c.lists), c.listTags, maxCachedListTags)
		}
	}
	_, epoch, _, _ := c.TagList("huge", now)
	c.RememberTagList("huge", make([]string, maxCachedListTags+1), now, epoch)
	if _, _, ok, _ := c.TagList("huge", now); ok {
		t.Errorf("a list over the bound was cached")
	}
	if _, _, ok, renew := c.TagList("r9", now.Add(4*time.Second)); !ok || renew {
		t.Errorf("within the first half of the TTL: ok %v, renew %v; want a hit without renewal", ok, renew)
	}
	if _, _, ok, renew := c.TagList("r9", now.Add(6*time.Second)); !ok || !renew {
		t.Errorf("past half the TTL: ok %v, renew %v; want a hit that renews", ok, renew)
	}
	if _, _, ok, renew := c.TagList("r9", now.Add(7*time.Second)); !ok || renew {
		t.Errorf("a second hit past half the TTL: ok %v, renew %v; want one renewal only", ok, renew)
	}
	if _, _, ok, _ := c.TagList("r9", now.Add(10*time.Second)); ok {
		t.Errorf("a list past its TTL was served")
	}
}
