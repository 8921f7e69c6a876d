package registry

import (
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/health"
	"github.com/berth-registry/berth/registry/metrics"
	"github.com/berth-registry/berth/registry/policy"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/registry/storage/blobcache"
)

// Option configures an App.
type Option func(*options)

type options struct {
	readOnly       bool
	deleteEnabled  bool
	indexPlatforms string   // "all" (default), "none" or "list"
	platformList   []string // os/arch[/variant], with "list"
	skipLayers     bool
	headers        http.Header
	logger         *slog.Logger
	auth           auth.Authorizer
	tokenServer    http.Handler
	proxy          PullThrough
	health         health.Checks
	accessLogOff   bool
	metrics        *metrics.Metrics
	baseURL        string             // WithBaseURL
	prefix         string             // WithPrefix
	manifestURLs   *storage.URLPolicy // WithManifestURLs
	maxCatalog     int                // WithCatalogMax
	maxTags        int                // WithTagsMax
	gcGrace        time.Duration
	policies       PolicySource     // WithPolicies
	clock          func() time.Time // WithClock
	pullFlush      time.Duration    // WithPullFlushInterval
	blobCache      *blobcache.Cache // WithBlobDescriptorCache
	notifier       Notifier         // WithNotifier
	memCache       *memCacheOption  // WithMemCache
	// includeReferences lists a manifest's references in its events.
	includeReferences bool
}

// PolicySource gives the repository policies in force (a nil *policy.Set:
// none). Get fails while they cannot be known (a policies file that cannot
// be read); requests the policies govern are then refused.
// *watchfile.File[*policy.Set] is one.
type PolicySource interface {
	Get() (*policy.Set, error)
}

// WithPolicies applies the repository policies of src (registry/policy):
// immutable tags, quotas, and the pull times retention reads.
func WithPolicies(src PolicySource) Option { return func(o *options) { o.policies = src } }

// WithClock sets the clock of the push and pull times the registry records
// for retention (storage.WithClock); tests move it to simulate months.
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// WithPullFlushInterval sets how often the pulls this node saw are written
// to storage (storage.PullFlushInterval when unset); until then they are
// in memory only, and a crash loses them.
func WithPullFlushInterval(d time.Duration) Option { return func(o *options) { o.pullFlush = d } }

// WithBlobDescriptorCache answers blob HEAD/GET and manifest links from c
// where it may (storage.WithBlobDescriptorCache; storage.cache
// .blobdescriptor). The caller closes c after the App.
func WithBlobDescriptorCache(c *blobcache.Cache) Option { return func(o *options) { o.blobCache = c } }

// WithGCGrace sets the grace period of garbage collection that requests
// protect against (storage.WithGCGrace; storage.DefaultGCGrace when unset).
func WithGCGrace(g time.Duration) Option { return func(o *options) { o.gcGrace = g } }

// WithReadOnly refuses every write with UNSUPPORTED/405, as Distribution's
// storage.maintenance.readonly.enabled does.
func WithReadOnly(on bool) Option { return func(o *options) { o.readOnly = on } }

// WithDelete allows DELETE of blobs, manifests and tags
// (storage.delete.enabled). Without it they answer UNSUPPORTED/405.
func WithDelete(on bool) Option { return func(o *options) { o.deleteEnabled = on } }

// WithIndexPlatforms follows Distribution's validation.manifests.indexes:
// mode "all" requires every child of an index to exist, "none" requires none,
// "list" requires those whose platform is in platforms ("os/arch[/variant]").
func WithIndexPlatforms(mode string, platforms []string) Option {
	return func(o *options) { o.indexPlatforms, o.platformList = mode, platforms }
}

// WithLayerValidation with false accepts image manifests whose layers are
// not in the repository (sparse images); the config must still be there.
// Berth's validation.manifests.layers: none. The default (true) requires
// every layer, as Distribution does.
func WithLayerValidation(required bool) Option { return func(o *options) { o.skipLayers = !required } }

// WithHeaders adds headers to every response (http.headers).
func WithHeaders(h http.Header) Option { return func(o *options) { o.headers = h } }

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithAuth puts every route behind az: each asks it for the access it
// needs (pull, push, delete on its repository; a mount with from= also
// pull on from; the catalog registry:catalog:*), and the catalog lists only
// what the caller may pull. Refusals answer 401 UNAUTHORIZED (with
// WWW-Authenticate), 403 DENIED or 429 TOOMANYREQUESTS. Without it there
// is no access control.
func WithAuth(az auth.Authorizer) Option { return func(o *options) { o.auth = az } }

// WithTokenServer serves h, the built-in token server, at TokenPath
// (GET and POST), under WithPrefix's prefix.
func WithTokenServer(h http.Handler) Option { return func(o *options) { o.tokenServer = h } }

// WithHealth serves /healthz (200 while the process serves) and /readyz
// (200 while every check passes, else 503 naming the failing ones), both
// without access control. Failing checks do not stop the API: a request
// that needs the storage fails on its own with UNAVAILABLE, while those
// that do not (the pull-through cache's upstream, /v2/) still succeed.
func WithHealth(checks health.Checks) Option { return func(o *options) { o.health = checks } }

// WithAccessLog with false drops the access log's line per request
// (log.accesslog.disabled); error lines stay.
func WithAccessLog(on bool) Option { return func(o *options) { o.accessLogOff = !on } }

// memCacheOption is WithMemCache's choice; nil (no option): a cache of
// the default size.
type memCacheOption struct{ c *storage.MemCache }

func (m *memCacheOption) get() *storage.MemCache {
	if m == nil {
		return storage.NewMemCache(0, 0)
	}
	return m.c
}

// WithMemCache sets the node's in-memory cache of manifests, tags, tag
// lists, used records and open blob files (storage.WithMemCache); nil
// turns it off. Without this
// option the App has one of the default size (storage.NewMemCache(0, 0)).
// Give the same cache to the stores of the process that delete (the
// collector's), so that what they delete is forgotten at once.
func WithMemCache(c *storage.MemCache) Option {
	return func(o *options) { o.memCache = &memCacheOption{c} }
}

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
