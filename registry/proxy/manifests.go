package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/storagedriver"
)

// manifestTimeout bounds one shared manifest fetch (with its config blob),
// which runs detached from the requests waiting for it.
const manifestTimeout = 5 * time.Minute

// manifestOp is one fetch of a manifest, shared by the requests for it.
type manifestOp struct {
	done chan struct{}
	m    *storage.Manifest
	err  error
}

// Manifest returns manifest ref (a tag or a digest) of repository name.
//
// A manifest by digest is served from the cache when there; it never
// changes, so the upstream is never asked again. A tag is served from the
// cache while the upstream confirmed it less than the TTL ago; after that,
// the first request asks the upstream (HEAD) whether the tag moved and
// fetches what it points to now if so. When the upstream cannot answer, a
// cached tag is served as it is, with a log line. What is not cached is
// fetched (GET), stored and served. Concurrent requests for one reference
// share one upstream request.
//
// Errors: storage.ErrNameInvalid, ErrTagInvalid, ErrDigestInvalid for a
// malformed name or ref; *UpstreamError (storage.ErrManifestUnknown,
// storagedriver.ErrUnavailable) when the manifest is not cached and the
// upstream does not give it.
func (c *Cache) Manifest(ctx context.Context, name, ref string) (*storage.Manifest, error) {
	if err := storage.CheckName(name); err != nil {
		return nil, err
	}
	if err := checkRef(ref); err != nil {
		return nil, err
	}
	u, rref, ok := c.route(name)
	if !ok {
		return c.store.GetManifest(ctx, name, ref)
	}
	if m, ok := c.cached(ctx, u, name, ref); ok {
		c.obs.CacheHit("manifest")
		return m, nil
	}
	return c.shareManifest(ctx, name+" "+ref, func(ctx context.Context) (*storage.Manifest, error) {
		return c.fetchManifest(ctx, u, rref, name, ref)
	})
}

func checkRef(ref string) error {
	if storage.IsDigest(ref) {
		_, err := storage.ParseDigest(ref)
		return err
	}
	return storage.CheckTag(ref)
}

// cached returns the cached manifest when it may be served without asking
// the upstream.
func (c *Cache) cached(ctx context.Context, u *upstream, name, ref string) (*storage.Manifest, bool) {
	m, err := c.store.GetManifest(ctx, name, ref)
	if err != nil {
		return nil, false
	}
	if storage.IsDigest(ref) {
		return m, true
	}
	checked, ok := c.checkedAt(ctx, name, ref)
	return m, ok && u.fresh(c.now(), checked)
}

// shareManifest runs fetch once for every concurrent caller with key, on a
// goroutine of its own so that the first caller leaving does not fail the
// others.
func (c *Cache) shareManifest(ctx context.Context, key string, fetch func(context.Context) (*storage.Manifest, error)) (*storage.Manifest, error) {
	c.mu.Lock()
	op := c.manifests[key]
	if op != nil {
		c.obs.CacheJoined("manifest")
	} else {
		c.obs.CacheMiss("manifest")
		op = &manifestOp{done: make(chan struct{})}
		c.manifests[key] = op
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), manifestTimeout)
		go func() {
			defer cancel()
			op.m, op.err = fetch(fctx)
			c.mu.Lock()
			delete(c.manifests, key)
			c.mu.Unlock()
			close(op.done)
		}()
	}
	c.mu.Unlock()
	select {
	case <-op.done:
		return op.m, op.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fetchManifest asks the upstream for manifest ref of repository name.
func (c *Cache) fetchManifest(ctx context.Context, u *upstream, rref client.Reference, name, ref string) (*storage.Manifest, error) {
	// A request that missed the cache just before the previous fetch of
	// ref ended starts this one; it finds the manifest cached.
	if m, ok := c.cached(ctx, u, name, ref); ok {
		return m, nil
	}
	what := fmt.Sprintf("manifest %s of %s", ref, name)
	if storage.IsDigest(ref) {
		um, err := u.client.ManifestGet(ctx, rref.WithDigest(digest.Digest(ref)))
		if err != nil {
			return nil, u.fail(ctx, what, err, storage.ErrManifestUnknown)
		}
		return c.keep(ctx, u, rref, name, ref, um, nil), nil
	}

	stale, err := c.store.GetManifest(ctx, name, ref)
	if err != nil {
		um, err := u.client.ManifestGet(ctx, rref.WithTag(ref))
		if err != nil {
			return nil, u.fail(ctx, what, err, storage.ErrManifestUnknown)
		}
		return c.keep(ctx, u, rref, name, ref, um, nil), nil
	}

	// Cached, and past its TTL: one HEAD says whether the tag moved.
	logStale := func(why string, err error) {
		c.log.WarnContext(ctx, "proxy: serving a cached tag past its ttl: "+why,
			"repository", name, "tag", ref, "digest", stale.Digest, "upstream", u.RemoteURL, "err", err)
	}
	if u.down() {
		logStale("upstream failed recently", nil)
		return stale, nil
	}
	desc, err := u.client.ManifestHead(ctx, rref.WithTag(ref))
	if err != nil {
		_ = u.fail(ctx, what, err, storage.ErrManifestUnknown) // marks it down when unavailable
		logStale("upstream did not confirm the tag", err)
		return stale, nil
	}
	if desc.Digest == stale.Digest {
		c.markChecked(ctx, name, ref)
		return stale, nil
	}
	if m, err := c.store.GetManifest(ctx, name, desc.Digest.String()); err == nil {
		if err := c.store.Tag(ctx, name, ref, m.Digest); err != nil {
			c.log.ErrorContext(ctx, "proxy: cannot move a cached tag", "repository", name, "tag", ref, "err", err)
		} else {
			c.markChecked(ctx, name, ref)
		}
		return m, nil
	}
	um, err := u.client.ManifestGet(ctx, rref.WithDigest(desc.Digest))
	if err != nil {
		_ = u.fail(ctx, what, err, storage.ErrManifestUnknown)
		logStale("upstream moved the tag but did not give the new manifest", err)
		return stale, nil
	}
	return c.keep(ctx, u, rref, name, desc.Digest.String(), um, []string{ref}), nil
}

// keep stores um, fetched from the upstream, as ref of repository name
// (also tagging it with tags), records the tags as just checked, and
// returns it. Storage requires an image manifest's config blob to be in
// the repository, so it is fetched first. A manifest that cannot be stored
// is still served, with a log line: the next request fetches it again.
func (c *Cache) keep(ctx context.Context, u *upstream, rref client.Reference, name, ref string, um *client.Manifest, tags []string) *storage.Manifest {
	served := &storage.Manifest{Digest: um.Descriptor.Digest, MediaType: um.Descriptor.MediaType, Payload: um.Payload}
	notCached := func(err error) *storage.Manifest {
		c.log.ErrorContext(ctx, "proxy: manifest served but not cached", "repository", name, "reference", ref, "err", err)
		return served
	}
	if cfg := configOf(um.Payload); cfg != "" {
		if err := c.ensureBlob(ctx, u, rref, name, cfg); err != nil {
			return notCached(fmt.Errorf("its config blob %s: %w", cfg, err))
		}
	}
	m, err := c.store.PutManifest(ctx, name, ref, um.Descriptor.MediaType, um.Payload, tags)
	if err != nil {
		return notCached(err)
	}
	if !storage.IsDigest(ref) {
		tags = append(tags, ref)
	}
	for _, t := range tags {
		c.markChecked(ctx, name, t)
	}
	return m
}

// configOf returns the digest of an image manifest's config, or "" for an
// index or a manifest without a valid one.
func configOf(payload []byte) digest.Digest {
	var doc struct {
		Config *struct {
			Digest string `json:"digest"`
		} `json:"config"`
	}
	if json.Unmarshal(payload, &doc) != nil || doc.Config == nil {
		return ""
	}
	d, err := storage.ParseDigest(doc.Config.Digest)
	if err != nil {
		return ""
	}
	return d
}

// markChecked records that the upstream confirmed (or just set) tag now.
// A failure costs one more freshness check, so it is only logged.
func (c *Cache) markChecked(ctx context.Context, name, tag string) {
	stamp := c.now().UTC().Format(time.RFC3339Nano)
	if err := c.driver.PutContent(ctx, tagCheckedPath(name, tag), []byte(stamp)); err != nil {
		c.log.WarnContext(ctx, "proxy: cannot record a tag check", "repository", name, "tag", tag, "err", err)
	}
}

// checkedAt is when the upstream last confirmed tag; ok is false when it
// never did (or the record is unreadable).
func (c *Cache) checkedAt(ctx context.Context, name, tag string) (time.Time, bool) {
	b, err := c.driver.GetContent(ctx, tagCheckedPath(name, tag))
	if err != nil {
		if !errors.Is(err, storagedriver.ErrPathNotFound) {
			c.log.WarnContext(ctx, "proxy: cannot read a tag check", "repository", name, "tag", tag, "err", err)
		}
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	return t, err == nil
}
