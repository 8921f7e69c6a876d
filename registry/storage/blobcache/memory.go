package blobcache

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// DefaultMemorySize is the number of descriptors, and of links, an
// inmemory cache keeps when storage.cache.blobdescriptorsize is unset
// (Distribution's default).
const DefaultMemorySize = 10000

// Memory is the inmemory backend: two least-recently-used lists, of
// descriptors and of links, of at most size entries each. It is one
// node's: other nodes' deletions do not reach it (the store's trust window
// covers collection; see registry/storage's doc.go).
type Memory struct {
	mu    sync.Mutex
	blobs *lru[digest.Digest, Descriptor]
	links *lru[linkKey, time.Time]
	// recent are the digests of the last links set, whose strings new
	// links of the same blob share (see digestOf).
	recent [4]digest.Digest
	next   int
}

type linkKey struct {
	repo string
	d    digest.Digest
}

// NewMemory returns an inmemory backend of size entries of each kind
// (DefaultMemorySize when size <= 0).
func NewMemory(size int) *Memory {
	if size <= 0 {
		size = DefaultMemorySize
	}
	return &Memory{blobs: newLRU[digest.Digest, Descriptor](size), links: newLRU[linkKey, time.Time](size)}
}

// Kind implements Backend.
func (m *Memory) Kind() string { return "inmemory" }

// Descriptor implements Backend.
func (m *Memory) Descriptor(_ context.Context, d digest.Digest) (Descriptor, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	desc, ok := m.blobs.get(d)
	return desc, ok, nil
}

// SetDescriptor implements Backend. ttl is not needed: the store judges
// the age of what it reads.
func (m *Memory) SetDescriptor(_ context.Context, d digest.Digest, desc Descriptor, _ time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blobs.put(digest.Digest(strings.Clone(string(d))), desc)
	return nil
}

// Link implements Backend.
func (m *Memory) Link(_ context.Context, repo string, d digest.Digest) (time.Time, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.links.get(linkKey{repo, d})
	return t, ok, nil
}

// SetLink implements Backend.
func (m *Memory) SetLink(_ context.Context, repo string, d digest.Digest, verified time.Time, _ time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Keys are copied: a request's strings are slices of its whole
	// request line, which an entry would otherwise keep.
	m.links.put(linkKey{strings.Clone(repo), m.digestOf(d)}, verified)
	return nil
}

// digestOf returns d as a string the cache holds already (a descriptor's
// key, or a recent link's), else a copy of d. A blob linked into many
// repositories (a base image's layers, 10,000 repositories mounting one
// config) then costs its 71-byte digest once rather than once per link,
// about a third of a link entry. Under m.mu.
func (m *Memory) digestOf(d digest.Digest) digest.Digest {
	if e, ok := m.blobs.m[d]; ok {
		return e.k
	}
	for _, r := range m.recent {
		if r == d {
			return r
		}
	}
	d = digest.Digest(strings.Clone(string(d)))
	m.recent[m.next] = d
	m.next = (m.next + 1) % len(m.recent)
	return d
}

// ForgetBlob implements Backend.
func (m *Memory) ForgetBlob(_ context.Context, d digest.Digest) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blobs.remove(d)
	return nil
}

// ForgetLink implements Backend.
func (m *Memory) ForgetLink(_ context.Context, repo string, d digest.Digest) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.links.remove(linkKey{repo, d})
	return nil
}

// Lookup implements Backend.
func (m *Memory) Lookup(_ context.Context, repo string, d digest.Digest) (time.Time, bool, Descriptor, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	at, linkOK := m.links.get(linkKey{repo, d})
	desc, descOK := m.blobs.get(d)
	return at, linkOK, desc, descOK, nil
}

// Close implements Backend.
func (m *Memory) Close() error { return nil }

// Len returns the number of descriptors and links held.
func (m *Memory) Len() (blobs, links int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.blobs.len(), m.links.len()
}

// lru is a map with a bound, evicting the least recently used entry. The
// caller locks. Its list is threaded through the entries (one allocation
// per entry): at the default size it holds tens of thousands.
type lru[K comparable, V any] struct {
	max  int
	n    int
	root entry[K, V] // root.next is the most recent, root.prev the least
	m    map[K]*entry[K, V]
}

type entry[K comparable, V any] struct {
	k          K
	v          V
	prev, next *entry[K, V]
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	c := &lru[K, V]{max: max, m: map[K]*entry[K, V]{}}
	c.root.next, c.root.prev = &c.root, &c.root
	return c
}

func (c *lru[K, V]) unlink(e *entry[K, V]) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (c *lru[K, V]) pushFront(e *entry[K, V]) {
	e.prev, e.next = &c.root, c.root.next
	c.root.next.prev = e
	c.root.next = e
}

func (c *lru[K, V]) get(k K) (V, bool) {
	e, ok := c.m[k]
	if !ok {
		var zero V
		return zero, false
	}
	c.unlink(e)
	c.pushFront(e)
	return e.v, true
}

func (c *lru[K, V]) put(k K, v V) {
	if e, ok := c.m[k]; ok {
		e.v = v
		c.unlink(e)
		c.pushFront(e)
		return
	}
	e := &entry[K, V]{k: k, v: v}
	c.m[k] = e
	c.pushFront(e)
	c.n++
	if c.n > c.max {
		last := c.root.prev
		c.unlink(last)
		delete(c.m, last.k)
		c.n--
	}
}

func (c *lru[K, V]) remove(k K) {
	if e, ok := c.m[k]; ok {
		c.unlink(e)
		delete(c.m, k)
		c.n--
	}
}

func (c *lru[K, V]) len() int { return c.n }
