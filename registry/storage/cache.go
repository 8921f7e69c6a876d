package storage

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/blobcache"
)

// The blob descriptor cache (storage.cache.blobdescriptor) on the request
// side. What it may answer, and why collection cannot make it lie, is in
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
