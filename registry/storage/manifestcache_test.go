package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/blobcache"
	"github.com/berth-registry/berth/registry/storage/internal/layout"
)

// getTag resolves repo:ref through GetManifest and returns the digest
// served, or the error.
func getTag(t *testing.T, s *Store, repo, ref string) (digest.Digest, error) {
	t.Helper()
	m, err := s.GetManifest(context.Background(), repo, ref)
	if err != nil {
		return "", err
	}
	if got := m.Digest.Algorithm().FromBytes(m.Payload); got != m.Digest {
		t.Fatalf("GET %s:%s served bytes of %s as %s", repo, ref, got, m.Digest)
	}
	return m.Digest, nil
}

func wantTag(t *testing.T, s *Store, repo, ref string, want digest.Digest) {
	t.Helper()
	got, err := getTag(t, s, repo, ref)
	if err != nil || got != want {
		t.Fatalf("GET %s:%s = %s, %v; want %s", repo, ref, got, err, want)
	}
}

func wantUnknown(t *testing.T, s *Store, repo, ref string) {
	t.Helper()
	if got, err := getTag(t, s, repo, ref); !errors.Is(err, ErrManifestUnknown) {
		t.Fatalf("GET %s:%s = %s, %v; want ErrManifestUnknown", repo, ref, got, err)
	}
}

// Every write and delete on a node is seen by the node's next GET (the
// conformance tests' read-your-writes), and a repeated GET by tag or blob
// HEAD is answered without a storage request once the caches know it.
func TestMemCacheReadYourWrites(t *testing.T) {
	for _, withBlobCache := range []bool{false, true} {
		t.Run(fmt.Sprintf("blobcache=%v", withBlobCache), func(t *testing.T) {
			ctx := context.Background()
			fs := newFS(t)
			drv := &countingDriver{Driver: fs}
			mem := NewMemCache(0, time.Hour)
			opts := []Option{WithMemCache(mem)}
			if withBlobCache {
				opts = append(opts, WithBlobDescriptorCache(blobcache.New(blobcache.NewMemory(0), nil, nil)))
			}
			s := New(drv, opts...)
			m1, _, ls := image(t, s, "team/app", "v", "config 1", "layer 1")
			m2, _, _ := image(t, s, "team/app", "", "config 2", "layer 2")

			wantTag(t, s, "team/app", "v", m1)
			drv.ops.Store(0)
			wantTag(t, s, "team/app", "v", m1)
			if _, err := s.StatBlob(ctx, "team/app", ls[0]); err != nil {
				t.Fatal(err)
			}
			// Without the descriptor cache, the revision link and the
			// blob's link and size are read from storage.
			want := int64(0)
			if !withBlobCache {
				want = 1 + 2
			}
			if n := drv.ops.Load(); n != want {
				t.Errorf("a repeated GET by tag and a HEAD made %d storage requests, want %d", n, want)
			}

			// A tag moved by a PUT.
			if _, err := s.PutManifest(ctx, "team/app", "v", "", mustPayload(t, s, m2), nil); err != nil {
				t.Fatal(err)
			}
			wantTag(t, s, "team/app", "v", m2)
			// Moved back by a tag of the same store (Tag).
			if err := s.Tag(ctx, "team/app", "v", m1); err != nil {
				t.Fatal(err)
			}
			wantTag(t, s, "team/app", "v", m1)
			// A tag DELETE.
			if err := s.DeleteManifest(ctx, "team/app", "v"); err != nil {
				t.Fatal(err)
			}
			wantUnknown(t, s, "team/app", "v")
			// A manifest DELETE takes its tags along.
			if err := s.Tag(ctx, "team/app", "w", m2); err != nil {
				t.Fatal(err)
			}
			wantTag(t, s, "team/app", "w", m2)
			wantTag(t, s, "team/app", m2.String(), m2)
			if err := s.DeleteManifest(ctx, "team/app", m2.String()); err != nil {
				t.Fatal(err)
			}
			wantUnknown(t, s, "team/app", "w")
			wantUnknown(t, s, "team/app", m2.String())
			// Retention's untag.
			if err := s.Tag(ctx, "team/app", "old", m1); err != nil {
				t.Fatal(err)
			}
			wantTag(t, s, "team/app", "old", m1)
			p, err := s.NewPruner(ctx, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if why, err := p.Untag(ctx, "team/app", "old", m1); err != nil || why != "" {
				t.Fatalf("Untag: %q, %v", why, err)
			}
			wantUnknown(t, s, "team/app", "old")
			// A repository delete.
			if err := s.Tag(ctx, "team/app", "v", m1); err != nil {
				t.Fatal(err)
			}
			wantTag(t, s, "team/app", "v", m1)
			if _, err := s.DeleteRepository(ctx, "team/app", nil); err != nil {
				t.Fatal(err)
			}
			wantUnknown(t, s, "team/app", "v")
			wantUnknown(t, s, "team/app", m1.String())
		})
	}
}

func mustPayload(t *testing.T, s *Store, d digest.Digest) []byte {
	t.Helper()
	b, err := s.driver.GetContent(context.Background(), layout.BlobDataPath(d))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// With several nodes on one storage, each with its own cache, a tag moved
// or deleted on one node is seen by another within the tag TTL (bounded
// staleness, measured on the reading node's clock), and a manifest
// deleted on one node is gone at once on the others, whose links come from
// storage (without a shared descriptor cache, doc.go).
func TestMemCacheTwoNodesStaleness(t *testing.T) {
	const ttl = 2 * time.Second
	fs := newFS(t)
	a := New(fs, WithMemCache(NewMemCache(0, ttl)))
	b := New(fs, WithMemCache(NewMemCache(0, ttl)))
	var skew atomic.Int64 // b's clock runs ahead by this
	b.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	ctx := context.Background()

	m1, _, _ := image(t, a, "team/app", "v", "config 1", "layer 1")
	m2, _, _ := image(t, a, "team/app", "", "config 2", "layer 2")
	wantTag(t, b, "team/app", "v", m1)

	if err := a.Tag(ctx, "team/app", "v", m2); err != nil {
		t.Fatal(err)
	}
	wantTag(t, a, "team/app", "v", m2)
	wantTag(t, b, "team/app", "v", m1) // stale, within the TTL
	skew.Store(int64(ttl))
	wantTag(t, b, "team/app", "v", m2) // the TTL bounds it

	if err := a.DeleteManifest(ctx, "team/app", "v"); err != nil {
		t.Fatal(err)
	}
	wantTag(t, b, "team/app", "v", m2) // stale, within the TTL
	skew.Store(int64(2 * ttl))
	wantUnknown(t, b, "team/app", "v")

	// By digest: the manifest's bytes are cached on b, its revision link
	// is not.
	wantTag(t, b, "team/app", m1.String(), m1)
	if err := a.DeleteManifest(ctx, "team/app", m1.String()); err != nil {
		t.Fatal(err)
	}
	wantUnknown(t, b, "team/app", m1.String())

	// A TTL below zero turns the tag cache off: no staleness at all.
	c := New(fs, WithMemCache(NewMemCache(0, -1)))
	if err := a.Tag(ctx, "team/app", "x", m2); err != nil {
		t.Fatal(err)
	}
	wantTag(t, c, "team/app", "x", m2)
	if err := a.DeleteManifest(ctx, "team/app", "x"); err != nil {
		t.Fatal(err)
	}
	wantUnknown(t, c, "team/app", "x")
}

// slowTagReads is a driver whose reads of a tag's current link, once
// armed, hold their answer until released: a GET that read a tag before a
// write and goes on after it.
type slowTagReads struct {
	*fsDriver
	armed   atomic.Bool
	read    chan struct{} // a held read got its answer
	release chan struct{}
}

func (d *slowTagReads) GetContent(ctx context.Context, p string) ([]byte, error) {
	b, err := d.fsDriver.GetContent(ctx, p)
	if strings.HasSuffix(p, "/current/link") && d.armed.CompareAndSwap(true, false) {
		d.read <- struct{}{}
		<-d.release
	}
	return b, err
}

// A tag write that returned is seen by every GET that starts after it on
// the same node, even when a GET that read the old value before the write
// finishes after it: it must not leave what it read in the cache.
func TestMemCacheTagWriteRacesGet(t *testing.T) {
	drv := &slowTagReads{fsDriver: newFS(t), read: make(chan struct{}), release: make(chan struct{})}
	s := New(drv, WithMemCache(NewMemCache(0, time.Hour)))
	ctx := context.Background()
	m1, _, _ := image(t, s, "team/app", "v", "config 1")
	m2, _, _ := image(t, s, "team/app", "", "config 2")
	drv.armed.Store(true)
	slow := make(chan digest.Digest, 1)
	go func() {
		m, err := s.GetManifest(ctx, "team/app", "v")
		if err != nil {
			t.Error(err)
			slow <- ""
			return
		}
		slow <- m.Digest
	}()
	<-drv.read // the slow GET read v -> m1
	if err := s.Tag(ctx, "team/app", "v", m2); err != nil {
		t.Fatal(err)
	}
	close(drv.release)
	if got := <-slow; got != m1 {
		t.Fatalf("the slow GET served %s, want the %s it read", got, m1)
	}
	wantTag(t, s, "team/app", "v", m2)
}

// The collector and scrub of a store sharing the cache make it forget the
// blobs they delete (the bound on bytes: internal/memcache's TestBounds).
func TestMemCacheForgetsAndBounds(t *testing.T) {
	fs := newFS(t)
	mem := NewMemCache(0, time.Hour)
	s := New(fs, WithMemCache(mem), WithGCGrace(time.Millisecond))
	ctx := context.Background()
	m1, _, _ := image(t, s, "team/app", "", "config 1", "layer 1")
	wantTag(t, s, "team/app", m1.String(), m1)
	if n, _, _, _ := mem.Len(); n != 1 {
		t.Fatalf("%d manifests cached, want 1", n)
	}
	waitOld()
	if _, err := s.CollectGarbage(ctx, GCOptions{Grace: time.Millisecond, DeleteUntagged: true}); err != nil {
		t.Fatal(err)
	}
	if n, _, _, used := mem.Len(); n != 0 || used != 0 {
		t.Errorf("after the collector deleted the manifest: %d manifests, %d used records cached, want 0", n, used)
	}
	wantUnknown(t, s, "team/app", m1.String())

}

// A tag read past half its TTL is read again in the background: the next
// GETs see the storage's value before the entry would have expired.
func TestMemCacheRenewsTagsInUse(t *testing.T) {
	const ttl = 10 * time.Second
	fs := newFS(t)
	a := New(fs)
	b := New(fs, WithMemCache(NewMemCache(0, ttl)))
	var skew atomic.Int64
	b.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	ctx := context.Background()
	m1, _, _ := image(t, a, "team/app", "v", "config 1")
	m2, _, _ := image(t, a, "team/app", "", "config 2")
	wantTag(t, b, "team/app", "v", m1)
	if err := a.Tag(ctx, "team/app", "v", m2); err != nil {
		t.Fatal(err)
	}
	wantTag(t, b, "team/app", "v", m1) // within the first half: no renewal
	skew.Store(int64(ttl * 6 / 10))
	wantTag(t, b, "team/app", "v", m1) // stale, and starts the renewal
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := getTag(t, b, "team/app", "v")
		if err == nil && got == m2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET within the TTL after a renewal = %s, %v; want %s", got, err, m2)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
