package blobcache

import (
	"container/list"
	"context"
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
	m.blobs.put(d, desc)
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
	m.links.put(linkKey{repo, d}, verified)
	return nil
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
	return m.blobs.l.Len(), m.links.l.Len()
}

// lru is a map with a bound, evicting the least recently used entry. The
// caller locks.
type lru[K comparable, V any] struct {
	max int
	l   *list.List // of *entry[K, V], most recent first
	m   map[K]*list.Element
}

type entry[K comparable, V any] struct {
	k K
	v V
}

func newLRU[K comparable, V any](max int) *lru[K, V] {
	return &lru[K, V]{max: max, l: list.New(), m: map[K]*list.Element{}}
}

func (c *lru[K, V]) get(k K) (V, bool) {
	e, ok := c.m[k]
	if !ok {
		var zero V
		return zero, false
	}
	c.l.MoveToFront(e)
	return e.Value.(*entry[K, V]).v, true
}

func (c *lru[K, V]) put(k K, v V) {
	if e, ok := c.m[k]; ok {
		e.Value.(*entry[K, V]).v = v
		c.l.MoveToFront(e)
		return
	}
	c.m[k] = c.l.PushFront(&entry[K, V]{k, v})
	if c.l.Len() > c.max {
		last := c.l.Back()
		c.l.Remove(last)
		delete(c.m, last.Value.(*entry[K, V]).k)
	}
}

func (c *lru[K, V]) remove(k K) {
	if e, ok := c.m[k]; ok {
		c.l.Remove(e)
		delete(c.m, k)
	}
}
