package blobcache

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/opencontainers/go-digest"
	"github.com/redis/go-redis/v9"

	"github.com/berth-registry/berth/internal/testutil"
)

func newRedisClient(t *testing.T, addr string) redis.UniversalClient {
	t.Helper()
	c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{addr}, MaxRetries: -1,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	t.Cleanup(func() { c.Close() })
	return c
}

// backends runs f on each backend: inmemory, and redis on a server of the
// test's own.
func backends(t *testing.T, f func(t *testing.T, b Backend)) {
	t.Run("inmemory", func(t *testing.T) { f(t, NewMemory(0)) })
	t.Run("redis", func(t *testing.T) { f(t, NewRedis(newRedisClient(t, testutil.Redis(t).Addr))) })
}

func TestBackendRoundTrip(t *testing.T) {
	backends(t, func(t *testing.T, b Backend) {
		ctx := t.Context()
		d := digest.FromString("a")
		at := time.Unix(1700000000, 123456789)
		if _, ok, err := b.Descriptor(ctx, d); ok || err != nil {
			t.Fatalf("empty cache: Descriptor = %v, %v", ok, err)
		}
		if err := b.SetDescriptor(ctx, d, Descriptor{Size: 42, Verified: at}, time.Minute); err != nil {
			t.Fatal(err)
		}
		got, ok, err := b.Descriptor(ctx, d)
		if !ok || err != nil || got.Size != 42 || !got.Verified.Equal(at) {
			t.Fatalf("Descriptor = %+v, %v, %v", got, ok, err)
		}
		if err := b.SetLink(ctx, "team/app", d, at, time.Minute); err != nil {
			t.Fatal(err)
		}
		if v, ok, err := b.Link(ctx, "team/app", d); !ok || err != nil || !v.Equal(at) {
			t.Fatalf("Link = %v, %v, %v", v, ok, err)
		}
		if _, ok, _ := b.Link(ctx, "team/other", d); ok {
			t.Fatal("a link of another repository")
		}
		if v, linkOK, desc, descOK, err := b.Lookup(ctx, "team/app", d); !linkOK || !descOK || err != nil || !v.Equal(at) || desc.Size != 42 {
			t.Fatalf("Lookup = %v, %v, %+v, %v, %v", v, linkOK, desc, descOK, err)
		}
		if _, linkOK, _, descOK, err := b.Lookup(ctx, "team/other", d); linkOK || !descOK || err != nil {
			t.Fatalf("Lookup in another repository = %v, %v, %v", linkOK, descOK, err)
		}
		if err := b.ForgetLink(ctx, "team/app", d); err != nil {
			t.Fatal(err)
		}
		if err := b.ForgetBlob(ctx, d); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := b.Link(ctx, "team/app", d); ok {
			t.Error("link survived ForgetLink")
		}
		if _, ok, _ := b.Descriptor(ctx, d); ok {
			t.Error("descriptor survived ForgetBlob")
		}
	})
}

func TestMemoryBound(t *testing.T) {
	m := NewMemory(2)
	ctx := context.Background()
	var ds []digest.Digest
	for _, s := range []string{"a", "b", "c"} {
		d := digest.FromString(s)
		ds = append(ds, d)
		if err := m.SetDescriptor(ctx, d, Descriptor{Size: 1}, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := m.SetLink(ctx, "app", d, time.Now(), time.Minute); err != nil {
			t.Fatal(err)
		}
		if s == "b" {
			_, _, _ = m.Descriptor(ctx, ds[0]) // a is used again: b is now the oldest
		}
	}
	if b, l := m.Len(); b != 2 || l != 2 {
		t.Fatalf("Len = %d, %d, want 2, 2", b, l)
	}
	if _, ok, _ := m.Descriptor(ctx, ds[1]); ok {
		t.Error("the least recently used descriptor was kept")
	}
	if _, ok, _ := m.Descriptor(ctx, ds[0]); !ok {
		t.Error("a recently used descriptor was evicted")
	}
}

// Links of one blob share its digest's string: with the descriptor's, or
// with a link set shortly before.
func TestMemoryLinksShareDigests(t *testing.T) {
	m := NewMemory(0)
	ctx := context.Background()
	described, linked := digest.FromString("described"), digest.FromString("linked")
	if err := m.SetDescriptor(ctx, described, Descriptor{Size: 1}, time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, repo := range []string{"a", "b"} {
		for _, d := range []digest.Digest{described, linked} {
			// A copy, as a request's digest is a slice of its own line.
			if err := m.SetLink(ctx, repo, digest.Digest(strings.Clone(string(d))), time.Now(), time.Minute); err != nil {
				t.Fatal(err)
			}
		}
	}
	key := func(repo string, d digest.Digest) *byte {
		k, _ := m.links.key(linkKey{repo, d})
		return unsafe.StringData(string(k.d))
	}
	if key("a", described) != unsafe.StringData(string(heldDigest(m, described))) || key("b", described) != key("a", described) {
		t.Error("links of a described blob do not share its descriptor's digest")
	}
	if key("a", linked) == nil || key("a", linked) != key("b", linked) {
		t.Error("links of one blob set in a row do not share its digest")
	}
	if _, ok, _ := m.Link(ctx, "b", linked); !ok {
		t.Error("a link with a shared digest is not found")
	}
}

func TestRedisExpiresAndDropsDamage(t *testing.T) {
	srv := testutil.Redis(t)
	c := newRedisClient(t, srv.Addr)
	r := NewRedis(c)
	ctx := t.Context()
	d := digest.FromString("x")
	if err := r.SetLink(ctx, "app", d, time.Now(), 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if ttl := c.PTTL(ctx, linkKeyOf("app", d)).Val(); ttl <= 0 || ttl > 50*time.Millisecond {
		t.Errorf("link key TTL = %v, want at most 50ms", ttl)
	}
	time.Sleep(100 * time.Millisecond)
	if _, ok, err := r.Link(ctx, "app", d); ok || err != nil {
		t.Errorf("expired link = %v, %v", ok, err)
	}
	// A key of the right name but not of Berth's making is a miss, and goes.
	c.HSet(ctx, blobKey(d), "size", "many", "verified", "1")
	if _, ok, err := r.Descriptor(ctx, d); ok || err != nil {
		t.Errorf("damaged descriptor = %v, %v", ok, err)
	}
	if n := c.Exists(ctx, blobKey(d)).Val(); n != 0 {
		t.Error("damaged descriptor kept")
	}
}

// TestCacheDown: a backend that fails answers misses, is left alone for
// RetryAfter, and is logged once however many requests fail.
func TestCacheDown(t *testing.T) {
	srv := testutil.Redis(t)
	var logs bytes.Buffer
	c := New(NewRedis(newRedisClient(t, srv.Addr)), nil, slog.New(slog.NewTextHandler(&logs, nil)))
	ctx := t.Context()
	d := digest.FromString("y")
	c.SetDescriptor(ctx, d, Descriptor{Size: 7, Verified: time.Now()}, time.Minute)
	if _, ok := c.Descriptor(ctx, d, time.Time{}); !ok {
		t.Fatal("miss with Redis up")
	}
	if _, ok := c.Descriptor(ctx, d, time.Now().Add(time.Hour)); ok {
		t.Fatal("an entry older than notBefore was trusted")
	}
	srv.Stop()
	start := time.Now()
	for range 20 {
		if _, ok := c.Descriptor(ctx, d, time.Time{}); ok {
			t.Fatal("hit with Redis down")
		}
		if _, ok := c.Link(ctx, "app", d, time.Time{}); ok {
			t.Fatal("link hit with Redis down")
		}
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("40 lookups with Redis down took %v", el)
	}
	if n := strings.Count(logs.String(), "blob descriptor cache failing"); n != 1 {
		t.Errorf("%d log lines for 40 failures, want 1:\n%s", n, logs.String())
	}
}

// TestCacheCanceledIsNoFailure: a lookup cut short by its request's
// cancellation does not make the cache leave a working backend alone.
func TestCacheCanceledIsNoFailure(t *testing.T) {
	srv := testutil.Redis(t)
	c := New(NewRedis(newRedisClient(t, srv.Addr)), nil, nil)
	d := digest.FromString("z")
	c.SetDescriptor(t.Context(), d, Descriptor{Size: 1, Verified: time.Now()}, time.Minute)
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	if _, ok := c.Descriptor(canceled, d, time.Time{}); ok {
		t.Fatal("hit on a canceled context")
	}
	if _, ok := c.Descriptor(t.Context(), d, time.Time{}); !ok {
		t.Fatal("the next request missed: a cancellation was taken for a failing backend")
	}
}

func heldDigest(m *Memory, d digest.Digest) digest.Digest {
	k, _ := m.blobs.key(d)
	return k
}
