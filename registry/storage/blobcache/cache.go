package blobcache

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// Descriptor is what the cache knows of a blob: its size, and when the
// storage confirmed it. Berth serves blobs as application/octet-stream and
// reads a manifest's media type from its payload, so unlike Distribution's
// descriptor it has no media type.
type Descriptor struct {
	Size     int64
	Verified time.Time
}

// Backend stores the entries: a bounded LRU in memory (NewMemory) or Redis
// (NewRedis). Entries may vanish at any time (eviction, expiry); ttl is how
// long an entry is worth keeping at most.
type Backend interface {
	// Kind is the cache's name in metrics and logs: inmemory or redis.
	Kind() string
	Descriptor(ctx context.Context, d digest.Digest) (Descriptor, bool, error)
	SetDescriptor(ctx context.Context, d digest.Digest, desc Descriptor, ttl time.Duration) error
	// Link reports whether repository repo was known to link blob d (by
	// a layer link or a manifest revision), and since when.
	Link(ctx context.Context, repo string, d digest.Digest) (verified time.Time, ok bool, err error)
	SetLink(ctx context.Context, repo string, d digest.Digest, verified time.Time, ttl time.Duration) error
	// ForgetBlob drops d's descriptor; ForgetLink drops repo's link to d.
	ForgetBlob(ctx context.Context, d digest.Digest) error
	ForgetLink(ctx context.Context, repo string, d digest.Digest) error
	// Lookup is Link and Descriptor at once (one round trip to Redis).
	Lookup(ctx context.Context, repo string, d digest.Digest) (linked time.Time, linkOK bool, desc Descriptor, descOK bool, err error)
	Close() error
}

// Observer is told of the cache's lookups and failures, and of how each
// blob or manifest request was answered. registry/metrics implements it.
type Observer interface {
	// BlobCacheLookup counts a lookup in the cache of kind by result: hit,
	// miss, expired (present but too old to trust), error.
	BlobCacheLookup(cache, result string)
	// BlobCacheError counts a failed operation (get, set, forget).
	BlobCacheError(cache, op string)
	// ContentServed counts a blob or manifest (kind) answered with what the
	// cache knew (source "cache") or with storage reads ("storage").
	ContentServed(kind, source string)
}

// Lookup results and sources, the values of the metrics' labels.
const (
	Hit     = "hit"
	Miss    = "miss"
	Expired = "expired"
	Error   = "error"

	SourceCache   = "cache"
	SourceStorage = "storage"
)

// RetryAfter is how long a Cache leaves a failed backend alone: lookups
// and sets in that time are misses at once, so that a Redis that stopped
// answering costs one request a timeout, not every request.
const RetryAfter = time.Second

// errorLogEvery bounds the cache's error log to a line a minute: a Redis
// that is down fails every request's lookup.
const errorLogEvery = time.Minute

// Cache wraps a Backend for the store: it never returns an error (a
// failure is a miss, counted and logged), and it reports to the Observer.
// A nil *Cache is a cache that is always empty.
type Cache struct {
	b   Backend
	obs Observer
	log *slog.Logger

	mu         sync.Mutex
	downUntil  time.Time
	lastLog    time.Time
	suppressed int
}

// New returns a Cache over b. obs and log may be nil.
func New(b Backend, obs Observer, log *slog.Logger) *Cache {
	return &Cache{b: b, obs: obs, log: log}
}

// Kind is the backend's kind, "" for a nil Cache.
func (c *Cache) Kind() string {
	if c == nil {
		return ""
	}
	return c.b.Kind()
}

// Close releases the backend (Redis's connections).
func (c *Cache) Close() error {
	if c == nil {
		return nil
	}
	return c.b.Close()
}

// Descriptor returns d's descriptor if the cache has one verified at or
// after notBefore.
func (c *Cache) Descriptor(ctx context.Context, d digest.Digest, notBefore time.Time) (Descriptor, bool) {
	if c == nil {
		return Descriptor{}, false
	}
	if c.resting() {
		return Descriptor{}, c.lookup(false, time.Time{}, notBefore, errResting)
	}
	desc, ok, err := c.b.Descriptor(ctx, d)
	return desc, c.lookup(ok, desc.Verified, notBefore, err)
}

// Link reports whether the cache knows repo to link d, verified at or
// after notBefore, and when it was verified.
func (c *Cache) Link(ctx context.Context, repo string, d digest.Digest, notBefore time.Time) (time.Time, bool) {
	if c == nil {
		return time.Time{}, false
	}
	if c.resting() {
		return time.Time{}, c.lookup(false, time.Time{}, notBefore, errResting)
	}
	verified, ok, err := c.b.Link(ctx, repo, d)
	return verified, c.lookup(ok, verified, notBefore, err)
}

// Lookup is Link and Descriptor at once: whether the cache knows repo to
// link d (verified at linkAt), and d's descriptor, each verified at or
// after notBefore.
func (c *Cache) Lookup(ctx context.Context, repo string, d digest.Digest, notBefore time.Time) (linkAt time.Time, linked bool, desc Descriptor, sized bool) {
	if c == nil {
		return time.Time{}, false, Descriptor{}, false
	}
	var linkOK, descOK bool
	err := errResting
	if !c.resting() {
		linkAt, linkOK, desc, descOK, err = c.b.Lookup(ctx, repo, d)
	}
	linked = c.lookup(linkOK, linkAt, notBefore, err)
	if err != nil {
		err = errResting // counted once, logged once
	}
	sized = c.lookup(descOK, desc.Verified, notBefore, err)
	return linkAt, linked, desc, sized
}

func (c *Cache) lookup(ok bool, verified, notBefore time.Time, err error) bool {
	result := Miss
	switch {
	case err != nil:
		result = Error
		c.failed("get", err)
	case ok && verified.Before(notBefore):
		result, ok = Expired, false
	case ok:
		result = Hit
	}
	if c.obs != nil {
		c.obs.BlobCacheLookup(c.b.Kind(), result)
	}
	return ok && err == nil
}

// SetDescriptor records d's descriptor, worth keeping for ttl.
func (c *Cache) SetDescriptor(ctx context.Context, d digest.Digest, desc Descriptor, ttl time.Duration) {
	if c != nil && ttl > 0 && !c.resting() {
		c.check("set", c.b.SetDescriptor(ctx, d, desc, ttl))
	}
}

// SetLink records that repo links d, verified then, worth keeping for ttl.
func (c *Cache) SetLink(ctx context.Context, repo string, d digest.Digest, verified time.Time, ttl time.Duration) {
	if c != nil && ttl > 0 && !c.resting() {
		c.check("set", c.b.SetLink(ctx, repo, d, verified, ttl))
	}
}

// ForgetBlob drops d's descriptor, and d's links in repos. Forgetting is
// tried even while the backend rests: a deletion should reach every node.
func (c *Cache) ForgetBlob(ctx context.Context, d digest.Digest, repos ...string) {
	if c == nil {
		return
	}
	c.check("forget", c.b.ForgetBlob(ctx, d))
	for _, r := range repos {
		c.ForgetLink(ctx, r, d)
	}
}

// ForgetLink drops repo's link to d.
func (c *Cache) ForgetLink(ctx context.Context, repo string, d digest.Digest) {
	if c != nil {
		c.check("forget", c.b.ForgetLink(ctx, repo, d))
	}
}

// Served reports how a blob or manifest (kind) was answered.
func (c *Cache) Served(kind string, fromCache bool) {
	if c == nil || c.obs == nil {
		return
	}
	source := SourceStorage
	if fromCache {
		source = SourceCache
	}
	c.obs.ContentServed(kind, source)
}

func (c *Cache) check(op string, err error) {
	if err != nil {
		c.failed(op, err)
	}
}

// errResting stands for the error of a backend left alone after a failure.
var errResting = errors.New("resting after a failure")

// resting reports whether the backend failed less than RetryAfter ago.
func (c *Cache) resting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Before(c.downUntil)
}

// failed counts a backend failure and logs it, at most once a minute,
// saying how many were left out since the last line.
func (c *Cache) failed(op string, err error) {
	if c.obs != nil {
		c.obs.BlobCacheError(c.b.Kind(), op)
	}
	if errors.Is(err, context.Canceled) {
		return // the request's client went away: no news of the backend
	}
	c.mu.Lock()
	now := time.Now()
	if !errors.Is(err, errResting) {
		c.downUntil = now.Add(RetryAfter)
	}
	if c.log == nil {
		c.mu.Unlock()
		return
	}
	if now.Sub(c.lastLog) < errorLogEvery {
		c.suppressed++
		c.mu.Unlock()
		return
	}
	n := c.suppressed
	c.lastLog, c.suppressed = now, 0
	c.mu.Unlock()
	c.log.Warn("blob descriptor cache failing; requests use the storage", "cache", c.b.Kind(), "op", op,
		"error", err, "failures_not_logged", n)
}
