package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/redis/go-redis/v9"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/registry/storage/blobcache"
	"github.com/berth-registry/berth/registry/storage/internal/layout"
)

// The blob descriptor cache against garbage collection (doc.go, "The blob
// descriptor cache"): two serving nodes and a collector on one storage,
// each node with its own inmemory cache or all sharing one real Redis.
// Each case states whether the stale answer must be refused; the cases
// that take a protection away (the trust window, the collector's
// forgetting) and expect the stale answer prove that the test sees it.

// countObserver counts what a cache reports, for the tests.
type countObserver struct {
	mu sync.Mutex
	n  map[string]int
}

func newCountObserver() *countObserver { return &countObserver{n: map[string]int{}} }

func (o *countObserver) add(k string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n[k]++
}

func (o *countObserver) get(k string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[k]
}

func (o *countObserver) BlobCacheLookup(cache, result string) { o.add("lookup " + result) }
func (o *countObserver) BlobCacheError(cache, op string)      { o.add("error " + op) }
func (o *countObserver) ContentServed(kind, source string)    { o.add(kind + " " + source) }

// redisCache returns a cache on the test's Redis at addr, with its own
// connections, as a node of its own would have.
func redisCache(t *testing.T, addr string, obs blobcache.Observer) *blobcache.Cache {
	t.Helper()
	c := blobcache.New(blobcache.NewRedis(redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: []string{addr}, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1,
	})), obs, nil)
	t.Cleanup(func() { c.Close() })
	return c
}

// cacheMaker makes one node's cache of a kind; for redis every call is a
// node on the same server.
type cacheMaker func(obs blobcache.Observer) *blobcache.Cache

func cacheMakers(t *testing.T) map[string]cacheMaker {
	addr := ""
	return map[string]cacheMaker{
		"inmemory": func(obs blobcache.Observer) *blobcache.Cache {
			return blobcache.New(blobcache.NewMemory(0), obs, nil)
		},
		"redis": func(obs blobcache.Observer) *blobcache.Cache {
			if addr == "" {
				addr = testutil.Redis(t).Addr
			}
			return redisCache(t, addr, obs)
		},
	}
}

func TestCacheServesRepeatedHead(t *testing.T) {
	for kind, mk := range cacheMakers(t) {
		t.Run(kind, func(t *testing.T) {
			obs := newCountObserver()
			s := New(newFS(t), WithBlobDescriptorCache(mk(obs)))
			ctx := t.Context()
			l := putString(t, s, "app", "layer")
			// The push filled the cache: the HEADs that follow are hits.
			for range 3 {
				if n, err := s.StatBlob(ctx, "app", l); err != nil || n != int64(len("layer")) {
					t.Fatalf("StatBlob = %d, %v", n, err)
				}
			}
			if got := obs.get("blob cache"); got != 3 {
				t.Errorf("blobs served from the cache = %d, want 3 (%v)", got, obs.n)
			}
			// Another repository has no link: the cache must not say so.
			if _, err := s.StatBlob(ctx, "other", l); !errors.Is(err, ErrBlobUnknown) {
				t.Errorf("StatBlob in a repository without the link = %v, want ErrBlobUnknown", err)
			}
			// A deleted link is forgotten.
			if err := s.DeleteBlob(ctx, "app", l); err != nil {
				t.Fatal(err)
			}
			if _, err := s.StatBlob(ctx, "app", l); !errors.Is(err, ErrBlobUnknown) {
				t.Errorf("StatBlob after DELETE = %v, want ErrBlobUnknown", err)
			}
			m, _, _ := image(t, s, "app", "v1", "config", "layer")
			if _, err := s.GetManifest(ctx, "app", m.String()); err != nil {
				t.Fatal(err)
			}
			if obs.get("manifest cache") != 1 {
				t.Errorf("manifests served from the cache = %d, want 1 (%v)", obs.get("manifest cache"), obs.n)
			}
			if err := s.DeleteManifest(ctx, "app", m.String()); err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetManifest(ctx, "app", m.String()); !errors.Is(err, ErrManifestUnknown) {
				t.Errorf("GetManifest after DELETE = %v, want ErrManifestUnknown", err)
			}
		})
	}
}

// cacheGCCase is one way of running TestCacheTwoNodesGC.
type cacheGCCase struct {
	name string
	// trustAll removes the trust window from the serving nodes; forget
	// gives the collector the cache (with redis, the one the nodes share).
	trustAll, forget bool
	// stale: this case takes away every protection, and the test requires
	// the stale answer, to show it would see one.
	stale bool
}

// TestCacheTwoNodesGC: nodes A and B both cached blob L (A pushed it, B
// answered a HEAD), then, three hours later, a collector on a third node
// deleted L, and a dangling link to it is in place (Distribution's
// collector leaves them). Both nodes must answer HEAD with 404 and refuse
// a manifest referencing L with MANIFEST_BLOB_UNKNOWN.
func TestCacheTwoNodesGC(t *testing.T) {
	const grace = time.Hour
	cases := map[string][]cacheGCCase{
		"inmemory": {
			{name: "protected", forget: true},
			{name: "no trust window", trustAll: true, forget: true, stale: true},
		},
		"redis": {
			{name: "protected", forget: true},
			{name: "window only", forget: false},
			{name: "forgetting only", trustAll: true, forget: true},
			{name: "neither", trustAll: true, forget: false, stale: true},
		},
	}
	for _, kind := range []string{"inmemory", "redis"} {
		for _, tc := range cases[kind] {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				// A Redis of its own: nothing left by another case.
				err := cacheTwoNodesGC(t, cacheMakers(t)[kind], grace, tc)
				switch {
				case tc.stale && err == nil:
					t.Fatal("every protection off, yet no stale answer: the test does not see what it guards against")
				case tc.stale:
					t.Logf("stale answers, as expected without protection:\n%v", err)
				case err != nil:
					t.Fatalf("stale answer: %v", err)
				}
			})
		}
	}
}

func cacheTwoNodesGC(t *testing.T, mk cacheMaker, grace time.Duration, tc cacheGCCase) error {
	ctx := context.Background()
	fs := newFS(t)
	node := func() *Store {
		s := New(fs, WithGCGrace(grace), WithBlobDescriptorCache(mk(nil)))
		s.cacheTrustAll = tc.trustAll
		return s
	}
	a, b := node(), node()
	var collectorCache *blobcache.Cache
	if tc.forget {
		collectorCache = mk(nil)
	}
	collector := New(fs, WithGCGrace(grace), WithBlobDescriptorCache(collectorCache))

	l := putString(t, a, "app", "layer of an image deleted long ago")
	for _, s := range []*Store{a, b} {
		if _, err := s.StatBlob(ctx, "app", l); err != nil {
			t.Fatal(err)
		}
	}
	// Three hours pass, for the storage and for the nodes' clocks.
	fs.age(t, 3*time.Hour)
	later := func() time.Time { return time.Now().Add(3 * time.Hour) }
	a.now, b.now = later, later
	rep, err := collector.CollectGarbage(ctx, GCOptions{Grace: grace})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Blobs != 1 {
		t.Fatalf("collector deleted %d blobs, want L: %+v", rep.Blobs, rep)
	}
	if err := fs.PutContent(ctx, layout.LayerLinkPath("app", l), []byte(l)); err != nil {
		t.Fatal(err)
	}

	var stale []error
	for i, s := range []*Store{a, b} {
		nodeName := string(rune('A' + i))
		if n, err := s.StatBlob(ctx, "app", l); !errors.Is(err, ErrBlobUnknown) {
			stale = append(stale, fmt.Errorf("node %s: HEAD of the deleted blob = %d, %v", nodeName, n, err))
		}
		c := putString(t, s, "app", "config of a new image on node "+nodeName)
		_, err := s.PutManifest(ctx, "app", "new-"+nodeName, "", imageJSON(c, "", l), nil)
		if !errors.Is(err, ErrManifestBlobUnknown) {
			stale = append(stale, fmt.Errorf("node %s: manifest PUT over the deleted blob = %v", nodeName, err))
		}
	}
	return errors.Join(stale...)
}

// TestCacheRedisDown: with the Redis gone, requests are answered from
// storage, the failures are counted, and once it is back the cache fills
// again.
func TestCacheRedisDown(t *testing.T) {
	srv := testutil.Redis(t)
	obs := newCountObserver()
	s := New(newFS(t), WithBlobDescriptorCache(redisCache(t, srv.Addr, obs)))
	ctx := t.Context()
	l := putString(t, s, "app", "layer")
	head := func(want string) {
		t.Helper()
		before := obs.get("blob " + want)
		if _, err := s.StatBlob(ctx, "app", l); err != nil {
			t.Fatalf("StatBlob: %v", err)
		}
		if obs.get("blob "+want) != before+1 {
			t.Fatalf("HEAD not served from %s: %v", want, obs.n)
		}
	}
	head("cache")
	srv.Stop()
	for range 3 {
		head("storage")
	}
	if _, err := s.PutManifest(ctx, "app", "v1", "", imageJSON(putString(t, s, "app", "config"), "", l), nil); err != nil {
		t.Fatalf("manifest PUT with the cache down: %v", err)
	}
	if obs.get("error get") == 0 || obs.get("lookup error") == 0 {
		t.Errorf("no cache errors counted: %v", obs.n)
	}
	srv.Restart()
	time.Sleep(blobcache.RetryAfter + 100*time.Millisecond)
	head("storage") // the restarted Redis is empty: this HEAD fills it
	head("cache")
}

// TestCacheHitCheckedAfterRely: a HEAD finds L in the cache, fresh, and
// then pauses inside its rely for three hours, during which a collector
// deletes L. The hit must be judged again when the rely returns, as a
// storage read after the rely would be: 404. Without that second check
// the stale hit answers 200.
func TestCacheHitCheckedAfterRely(t *testing.T) {
	const grace = time.Hour
	for _, protect := range []bool{true, false} {
		t.Run(map[bool]string{true: "protected", false: "checked before the rely only"}[protect], func(t *testing.T) {
			ctx := context.Background()
			fs := newFS(t)
			l := digest.FromString("layer of an image deleted long ago")
			hooked := &hookDriver{Driver: fs} // armed after the push
			node := New(hooked, WithGCGrace(grace), WithBlobDescriptorCache(blobcache.New(blobcache.NewMemory(0), nil, nil)))
			node.cacheCheckOnce = !protect
			collector := New(fs, WithGCGrace(grace))
			putString(t, node, "app", "layer of an image deleted long ago") // fills the cache
			// The storage is 31 minutes older than the cache's entries:
			// used(L) no longer spares the rely its second step, which
			// lists deleting(L), where the pause happens.
			fs.age(t, 31*time.Minute)
			hooked.path = layout.DeletingDir(l)
			hooked.hook = func() {
				fs.age(t, 3*time.Hour)
				node.now = func() time.Time { return time.Now().Add(3 * time.Hour) }
				if rep, err := collector.CollectGarbage(ctx, GCOptions{Grace: grace}); err != nil || rep.Blobs != 1 {
					t.Errorf("collector during the pause: %+v, %v; want L deleted", rep, err)
				}
			}
			n, err := node.StatBlob(ctx, "app", l)
			switch {
			case protect && !errors.Is(err, ErrBlobUnknown):
				t.Fatalf("HEAD of a blob deleted during its rely = %d, %v; want ErrBlobUnknown", n, err)
			case !protect && err != nil:
				t.Fatalf("without the check after the rely, HEAD = %v; the test does not see the stale hit", err)
			}
		})
	}
}
