package memcache

import (
	"fmt"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// The used records' times come back as remembered, by a digest's value;
// a forgotten blob's goes, other algorithms are not cached, and the
// entries stay under their bound.
func TestUsedRecords(t *testing.T) {
	c := New(0, 0)
	d := digest.FromString("layer")
	at := time.Date(2026, 12, 5, 10, 0, 0, 123456789, time.UTC)
	if _, ok := c.UsedAt(d); ok {
		t.Fatal("a used time before any was remembered")
	}
	c.RememberUsed(d, at)
	if got, ok := c.UsedAt(d); !ok || !got.Equal(at) {
		t.Fatalf("UsedAt = %v, %v; want %v", got, ok, at)
	}
	// The same digest as another string (a request's) finds it too.
	if got, ok := c.UsedAt(digest.Digest(string([]byte(d.String())))); !ok || !got.Equal(at) {
		t.Fatalf("UsedAt of a copy = %v, %v", got, ok)
	}
	if _, ok := c.UsedAt(digest.FromString("other")); ok {
		t.Error("a digest never remembered has a used time")
	}
	c.ForgetBlob(d)
	if _, ok := c.UsedAt(d); ok {
		t.Error("a forgotten blob keeps its used time")
	}

	d512 := digest.SHA512.FromString("layer")
	c.RememberUsed(d512, at)
	if _, ok := c.UsedAt(d512); ok {
		t.Error("a sha512 digest was cached")
	}
	for _, bad := range []digest.Digest{"sha256:xyz", "sha256:" + digest.Digest(fmt.Sprintf("%064d", 0))[:63], "nonsense"} {
		c.RememberUsed(bad, at)
		if _, ok := c.UsedAt(bad); ok {
			t.Errorf("%q was cached", bad)
		}
	}

	for i := range maxCachedUsed + 100 {
		c.RememberUsed(digest.FromString(fmt.Sprint(i)), at)
	}
	if _, _, _, n := c.Len(); n > maxCachedUsed {
		t.Errorf("%d used records held, bound %d", n, maxCachedUsed)
	}
	if _, ok := c.UsedAt(digest.FromString(fmt.Sprint(maxCachedUsed + 99))); !ok {
		t.Error("the record remembered last was dropped")
	}
}
