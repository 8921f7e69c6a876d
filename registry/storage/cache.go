package storage

import (
	"context"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/blobcache"
	"github.com/berth-registry/berth/registry/storage/internal/manifest"
	"github.com/berth-registry/berth/registry/storage/internal/memcache"
)

// The store's side of its two caches: the blob descriptor cache
// (storage.cache.blobdescriptor, package blobcache) and the node's
// manifest cache (MemCache, package internal/memcache).
//
// The blob descriptor cache on the request side. What it may answer, and why collection cannot make it lie, is in
// doc.go ("The blob descriptor cache"); in short: an entry is written only
// after a rely and a storage read that found it, stamped with the time
// taken before that rely, and trusted for cacheWindow (grace/4) after the
// stamp, while rely keeps running on every request.

// WithBlobDescriptorCache makes the store remember blob sizes and
// repositories' links in c (nil: no cache). Nodes sharing a storage may
// each have their own (inmemory) or share one (redis); a collector run by
// a store with the cache forgets what it deletes.
func WithBlobDescriptorCache(c *blobcache.Cache) Option { return func(s *Store) { s.cache = c } }

// cacheWindow is how long after its stamp an entry is trusted: half of
// what a rely guarantees (grace/2), the other half being the margin for
// the clocks of the nodes sharing a Redis and the storage's.
func (s *Store) cacheWindow() time.Duration { return s.grace / 4 }

// notBefore is the oldest stamp trusted now.
func (s *Store) notBefore() time.Time {
	if s.cacheTrustAll {
		return time.Time{}
	}
	return s.now().Add(-s.cacheWindow())
}

// cacheTTL is how long an entry stamped at t is still worth keeping.
func (s *Store) cacheTTL(t time.Time) time.Duration { return s.cacheWindow() - s.now().Sub(t) }

// manifestScope is the cache's name for the manifest revisions of
// repository name, apart from name itself, which stands for "links the
// blob as a layer or a manifest". Repository names hold no ':'.
func manifestScope(name string) string { return name + "::manifests" }

// cachedLink reports whether the cache vouches for scope's link to d, and
// the entry's stamp.
func (s *Store) cachedLink(ctx context.Context, scope string, d digest.Digest) (time.Time, bool) {
	return s.cache.Link(ctx, scope, d, s.notBefore())
}

// stillTrusted reports whether an entry stamped at is trusted now. A hit
// looked up before a rely is checked again once the rely returned, so that
// the entry vouches for the moment the answer is given, as a storage read
// after the rely would (doc.go, K3).
func (s *Store) stillTrusted(at time.Time) bool { return s.cacheCheckOnce || !at.Before(s.notBefore()) }

// rememberLink, on a cache miss, checks the link again after the caller's
// rely (a collector may have deleted it between the first check and the
// rely) and records it stamped t, a time taken before the rely.
func (s *Store) rememberLink(ctx context.Context, scope string, d digest.Digest, t time.Time, check func() error) {
	if s.cache == nil || check() != nil {
		return
	}
	s.cache.SetLink(ctx, scope, d, t, s.cacheTTL(t))
}

// cachedBlobSize is blobSize through the cache. The caller relied on d
// after t: the size found in storage is recorded stamped t. It reports
// whether the cache answered.
func (s *Store) cachedBlobSize(ctx context.Context, d digest.Digest, t time.Time) (int64, bool, error) {
	if desc, ok := s.cache.Descriptor(ctx, d, s.notBefore()); ok {
		return desc.Size, true, nil
	}
	size, err := s.blobSize(ctx, d)
	if err == nil {
		s.rememberSize(ctx, d, size, t)
	}
	return size, false, err
}

// rememberSize records blob d's size, found in storage after a rely that
// began after t.
func (s *Store) rememberSize(ctx context.Context, d digest.Digest, size int64, t time.Time) {
	s.cache.SetDescriptor(ctx, d, blobcache.Descriptor{Size: size, Verified: t}, s.cacheTTL(t))
}

// forgetLinks drops what the cache knows of repository name's links to d,
// as a layer and as a manifest, after they were deleted.
func (s *Store) forgetLinks(ctx context.Context, name string, d digest.Digest) {
	s.cache.ForgetLink(ctx, name, d)
	s.cache.ForgetLink(ctx, manifestScope(name), d)
}

// The manifest cache (doc.go, "The manifest cache"): manifests by digest,
// tags, and the used records rely reads, kept by internal/memcache; what
// follows is when the store trusts and forgets them.

// Defaults of NewMemCache.
const (
	DefaultManifestCacheBytes = memcache.DefaultManifestBytes
	DefaultTagTTL             = memcache.DefaultTagTTL
)

// MemCache is a node's manifest cache (doc.go, "The manifest cache"). One
// MemCache may serve several stores of one process (the app's and its
// collector's), so that what either changes, the other forgets. A nil
// *MemCache caches nothing.
type MemCache struct{ c *memcache.Cache }

// NewMemCache returns a cache of at most maxBytes of manifests
// (DefaultManifestCacheBytes when 0; none when negative) whose tags are
// trusted for tagTTL after they were read (DefaultTagTTL when 0; never
// when negative).
func NewMemCache(maxBytes int64, tagTTL time.Duration) *MemCache {
	return &MemCache{memcache.New(maxBytes, tagTTL)}
}

// Len returns the numbers of manifests, their bytes, tags and used records
// held.
func (c *MemCache) Len() (manifests int, bytes int64, tags, used int) {
	if c == nil {
		return 0, 0, 0, 0
	}
	return c.c.Len()
}

// WithMemCache makes the store cache manifests, tags and used records in c
// (nil: no cache). Stores of one process that share a storage should
// share one.
func WithMemCache(c *MemCache) Option {
	return func(s *Store) {
		s.mem = nil
		if c != nil {
			s.mem = c.c
		}
	}
}

// resolveCached is resolve through the tag cache: for manifest GET and
// HEAD only. Writes, deletes and their checks resolve from storage.
func (s *Store) resolveCached(ctx context.Context, name, ref string) (digest.Digest, error) {
	if s.mem.TagsOff() || IsDigest(ref) {
		return s.resolve(ctx, name, ref)
	}
	at := s.now()
	d, epoch, ok, renew := s.mem.Tag(name, ref, at)
	if renew {
		go s.renewTag(context.WithoutCancel(ctx), strings.Clone(name), strings.Clone(ref))
	}
	if ok {
		return d, nil
	}
	d, err := s.resolve(ctx, name, ref)
	if err == nil {
		s.mem.RememberTag(name, ref, d, at, epoch)
	}
	return d, err
}

// renewTag reads tag ref of repository name again for the cache, as a
// miss would. A failed read leaves the entry to expire.
func (s *Store) renewTag(ctx context.Context, name, ref string) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	at := s.now()
	_, epoch, _, _ := s.mem.Tag(name, ref, at)
	if d, err := s.resolve(ctx, name, ref); err == nil {
		s.mem.RememberTag(name, ref, d, at, epoch)
	}
}

// tagsChanged forgets the tags of repository name that a write or delete
// changed (all of them when none is named).
func (s *Store) tagsChanged(name string, tags ...string) { s.mem.ForgetTags(name, tags...) }

// cachedManifest returns manifest d from the cache when the storage
// vouched for it recently enough (as for a blob descriptor, doc.go's K3;
// the caller relied on d before asking).
func (s *Store) cachedManifest(d digest.Digest) (*memcache.Manifest, bool) {
	m, ok := s.mem.Manifest(d)
	if !ok || m.Verified.Before(s.notBefore()) {
		return nil, false
	}
	return m, true
}

// rememberManifest caches manifest d, found in or written to the storage
// after a rely of d that began after t.
func (s *Store) rememberManifest(d digest.Digest, payload []byte, mediaType string, doc *manifest.Doc, t time.Time) {
	if s.mem == nil {
		return
	}
	var refs *manifest.Doc
	if doc != nil {
		// What requiredRefs reads, without the rest.
		refs = &manifest.Doc{MediaType: doc.MediaType, Config: doc.Config, Layers: doc.Layers, Manifests: doc.Manifests}
	}
	s.mem.PutManifest(&memcache.Manifest{Digest: memcache.Clone(d), Payload: payload, MediaType: mediaType, Doc: refs, Verified: t})
}

// forgetBlobEverywhere drops blob d from the descriptor cache (with its
// links in repos) and from the node's manifest and used caches.
func (s *Store) forgetBlobEverywhere(ctx context.Context, d digest.Digest, repos ...string) {
	s.cache.ForgetBlob(ctx, d, repos...)
	s.mem.ForgetBlob(d)
}
