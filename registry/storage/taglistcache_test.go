package storage

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// wantList checks that TagsCached of repo on s lists exactly want.
func wantList(t *testing.T, s *Store, repo string, want ...string) {
	t.Helper()
	got, err := s.TagsCached(context.Background(), repo)
	if err != nil {
		t.Fatalf("TagsCached(%s): %v", repo, err)
	}
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("TagsCached(%s) = %q, want %q", repo, got, want)
	}
}

// Every tag write or delete of the node is seen by the next listing, and
// a repeated listing costs no storage request.
func TestTagListCacheReadYourWrites(t *testing.T) {
	ctx := context.Background()
	drv := &countingDriver{Driver: newFS(t)}
	s := New(drv, WithMemCache(NewMemCache(0, time.Hour)))
	m1, _, _ := image(t, s, "team/app", "v1", "config 1", "layer 1")
	m2, _, _ := image(t, s, "team/app", "", "config 2", "layer 2")
	wantList(t, s, "team/app", "v1")
	drv.ops.Store(0)
	wantList(t, s, "team/app", "v1")
	if n := drv.ops.Load(); n != 0 {
		t.Errorf("a repeated listing made %d storage requests, want 0", n)
	}

	if _, err := s.PutManifest(ctx, "team/app", "v2", "", mustPayload(t, s, m2), nil); err != nil {
		t.Fatal(err)
	}
	wantList(t, s, "team/app", "v1", "v2")
	if err := s.Tag(ctx, "team/app", "v0", m1); err != nil {
		t.Fatal(err)
	}
	wantList(t, s, "team/app", "v0", "v1", "v2")
	if err := s.DeleteManifest(ctx, "team/app", "v0"); err != nil { // a tag DELETE
		t.Fatal(err)
	}
	wantList(t, s, "team/app", "v1", "v2")
	if err := s.DeleteManifest(ctx, "team/app", m2.String()); err != nil { // takes v2 along
		t.Fatal(err)
	}
	wantList(t, s, "team/app", "v1")
	if err := s.Tag(ctx, "team/app", "old", m1); err != nil {
		t.Fatal(err)
	}
	wantList(t, s, "team/app", "old", "v1")
	p, err := s.NewPruner(ctx, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if why, err := p.Untag(ctx, "team/app", "old", m1); err != nil || why != "" {
		t.Fatalf("Untag: %q, %v", why, err)
	}
	wantList(t, s, "team/app", "v1")
	if _, err := s.DeleteRepository(ctx, "team/app", nil); err != nil {
		t.Fatal(err)
	}
	if tags, err := s.TagsCached(ctx, "team/app"); !errors.Is(err, ErrNameUnknown) {
		t.Fatalf("after the repository delete: %q, %v; want ErrNameUnknown", tags, err)
	}
	if _, err := s.TagsCached(ctx, "Bad Name"); !errors.Is(err, ErrNameInvalid) {
		t.Fatalf("an invalid name: %v, want ErrNameInvalid", err)
	}
}

// Tags written on another node are seen within the TTL; with a TTL below
// zero at once.
func TestTagListCacheTwoNodesStaleness(t *testing.T) {
	const ttl = 2 * time.Second
	fs := newFS(t)
	a := New(fs, WithMemCache(NewMemCache(0, ttl)))
	b := New(fs, WithMemCache(NewMemCache(0, ttl)))
	var skew atomic.Int64 // b's clock runs ahead by this
	b.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	ctx := context.Background()
	m1, _, _ := image(t, a, "team/app", "v1", "config 1")
	wantList(t, b, "team/app", "v1")
	if err := a.Tag(ctx, "team/app", "v2", m1); err != nil {
		t.Fatal(err)
	}
	wantList(t, a, "team/app", "v1", "v2")
	wantList(t, b, "team/app", "v1") // stale, within the TTL
	skew.Store(int64(ttl))
	wantList(t, b, "team/app", "v1", "v2") // the TTL bounds it

	c := New(fs, WithMemCache(NewMemCache(0, -1)))
	wantList(t, c, "team/app", "v1", "v2")
	if err := a.DeleteManifest(ctx, "team/app", "v2"); err != nil {
		t.Fatal(err)
	}
	wantList(t, c, "team/app", "v1")
}

// A listing that read the tags before a write and returns after it does
// not leave what it read in the cache.
func TestTagListCacheWriteRacesList(t *testing.T) {
	drv := newHeldReads(t, "/_manifests/tags")
	s := New(drv, WithMemCache(NewMemCache(0, time.Hour)))
	ctx := context.Background()
	m1, _, _ := image(t, s, "team/app", "v1", "config 1")
	drv.armed.Store(true)
	slow := make(chan []string, 1)
	go func() {
		tags, err := s.TagsCached(ctx, "team/app")
		if err != nil {
			t.Error(err)
		}
		slow <- tags
	}()
	<-drv.read
	if err := s.Tag(ctx, "team/app", "v2", m1); err != nil {
		t.Fatal(err)
	}
	close(drv.release)
	if got := <-slow; !slices.Equal(got, []string{"v1"}) {
		t.Fatalf("the slow listing returned %q, want the [v1] it read", got)
	}
	wantList(t, s, "team/app", "v1", "v2")
}

// A list used past half the TTL is read again in the background (the
// bounds are internal/memcache's TestTagListBoundsAndRenews).
func TestTagListCacheRenews(t *testing.T) {
	c := NewMemCache(0, 10*time.Second)
	fs := newFS(t)
	a, b := New(fs), New(fs, WithMemCache(c))
	var skew atomic.Int64
	b.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	m1, _, _ := image(t, a, "team/app", "v1", "config 1")
	wantList(t, b, "team/app", "v1")
	if err := a.Tag(context.Background(), "team/app", "v2", m1); err != nil {
		t.Fatal(err)
	}
	skew.Store(int64(6 * time.Second))
	wantList(t, b, "team/app", "v1") // stale, and starts the renewal
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := b.TagsCached(context.Background(), "team/app")
		if err == nil && slices.Equal(got, []string{"v1", "v2"}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("listing within the TTL after a renewal = %q, %v; want [v1 v2]", got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
