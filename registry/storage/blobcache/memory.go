package blobcache

import (
	"context"
	"hash/maphash"
	"math"
	"math/bits"
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
// descriptors and of links, of at most size entries each (see lru for how
// they are held compactly). It is one node's: other nodes' deletions do
// not reach it (the store's trust window covers collection; see
// registry/storage's doc.go).
type Memory struct {
	mu    sync.Mutex
	blobs *lru[digest.Digest, blobEntry]
	links *lru[linkKey, stamp]
	// recent are the digests of the last links set, whose strings new
	// links of the same blob share (see digestOf).
	recent [4]digest.Digest
	next   int
	// repos are the repository names of the last links set, which new
	// links of the same repository share (see repoOf).
	repos    [4]string
	nextRepo int
}

// stamp is a verification time as the cache holds it (see stampOf).
type stamp int64

// blobEntry is a Descriptor as the cache holds it.
type blobEntry struct {
	size     int64
	verified stamp
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
	seed := maphash.MakeSeed()
	return &Memory{
		blobs: newLRU[digest.Digest, blobEntry](size, func(d digest.Digest) uint64 { return maphash.String(seed, string(d)) }),
		links: newLRU[linkKey, stamp](size, func(k linkKey) uint64 { return hashLink(seed, k) }),
	}
}

// hashLink hashes a link's key: its repository's hash and its digest's,
// turned so that two keys of the same strings swapped differ.
func hashLink(seed maphash.Seed, k linkKey) uint64 {
	return maphash.String(seed, k.repo) ^ bits.RotateLeft64(maphash.String(seed, string(k.d)), 32)
}

// stampOf is t as the cache holds it: Unix nanoseconds, as the redis
// backend stores it too. timeOf gives back a time equal to t (Equal, and
// the same UnixNano) in the local location, without t's monotonic clock
// reading: it compares with others by wall clock, which the store's trust
// window leaves a margin for (registry/storage's cacheWindow). The zero
// time is kept apart, as UnixNano does not give it.
func stampOf(t time.Time) stamp {
	if t.IsZero() {
		return zeroStamp
	}
	return stamp(t.UnixNano())
}

func timeOf(s stamp) time.Time {
	if s == zeroStamp {
		return time.Time{}
	}
	return time.Unix(0, int64(s))
}

// zeroStamp stands for the zero time.
const zeroStamp stamp = math.MinInt64

func descriptorOf(e blobEntry) Descriptor {
	return Descriptor{Size: e.size, Verified: timeOf(e.verified)}
}

// Kind implements Backend.
func (m *Memory) Kind() string { return "inmemory" }

// Descriptor implements Backend.
func (m *Memory) Descriptor(_ context.Context, d digest.Digest) (Descriptor, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.blobs.get(d)
	if !ok {
		return Descriptor{}, false, nil
	}
	return descriptorOf(e), true, nil
}

// SetDescriptor implements Backend. ttl is not needed: the store judges
// the age of what it reads.
func (m *Memory) SetDescriptor(_ context.Context, d digest.Digest, desc Descriptor, _ time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := blobEntry{size: desc.Size, verified: stampOf(desc.Verified)}
	if h, s := m.blobs.lookup(d); s >= 0 {
		m.blobs.update(s, e)
	} else {
		m.blobs.insert(digest.Digest(strings.Clone(string(d))), h, e)
	}
	return nil
}

// Link implements Backend.
func (m *Memory) Link(_ context.Context, repo string, d digest.Digest) (time.Time, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	at, ok := m.links.get(linkKey{repo, d})
	if !ok {
		return time.Time{}, false, nil
	}
	return timeOf(at), true, nil
}

// SetLink implements Backend.
func (m *Memory) SetLink(_ context.Context, repo string, d digest.Digest, verified time.Time, _ time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Keys are copied: a request's strings are slices of its whole
	// request line, which an entry would otherwise keep.
	if h, s := m.links.lookup(linkKey{repo, d}); s >= 0 {
		m.links.update(s, stampOf(verified))
	} else {
		m.links.insert(linkKey{m.repoOf(repo), m.digestOf(d)}, h, stampOf(verified))
	}
	return nil
}

// digestOf returns d as a string the cache holds already (a descriptor's
// key, or a recent link's), else a copy of d. A blob linked into many
// repositories (a base image's layers, 10,000 repositories mounting one
// config) then costs its 71-byte digest once rather than once per link,
// which would be more than the rest of a link entry. Under m.mu.
func (m *Memory) digestOf(d digest.Digest) digest.Digest {
	if held, ok := m.blobs.key(d); ok {
		return held
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

// repoOf returns repo as a string the cache holds already, a recent
// link's repository name or a prefix of one, else a copy of repo. The
// links a request sets are of one repository: a manifest's revision link
// (name::manifests, see registry/storage) and its links under name share
// one copy. Under m.mu.
func (m *Memory) repoOf(repo string) string {
	for _, r := range m.repos {
		if len(r) >= len(repo) && r[:len(repo)] == repo {
			return r[:len(repo)]
		}
	}
	repo = strings.Clone(repo)
	m.repos[m.nextRepo] = repo
	m.nextRepo = (m.nextRepo + 1) % len(m.repos)
	return repo
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
	var at time.Time
	var desc Descriptor
	s, linkOK := m.links.get(linkKey{repo, d})
	if linkOK {
		at = timeOf(s)
	}
	e, descOK := m.blobs.get(d)
	if descOK {
		desc = descriptorOf(e)
	}
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
