package registry

import (
	"context"
	"errors"
	"net/http"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage"
)

// PullThrough is a pull-through cache (registry/proxy implements it): the
// repositories it claims are served from upstream registries, cached in
// this registry's storage. Pulls consult it; pushes into its repositories
// are refused with 405 UNSUPPORTED, as Distribution's cache refuses them;
// deletes are allowed where deletes are enabled, and evict from the cache.
type PullThrough interface {
	// Upstream reports whether repository name is the cache's, naming
	// the upstream for messages.
	Upstream(name string) (remote string, ok bool)
	// Manifest returns manifest ref of repository name, cached or fetched.
	Manifest(ctx context.Context, name, ref string) (*storage.Manifest, error)
	// ServeBlob answers GET or HEAD of blob d, which is not in storage,
	// returning an error only when it has written nothing.
	ServeBlob(w http.ResponseWriter, r *http.Request, name string, d digest.Digest) error
	// Tags lists the tags of repository name, sorted.
	Tags(ctx context.Context, name string) ([]string, error)
}

// WithPullThrough makes the registry a pull-through cache of the upstreams
// p serves (Distribution's proxy section, extended to several upstreams
// by repository prefix); repositories p does not claim behave as usual.
// When an upstream fails, its cached content is still served; what is not
// cached answers 404 (MANIFEST_UNKNOWN, BLOB_UNKNOWN, NAME_UNKNOWN) when
// the upstream does not have it or refuses the cache's credentials, and
// 503 UNAVAILABLE when it cannot be reached, with a message naming the
// upstream and its failure.
func WithPullThrough(p PullThrough) Option { return func(o *options) { o.proxy = p } }

// proxied returns the cache when repository name is one of its.
func (a *App) proxied(name string) (PullThrough, bool) {
	if a.opts.proxy == nil {
		return nil, false
	}
	_, ok := a.opts.proxy.Upstream(name)
	return a.opts.proxy, ok
}

// cacheHit counts a blob of repository name served from storage as a hit
// of the pull-through cache when the repository is the cache's. The cache
// counts its own manifest hits and its misses (proxy.WithObserver): the
// registry looks for a blob in storage before asking the cache.
func (a *App) cacheHit(name string) {
	if a.opts.metrics == nil {
		return
	}
	if _, ok := a.proxied(name); ok {
		a.opts.metrics.CacheHit("blob")
	}
}

// refusePush is the error of a write into a cached repository, or nil.
func (a *App) refusePush(r *http.Request) error {
	if a.opts.proxy == nil {
		return nil
	}
	name := routeVar(r, "name")
	if remote, ok := a.opts.proxy.Upstream(name); ok {
		return newError(codeUnsupported, "repository %s is a pull-through cache of %s: pushes are refused", name, remote)
	}
	return nil
}

// manifest is the manifest ref of repository name, from the cache when the
// repository is the cache's.
func (a *App) manifest(ctx context.Context, name, ref string) (*storage.Manifest, error) {
	if p, ok := a.proxied(name); ok {
		m, err := p.Manifest(ctx, name, ref)
		return m, upstreamError(err)
	}
	return a.store.GetManifest(ctx, name, ref)
}

// tagList lists the tags of repository name, from the cache when the
// repository is the cache's, else through the node cache
// (storage.Store.TagsCached): the slice may be shared, not to be changed.
func (a *App) tagList(ctx context.Context, name string) ([]string, error) {
	if p, ok := a.proxied(name); ok {
		tags, err := p.Tags(ctx, name)
		return tags, upstreamError(err)
	}
	return a.store.TagsCached(ctx, name)
}

// pullBlob serves a blob storage does not have from the cache, when the
// repository is the cache's; handled is false otherwise.
func (a *App) pullBlob(w http.ResponseWriter, r *http.Request, name string, d digest.Digest) (handled bool, err error) {
	p, ok := a.proxied(name)
	if !ok {
		return false, nil
	}
	return true, upstreamError(p.ServeBlob(w, r, name, d))
}

// upstreamError keeps the message of an upstream's unavailability for the
// client (it names the upstream and what failed, nothing internal), which
// writeError would otherwise replace as it does for storage failures.
func upstreamError(err error) error {
	var ue interface{ Upstream() string }
	if err != nil && errors.As(err, &ue) && classify(err) == codeUnavailable {
		return &apiError{code: codeUnavailable, msg: err.Error()}
	}
	return err
}
