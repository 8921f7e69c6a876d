package memcache

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/blobio"
	"github.com/berth-registry/berth/registry/storage/internal/manifest"
)

// Defaults of New.
const (
	DefaultManifestBytes = 4 << 20
	DefaultTagTTL        = time.Second
)

// Bounds on the entries of the smaller kinds (a few dozen bytes each).
const (
	maxCachedTags = 4096
	maxCachedUsed = 4096
)

// maxCachedListTags bounds the tags of all the cached tag lists (a few
// dozen bytes each); a list longer than that is not cached.
const maxCachedListTags = 1 << 16

// Bounds of the open blob files (Files).
const (
	maxOpenBlobs = 64
	openBlobAge  = 5 * time.Second
)

// Cache holds, for one node:
//   - manifests by digest (their bytes never change; an entry also says
//     when the storage last vouched for the content, as a blob
//     descriptor does), least recently used first out, bounded by bytes;
//   - tags: which manifest a tag named when it was read, trusted for a
//     TTL; forgotten by every tag write or delete of the stores sharing the
//     cache, so that a GET after a PUT on the same node sees the PUT;
//   - tag lists: a repository's sorted tags as a List read them, under
//     the same rules as the tags (TagList);
//   - the modification times of the used records rely read, so that a
//     rely whose record is young enough needs no storage request;
//   - open files of blobs, for short reads (Files).
//
// A nil *Cache caches nothing.
type Cache struct {
	maxBytes int64
	tagTTL   time.Duration

	mu        sync.Mutex
	bytes     int64
	manifests map[digest.Digest]*list.Element // of *Manifest
	lru       *list.List                      // most recently used first

	tmu      sync.Mutex
	tags     map[tagKey]cachedTag // one flat map: a map per repository costs ~0.5 KiB even for one tag
	lists    map[string]cachedTagList
	listTags int    // the tags of all lists
	epoch    uint64 // advanced by every forget, see tagEpoch

	umu  sync.Mutex
	used map[usedKey]int64 // Unix nanoseconds

	files *blobio.Handles // open blob files, by digest
}

// Manifest is a manifest's bytes, what rely needs of its references, and
// when a storage read found it (Verified, as in a blob descriptor: the
// time taken before the rely that preceded the read).
type Manifest struct {
	Digest    digest.Digest
	Payload   []byte
	MediaType string
	Doc       *manifest.Doc // references only; nil: unparseable
	Verified  time.Time
}

type tagKey struct{ name, tag string }

type cachedTag struct {
	d          digest.Digest
	at         time.Time // taken before the storage read
	refreshing bool      // a read to renew it is under way
}

// New returns a cache of at most maxBytes of manifests
// (DefaultManifestBytes when 0; none when negative) whose tags are
// trusted for tagTTL after they were read (DefaultTagTTL when 0; never
// when negative).
func New(maxBytes int64, tagTTL time.Duration) *Cache {
	if maxBytes == 0 {
		maxBytes = DefaultManifestBytes
	}
	if tagTTL == 0 {
		tagTTL = DefaultTagTTL
	}
	return &Cache{
		maxBytes:  maxBytes,
		tagTTL:    tagTTL,
		manifests: map[digest.Digest]*list.Element{},
		lru:       list.New(),
		tags:      map[tagKey]cachedTag{},
		lists:     map[string]cachedTagList{},
		used:      map[usedKey]int64{},
		files:     blobio.NewHandles(maxOpenBlobs, openBlobAge),
	}
}

// Len returns the numbers of manifests, their bytes, tags and used records
// held.
func (c *Cache) Len() (manifests int, bytes int64, tags, used int) {
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

// Manifest returns the cached manifest d.
func (c *Cache) Manifest(d digest.Digest) (*Manifest, bool) {
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
	return e.Value.(*Manifest), true
}

// entrySize is what an entry counts against maxBytes: its bytes, about as
// much again for the parsed references, and the bookkeeping.
func entrySize(m *Manifest) int64 { return 2*int64(len(m.Payload)) + 256 }

// PutManifest caches m, replacing an older entry of its digest; a
// manifest over an eighth of the bound is not cached.
func (c *Cache) PutManifest(m *Manifest) {
	if c == nil || entrySize(m) > c.maxBytes/8 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.manifests[m.Digest]; ok {
		old := e.Value.(*Manifest)
		if old.Verified.After(m.Verified) {
			m.Verified = old.Verified
		}
		c.bytes += entrySize(m) - entrySize(old)
		e.Value = m
		c.lru.MoveToFront(e)
	} else {
		c.manifests[m.Digest] = c.lru.PushFront(m)
		c.bytes += entrySize(m)
	}
	for c.bytes > c.maxBytes {
		last := c.lru.Back()
		old := c.lru.Remove(last).(*Manifest)
		delete(c.manifests, old.Digest)
		c.bytes -= entrySize(old)
	}
}

// ForgetBlob drops what the cache knows of blob d: its manifest entry,
// its used record and its open file.
func (c *Cache) ForgetBlob(d digest.Digest) {
	if c == nil {
		return
	}
	c.files.Forget(string(d))
	c.mu.Lock()
	if e, ok := c.manifests[d]; ok {
		c.lru.Remove(e)
		delete(c.manifests, d)
		c.bytes -= entrySize(e.Value.(*Manifest))
	}
	c.mu.Unlock()
	if k, ok := usedKeyOf(d); ok {
		c.umu.Lock()
		delete(c.used, k)
		c.umu.Unlock()
	}
}

// Tag returns the digest tag of repository name named when read, if that
// was less than the TTL ago by now, and the epoch to give RememberTag on a
// miss. renew is set, once per entry, on a hit past half the TTL: the
// caller reads the tag again in the background, so that a tag in use is
// renewed before it expires rather than missed by the requests then.
func (c *Cache) Tag(name, tag string, now time.Time) (d digest.Digest, epoch uint64, ok, renew bool) {
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

// RememberTag records that tag named d when read at at, unless a tag was
// forgotten since epoch: the read may predate that write.
func (c *Cache) RememberTag(name, tag string, d digest.Digest, at time.Time, epoch uint64) {
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
		k = tagKey{strings.Clone(name), strings.Clone(tag)} // keys are copied: see Clone
	}
	c.tags[k] = cachedTag{d: Clone(d), at: at}
}

// ForgetTags drops the given tags of repository name, or all of them
// when none is given, and its tag list. Called after the storage changed
// them, it also fails the remembering of every read that began before.
func (c *Cache) ForgetTags(name string, tags ...string) {
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

// usedKey is a SHA-256 digest's 32 bytes: the used records are kept by
// the digest's value rather than its 71-byte string, 40 bytes an entry
// and nothing for the collector to scan (with a string and a time.Time
// the 4,096 entries took 0.7 MB). A digest of another algorithm is not
// cached, which costs its rely a Stat.
type usedKey [sha256.Size]byte

func usedKeyOf(d digest.Digest) (usedKey, bool) {
	var k usedKey
	alg, enc, ok := strings.Cut(string(d), ":")
	if !ok || alg != string(digest.SHA256) || len(enc) != 2*len(k) {
		return k, false
	}
	if _, err := hex.Decode(k[:], []byte(enc)); err != nil {
		return k, false
	}
	return k, true
}

// UsedAt returns the modification time of d's used record as a Stat last
// found it.
func (c *Cache) UsedAt(d digest.Digest) (time.Time, bool) {
	if c == nil {
		return time.Time{}, false
	}
	k, ok := usedKeyOf(d)
	if !ok {
		return time.Time{}, false
	}
	c.umu.Lock()
	defer c.umu.Unlock()
	n, ok := c.used[k]
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, n), true
}

// RememberUsed records the modification time of d's used record, found
// by a Stat. When full, an eighth of the entries make room.
func (c *Cache) RememberUsed(d digest.Digest, mtime time.Time) {
	if c == nil {
		return
	}
	k, ok := usedKeyOf(d)
	if !ok {
		return
	}
	c.umu.Lock()
	defer c.umu.Unlock()
	if _, ok := c.used[k]; !ok && len(c.used) >= maxCachedUsed {
		n := maxCachedUsed / 8
		for old := range c.used {
			delete(c.used, old)
			if n--; n == 0 {
				break
			}
		}
	}
	c.used[k] = mtime.UnixNano()
}

// Clone copies d: a digest from a request's URL is a slice of the whole
// request line, which an entry kept for long would keep too.
func Clone(d digest.Digest) digest.Digest { return digest.Digest(strings.Clone(string(d))) }

// TagsOff reports whether the cache keeps no tags (a TTL below zero, or
// no cache).
func (c *Cache) TagsOff() bool { return c == nil || c.tagTTL < 0 }

// cachedTagList is a repository's tags as read at at (before the List).
type cachedTagList struct {
	tags       []string
	at         time.Time
	refreshing bool // a read to renew it is under way
}

// TagList returns the tags of repository name as read less than the TTL
// before now, and the epoch to give RememberTagList on a miss; renew as
// for Tag. The slice is shared: the caller must not change it.
func (c *Cache) TagList(name string, now time.Time) (tags []string, epoch uint64, ok, renew bool) {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	e, ok := c.lists[name]
	if !ok || now.Sub(e.at) >= c.tagTTL || now.Before(e.at) {
		return nil, c.epoch, false, false
	}
	if now.Sub(e.at) > c.tagTTL/2 && !e.refreshing {
		e.refreshing, renew = true, true
		c.lists[name] = e
	}
	return e.tags, c.epoch, true, renew
}

// RememberTagList records the tags of repository name read at at, unless
// a tag was forgotten since epoch. Lists beyond maxCachedListTags in all
// make room by emptying the cache of lists.
func (c *Cache) RememberTagList(name string, tags []string, at time.Time, epoch uint64) {
	if len(tags) > maxCachedListTags {
		return
	}
	c.tmu.Lock()
	defer c.tmu.Unlock()
	if c.epoch != epoch {
		return
	}
	if old, ok := c.lists[name]; ok {
		c.listTags -= len(old.tags)
	} else {
		name = strings.Clone(name) // see Clone
	}
	if c.listTags+len(tags) > maxCachedListTags {
		clear(c.lists)
		c.listTags = 0
	}
	c.lists[name] = cachedTagList{tags: tags, at: at}
	c.listTags += len(tags)
}

// Files returns the node's open blob files, by digest: a file is kept
// openBlobAge at most, and dropped by ForgetBlob.
func (c *Cache) Files() *blobio.Handles { return c.files }
