package storage

import (
	"container/list"
	"context"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/blobio"
)

// The node's in-memory cache of what a manifest GET reads (doc.go, "The
// manifest cache"): manifests by digest, tags, and the used records rely
// reads. One MemCache may serve several stores of one process (the app's
// and its collector's), so that what either changes, the other forgets.

// Defaults of NewMemCache.
const (
	DefaultManifestCacheBytes = 4 << 20
	DefaultTagTTL             = time.Second
)

// Bounds on the entries of the smaller kinds (a few dozen bytes each).
const (
	maxCachedTags = 4096
	maxCachedUsed = 4096
)

// MemCache holds, for one node:
//   - manifests by digest (their bytes never change; an entry also says
//     when the storage last vouched for the content, as a blob
//     descriptor does), least recently used first out, bounded by bytes;
//   - tags: which manifest a tag named when it was read, trusted for a
//     TTL; forgotten by every tag write or delete of the stores sharing the
//     cache, so that a GET after a PUT on the same node sees the PUT;
//   - tag lists: a repository's sorted tags as a List read them, under
//     the same rules as the tags (tags.go, TagsCached);
//   - the modification times of the used records rely read, so that a
//     rely whose record is young enough needs no storage request;
//   - open files of blobs, for short reads (store.go, OpenBlobShared).
//
// A nil *MemCache caches nothing.
type MemCache struct {
	maxBytes int64
	tagTTL   time.Duration

	mu        sync.Mutex
	bytes     int64
	manifests map[digest.Digest]*list.Element // of *cachedManifest
	lru       *list.List                      // most recently used first

	tmu      sync.Mutex
	tags     map[tagKey]cachedTag // one flat map: a map per repository costs ~0.5 KiB even for one tag
	lists    map[string]cachedTagList
	listTags int    // the tags of all lists
	epoch    uint64 // advanced by every forget, see tagEpoch

	umu  sync.Mutex
	used map[digest.Digest]time.Time

	files *blobio.Handles // open blob files, by digest (OpenBlobShared)
}

// cachedManifest is a manifest's bytes, what rely needs of its
// references, and when a storage read found it (Verified, as in a blob
// descriptor: the time taken before the rely that preceded the read).
type cachedManifest struct {
	d         digest.Digest
	payload   []byte
	mediaType string
	doc       *manifestDoc // references only; nil: unparseable
	verified  time.Time
}

type tagKey struct{ name, tag string }

type cachedTag struct {
	d          digest.Digest
	at         time.Time // taken before the storage read
	refreshing bool      // a read to renew it is under way
}

// NewMemCache returns a cache of at most maxBytes of manifests
// (DefaultManifestCacheBytes when 0; none when negative) whose tags are
// trusted for tagTTL after they were read (DefaultTagTTL when 0; never
// when negative).
func NewMemCache(maxBytes int64, tagTTL time.Duration) *MemCache {
	if maxBytes == 0 {
		maxBytes = DefaultManifestCacheBytes
	}
	if tagTTL == 0 {
		tagTTL = DefaultTagTTL
	}
	return &MemCache{
		maxBytes:  maxBytes,
		tagTTL:    tagTTL,
		manifests: map[digest.Digest]*list.Element{},
		lru:       list.New(),
		tags:      map[tagKey]cachedTag{},
		lists:     map[string]cachedTagList{},
		used:      map[digest.Digest]time.Time{},
		files:     blobio.NewHandles(maxOpenBlobs, openBlobAge),
	}
}

// WithMemCache makes the store cache manifests, tags and used records in c
// (nil: no cache). Stores of one process that share a storage should
// share one.
func WithMemCache(c *MemCache) Option { return func(s *Store) { s.mem = c } }

// Len returns the numbers of manifests, their bytes, tags and used records
// held.
func (c *MemCache) Len() (manifests int, bytes int64, tags, used int) {
	if c == nil {
		return 0, 0, 0, 0
	}
	c.mu.Lock()
	manifests, bytes = c.lru.Len(), c.bytes
	c.mu.Unlock()
	c.tmu.Lock()
	tags = len(c.tags)
	c.tmu.Unlock()
	c.umu.Lock()
	used = len(c.used)
	c.umu.Unlock()
	return manifests, bytes, tags, used
}

// manifest returns the cached manifest d.
func (c *MemCache) manifest(d digest.Digest) (*cachedManifest, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.manifests[d]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(e)
	return e.Value.(*cachedManifest), true
}

// entrySize is what an entry counts against maxBytes: its bytes, about as
// much again for the parsed references, and the bookkeeping.
func entrySize(m *cachedManifest) int64 { return 2*int64(len(m.payload)) + 256 }

// putManifest caches m, replacing an older entry of its digest; a
// manifest over an eighth of the bound is not cached.
func (c *MemCache) putManifest(m *cachedManifest) {
	if c == nil || entrySize(m) > c.maxBytes/8 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.manifests[m.d]; ok {
		old := e.Value.(*cachedManifest)
		if old.verified.After(m.verified) {
			m.verified = old.verified
		}
		c.bytes += entrySize(m) - entrySize(old)
		e.Value = m
		c.lru.MoveToFront(e)
	} else {
		c.manifests[m.d] = c.lru.PushFront(m)
		c.bytes += entrySize(m)
	}
	for c.bytes > c.maxBytes {
		last := c.lru.Back()
		old := c.lru.Remove(last).(*cachedManifest)
		delete(c.manifests, old.d)
		c.bytes -= entrySize(old)
	}
}

// forgetBlob drops what the cache knows of blob d: its manifest entry,
// its used record and its open file.
func (c *MemCache) forgetBlob(d digest.Digest) {
	if c == nil {
		return
	}
	c.files.Forget(string(d))
	c.mu.Lock()
	if e, ok := c.manifests[d]; ok {
		c.lru.Remove(e)
		delete(c.manifests, d)
		c.bytes -= entrySize(e.Value.(*cachedManifest))
	}
	c.mu.Unlock()
	c.umu.Lock()
	delete(c.used, d)
	c.umu.Unlock()
}

// tag returns the digest tag of repository name named when read, if that
// was less than the TTL ago by now, and the epoch to give rememberTag on a
// miss. renew is set, once per entry, on a hit past half the TTL: the
// caller reads the tag again in the background, so that a tag in use is
// renewed before it expires rather than missed by the requests then.
func (c *MemCache) tag(name, tag string, now time.Time) (d digest.Digest, epoch uint64, ok, renew bool) {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	e, ok := c.tags[tagKey{name, tag}]
	if ok && now.Sub(e.at) < c.tagTTL && !now.Before(e.at) {
		if now.Sub(e.at) > c.tagTTL/2 && !e.refreshing {
			e.refreshing, renew = true, true
			c.tags[tagKey{name, tag}] = e
		}
		return e.d, c.epoch, true, renew
	}
	return "", c.epoch, false, false
}

// rememberTag records that tag named d when read at at, unless a tag was
// forgotten since epoch: the read may predate that write.
func (c *MemCache) rememberTag(name, tag string, d digest.Digest, at time.Time, epoch uint64) {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	if c.epoch != epoch {
		return
	}
	if len(c.tags) >= maxCachedTags {
		clear(c.tags)
	}
	k := tagKey{name, tag}
	if _, ok := c.tags[k]; !ok {
		k = tagKey{strings.Clone(name), strings.Clone(tag)} // keys are copied: see clone
	}
	c.tags[k] = cachedTag{d: clone(d), at: at}
}

// forgetTags drops the given tags of repository name, or all of them
// when none is given, and its tag list. Called after the storage changed them, it also fails
// the remembering of every read that began before.
func (c *MemCache) forgetTags(name string, tags ...string) {
	if c == nil {
		return
	}
	c.tmu.Lock()
	defer c.tmu.Unlock()
	c.epoch++
	if l, ok := c.lists[name]; ok {
		c.listTags -= len(l.tags)
		delete(c.lists, name)
	}
	if len(tags) == 0 { // at most maxCachedTags entries to look at
		for k := range c.tags {
			if k.name == name {
				delete(c.tags, k)
			}
		}
		return
	}
	for _, t := range tags {
		delete(c.tags, tagKey{name, t})
	}
}

// usedAt returns the modification time of d's used record as a Stat last
// found it.
func (c *MemCache) usedAt(d digest.Digest) (time.Time, bool) {
	if c == nil {
		return time.Time{}, false
	}
	c.umu.Lock()
	defer c.umu.Unlock()
	t, ok := c.used[d]
	return t, ok
}

// rememberUsed records the modification time of d's used record, found
// by a Stat. When full, an eighth of the entries make room.
func (c *MemCache) rememberUsed(d digest.Digest, mtime time.Time) {
	if c == nil {
		return
	}
	c.umu.Lock()
	defer c.umu.Unlock()
	if _, ok := c.used[d]; !ok && len(c.used) >= maxCachedUsed {
		n := maxCachedUsed / 8
		for k := range c.used {
			delete(c.used, k)
			if n--; n == 0 {
				break
			}
		}
	}
	c.used[clone(d)] = mtime
}

// clone copies d: a digest from a request's URL is a slice of the whole
// request line, which an entry kept for long would keep too.
func clone(d digest.Digest) digest.Digest { return digest.Digest(strings.Clone(string(d))) }

// The store's side.

// resolveCached is resolve through the tag cache: for manifest GET and
// HEAD only. Writes, deletes and their checks resolve from storage.
func (s *Store) resolveCached(ctx context.Context, name, ref string) (digest.Digest, error) {
	if s.mem == nil || s.mem.tagTTL < 0 || IsDigest(ref) {
		return s.resolve(ctx, name, ref)
	}
	at := s.now()
	d, epoch, ok, renew := s.mem.tag(name, ref, at)
	if renew {
		go s.renewTag(context.WithoutCancel(ctx), strings.Clone(name), strings.Clone(ref))
	}
	if ok {
		return d, nil
	}
	d, err := s.resolve(ctx, name, ref)
	if err == nil {
		s.mem.rememberTag(name, ref, d, at, epoch)
	}
	return d, err
}

// renewTag reads tag ref of repository name again for the cache, as a
// miss would. A failed read leaves the entry to expire.
func (s *Store) renewTag(ctx context.Context, name, ref string) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	at := s.now()
	_, epoch, _, _ := s.mem.tag(name, ref, at)
	if d, err := s.resolve(ctx, name, ref); err == nil {
		s.mem.rememberTag(name, ref, d, at, epoch)
	}
}

// tagsChanged forgets the tags of repository name that a write or delete
// changed (all of them when none is named).
func (s *Store) tagsChanged(name string, tags ...string) { s.mem.forgetTags(name, tags...) }

// cachedManifest returns manifest d from the cache when the storage
// vouched for it recently enough (as for a blob descriptor, doc.go's K3;
// the caller relied on d before asking).
func (s *Store) cachedManifest(d digest.Digest) (*cachedManifest, bool) {
	m, ok := s.mem.manifest(d)
	if !ok || m.verified.Before(s.notBefore()) {
		return nil, false
	}
	return m, true
}

// rememberManifest caches manifest d, found in or written to the storage
// after a rely of d that began after t.
func (s *Store) rememberManifest(d digest.Digest, payload []byte, mediaType string, doc *manifestDoc, t time.Time) {
	if s.mem == nil {
		return
	}
	var refs *manifestDoc
	if doc != nil {
		// What requiredRefs reads, without the rest.
		refs = &manifestDoc{MediaType: doc.MediaType, Config: doc.Config, Layers: doc.Layers, Manifests: doc.Manifests}
	}
	s.mem.putManifest(&cachedManifest{d: clone(d), payload: payload, mediaType: mediaType, doc: refs, verified: t})
}

// forgetBlobEverywhere drops blob d from the descriptor cache (with its
// links in repos) and from the node's manifest and used caches.
func (s *Store) forgetBlobEverywhere(ctx context.Context, d digest.Digest, repos ...string) {
	s.cache.ForgetBlob(ctx, d, repos...)
	s.mem.forgetBlob(d)
}
