package registry

import (
	"regexp"
	"strings"

	"github.com/berth-registry/berth/registry/storage"
)

// WithBaseURL makes the Location headers of uploads and pushed manifests
// absolute URLs under base (Distribution's http.host, e.g.
// https://registry.example.com), for clients behind a proxy that rewrites
// the host. Without it they are paths relative to the request's host, as
// the OCI spec allows and Distribution's http.relativeurls: true does.
func WithBaseURL(base string) Option {
	return func(o *options) { o.baseURL = strings.TrimSuffix(base, "/") }
}

// WithManifestURLs restricts the URLs a layer descriptor of a pushed image
// manifest may carry (foreign or non-distributable layers), as
// Distribution's validation.manifests.urls: each must be http or https
// without a fragment, match allow when allow is set, and not match deny
// when deny is set. A manifest with another URL is refused with
// MANIFEST_INVALID (Distribution answers 500 UNKNOWN). Without this option
// any URL passes.
func WithManifestURLs(allow, deny *regexp.Regexp) Option {
	return func(o *options) { o.manifestURLs = &storage.URLPolicy{Allow: allow, Deny: deny} }
}

// WithPrefix serves the API, and the token server, under prefix
// (Distribution's http.prefix, e.g. /registry): /registry/v2/... The
// prefix is a path with one leading slash and no trailing one, "" for the
// root. The Location and Link headers the registry sends carry it, so that
// a client behind a proxy that sends /v2/ there follows them to the same
// place. /healthz and /readyz stay at the root, where load balancers probe
// the listener itself, as Distribution's health endpoints do.
func WithPrefix(prefix string) Option {
	return func(o *options) { o.prefix = strings.TrimRight(prefix, "/") }
}

// path is the path of the API's path p (from /v2/) under the prefix.
func (a *App) path(p string) string { return a.opts.prefix + p }

// location is the Location header value for path, a path from /v2/.
func (a *App) location(path string) string { return a.opts.baseURL + a.path(path) }

// WithCatalogMax caps a catalog page at n repositories (Distribution's
// catalog.maxentries); 0 keeps the default, 1000. A larger n in a request
// gets n repositories and a Link to the rest, where Distribution answers
// PAGINATION_NUMBER_INVALID: the spec lets a registry return fewer.
func WithCatalogMax(n int) Option { return func(o *options) { o.maxCatalog = n } }

// WithTagsMax caps the n of a tags list request at n (Distribution's
// tags.maxtags): fewer tags and a Link to the rest. 0, the default, caps
// nothing; a request without n gets every tag, as in Distribution.
func WithTagsMax(n int) Option { return func(o *options) { o.maxTags = n } }

func (a *App) catalogMax() int {
	if a.opts.maxCatalog > 0 {
		return a.opts.maxCatalog
	}
	return maxCatalog
}
