package blobcache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// order lists c's keys from the most recently used to the least, checking
// the links both ways and the index on the way.
func order[K comparable, V any](t *testing.T, c *lru[K, V]) []K {
	t.Helper()
	var ks []K
	prev := int32(-1)
	for s := c.head; s >= 0; s = c.ents[s].next {
		if c.ents[s].prev != prev {
			t.Fatalf("slot %d: prev %d, want %d", s, c.ents[s].prev, prev)
		}
		if _, found := c.lookup(c.ents[s].k); found != s {
			t.Fatalf("slot %d not found from its key (found %d)", s, found)
		}
		ks = append(ks, c.ents[s].k)
		prev = s
	}
	if c.tail != prev {
		t.Fatalf("tail %d, want %d", c.tail, prev)
	}
	return ks
}

// model is a plain LRU to check lru against: keys most recent first.
type model struct {
	max  int
	keys []int
	vals map[int]int
}

func (m *model) touch(k int) {
	m.keys = slices.DeleteFunc(m.keys, func(x int) bool { return x == k })
	m.keys = slices.Insert(m.keys, 0, k)
}

// TestLRUAgainstModel runs random puts, gets and removes on small caches
// whose hashes collide a lot (or always), and compares each answer, the
// order and Len with the model's.
func TestLRUAgainstModel(t *testing.T) {
	hashes := map[string]func(int) uint64{
		"spread":   func(k int) uint64 { return uint64(k) * 0x9e3779b97f4a7c15 },
		"mod3":     func(k int) uint64 { return uint64(k % 3) },
		"constant": func(int) uint64 { return 7 },
	}
	for name, hash := range hashes {
		for _, size := range []int{1, 2, 5, 40} {
			t.Run(fmt.Sprintf("%s/%d", name, size), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(1, uint64(size)))
				c := newLRU[int, int](size, hash)
				m := &model{max: size, vals: map[int]int{}}
				for op := range 5000 {
					k := rng.IntN(3 * size)
					switch rng.IntN(4) {
					case 0, 1:
						c.put(k, op)
						if _, ok := m.vals[k]; !ok && len(m.keys) == m.max {
							delete(m.vals, m.keys[len(m.keys)-1])
							m.keys = m.keys[:len(m.keys)-1]
						}
						m.vals[k] = op
						m.touch(k)
					case 2:
						v, ok := c.get(k)
						want, wantOK := m.vals[k]
						if ok != wantOK || v != want {
							t.Fatalf("op %d: get(%d) = %d, %v, want %d, %v", op, k, v, ok, want, wantOK)
						}
						if ok {
							m.touch(k)
						}
					case 3:
						c.remove(k)
						delete(m.vals, k)
						m.keys = slices.DeleteFunc(m.keys, func(x int) bool { return x == k })
					}
					if got := order(t, c); !slices.Equal(got, m.keys) || c.len() != len(m.keys) {
						t.Fatalf("op %d: order %v (len %d), want %v", op, got, c.len(), m.keys)
					}
				}
				if len(c.ents) > size {
					t.Errorf("%d slots for a bound of %d", len(c.ents), size)
				}
			})
		}
	}
}

// TestLRUUntagged: an index too long for the hash bits its entries hold
// (a large bound) finds its entries' positions by hashing their keys.
func TestLRUUntagged(t *testing.T) {
	c := newLRU[int, int](1<<22, func(k int) uint64 { return uint64(k) * 0x9e3779b97f4a7c15 })
	rng := rand.New(rand.NewPCG(2, 3))
	want := map[int]int{}
	for op := range 20000 {
		k := rng.IntN(4000)
		if rng.IntN(3) == 0 {
			c.remove(k)
			delete(want, k)
		} else {
			c.put(k, op)
			want[k] = op
		}
	}
	if c.tagged || c.len() != len(want) {
		t.Fatalf("tagged %v, len %d, want untagged, %d", c.tagged, c.len(), len(want))
	}
	for k := range 4000 {
		v, ok := c.get(k)
		if w, wok := want[k]; ok != wok || v != w {
			t.Fatalf("get(%d) = %d, %v, want %d, %v", k, v, ok, w, wok)
		}
	}
}

// TestMemoryLinkLRU: eviction of the least recently used link at the
// bound, a Link making a link recent, a second SetLink updating the time
// and the recency, ForgetLink and Len, with every key of one hash.
func TestMemoryLinkLRU(t *testing.T) {
	for _, collide := range []bool{false, true} {
		t.Run(fmt.Sprint("collide=", collide), func(t *testing.T) {
			m := NewMemory(3)
			if collide {
				m.links.hash = func(linkKey) uint64 { return 0 }
				m.blobs.hash = func(digest.Digest) uint64 { return 0 }
			}
			ctx := context.Background()
			d := digest.FromString("x")
			at := time.Unix(1700000000, 0)
			set := func(repo string, sec int64) {
				t.Helper()
				if err := m.SetLink(ctx, repo, d, at.Add(time.Duration(sec)*time.Second), time.Minute); err != nil {
					t.Fatal(err)
				}
			}
			linked := func(repo string) (int64, bool) {
				v, ok, err := m.Link(ctx, repo, d)
				if err != nil {
					t.Fatal(err)
				}
				return int64(v.Sub(at) / time.Second), ok
			}
			set("a", 1)
			set("b", 2)
			set("c", 3)
			if _, ok := linked("a"); !ok { // a is now the most recent: b the least
				t.Fatal("a missing")
			}
			set("d", 4)
			if _, ok := linked("b"); ok {
				t.Error("b, the least recently used, was kept")
			}
			set("c", 5) // c updated and recent: a is the least recent
			set("e", 6)
			if _, ok := linked("a"); ok {
				t.Error("a kept over c, set again since")
			}
			if v, ok := linked("c"); !ok || v != 5 {
				t.Errorf("c = %d, %v, want 5, true", v, ok)
			}
			if _, l := m.Len(); l != 3 {
				t.Errorf("Len = %d links, want 3", l)
			}
			if err := m.ForgetLink(ctx, "d", d); err != nil {
				t.Fatal(err)
			}
			if _, ok := linked("d"); ok {
				t.Error("d survived ForgetLink")
			}
			for _, repo := range []string{"c", "e"} {
				if _, ok := linked(repo); !ok {
					t.Errorf("%s lost with d's ForgetLink", repo)
				}
			}
			if _, l := m.Len(); l != 2 {
				t.Errorf("Len = %d links after ForgetLink, want 2", l)
			}
			// Descriptors of one hash are as many entries.
			for i := range 4 {
				if err := m.SetDescriptor(ctx, digest.FromString(fmt.Sprint(i)), Descriptor{Size: int64(i), Verified: at}, time.Minute); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 4 {
				desc, ok, _ := m.Descriptor(ctx, digest.FromString(fmt.Sprint(i)))
				if ok != (i > 0) || ok && (desc.Size != int64(i) || !desc.Verified.Equal(at)) {
					t.Errorf("descriptor %d = %+v, %v", i, desc, ok)
				}
			}
			if b, _ := m.Len(); b != 3 {
				t.Errorf("Len = %d descriptors, want 3", b)
			}
		})
	}
}

// TestMemoryTimes: the times given back are equal to those set, and
// compare with others by wall clock as they did.
func TestMemoryTimes(t *testing.T) {
	m := NewMemory(0)
	ctx := context.Background()
	d := digest.FromString("t")
	now := time.Now()
	for _, at := range []time.Time{now, now.Round(0), now.Add(-time.Hour), time.Unix(1700000000, 123456789).UTC(), time.Unix(946684800, 1), {}} {
		if err := m.SetLink(ctx, "app", d, at, time.Minute); err != nil {
			t.Fatal(err)
		}
		got, ok, _ := m.Link(ctx, "app", d)
		if !ok || !got.Equal(at) || got.UnixNano() != at.UnixNano() || got.IsZero() != at.IsZero() {
			t.Errorf("Link gave %v for %v", got, at)
		}
		for _, other := range []time.Time{at.Round(0).Add(-1), at.Round(0), at.Round(0).Add(1), now} {
			if got.Before(other) != at.Before(other) || got.Compare(other) != at.Compare(other) {
				t.Errorf("%v compares with %v unlike %v", got, other, at)
			}
		}
	}
}

// oldLRU is the cache's former LRU, a pointer-linked list and a map of
// keys to entries, kept to measure the new one against.
type oldLRU[K comparable, V any] struct {
	max  int
	n    int
	root oldEntry[K, V]
	m    map[K]*oldEntry[K, V]
}

type oldEntry[K comparable, V any] struct {
	k          K
	v          V
	prev, next *oldEntry[K, V]
}

func newOldLRU[K comparable, V any](max int) *oldLRU[K, V] {
	c := &oldLRU[K, V]{max: max, m: map[K]*oldEntry[K, V]{}}
	c.root.next, c.root.prev = &c.root, &c.root
	return c
}

func (c *oldLRU[K, V]) put(k K, v V) {
	if e, ok := c.m[k]; ok {
		e.v = v
		e.prev.next, e.next.prev = e.next, e.prev
		e.prev, e.next = &c.root, c.root.next
		c.root.next.prev, c.root.next = e, e
		return
	}
	e := &oldEntry[K, V]{k: k, v: v, prev: &c.root, next: c.root.next}
	c.root.next.prev, c.root.next = e, e
	c.m[k] = e
	if c.n++; c.n > c.max {
		last := c.root.prev
		last.prev.next, last.next.prev = last.next, last.prev
		delete(c.m, last.k)
		c.n--
	}
}

// heapAfter returns the live heap's growth over build's run that the
// result of build holds.
func heapAfter(build func() any) (uint64, any) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return after.HeapAlloc - before.HeapAlloc, v
}

// TestMemoryLinksHeap: 10,000 links of as many repositories, each of one
// blob, take at most half the live heap the former cache took.
func TestMemoryLinksHeap(t *testing.T) {
	d := digest.FromString("config")
	at := time.Now()
	// The names as requests bring them: slices of longer strings.
	repos := make([]string, DefaultMemorySize)
	for i := range repos {
		repos[i] = fmt.Sprintf("GET /v2/catalog/repo-%05d/blobs/", i)[len("GET /v2/") : len("GET /v2/")+len("catalog/repo-00000")]
	}
	oldBytes, old := heapAfter(func() any {
		c := newOldLRU[linkKey, time.Time](DefaultMemorySize)
		for _, r := range repos {
			c.put(linkKey{strings.Clone(r), d}, at)
		}
		return c
	})
	newBytes, cur := heapAfter(func() any {
		m := NewMemory(0)
		for _, r := range repos {
			if err := m.SetLink(context.Background(), r, d, at, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		return m
	})
	if _, l := cur.(*Memory).Len(); l != len(repos) || old.(*oldLRU[linkKey, time.Time]).n != len(repos) {
		t.Fatalf("%d links held, want %d", l, len(repos))
	}
	t.Logf("live heap for %d links: former %d B (%.0f B/link), now %d B (%.0f B/link), ratio %.2f",
		len(repos), oldBytes, float64(oldBytes)/float64(len(repos)), newBytes, float64(newBytes)/float64(len(repos)),
		float64(newBytes)/float64(oldBytes))
	if newBytes*2 > oldBytes {
		t.Errorf("now %d B, more than half the former %d B", newBytes, oldBytes)
	}
	runtime.KeepAlive(repos)
}

// put sets k to v, inserting k as given (Memory's Set methods copy a key
// before they insert it).
func (c *lru[K, V]) put(k K, v V) {
	if h, s := c.lookup(k); s >= 0 {
		c.update(s, v)
	} else {
		c.insert(k, h, v)
	}
}
