package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/storagedriver"
)

// Upstream is a registry that the repositories under Prefix are a cache of.
type Upstream struct {
	// Prefix selects the repositories: "docker.io" takes
	// docker.io/library/ubuntu, fetched upstream as library/ubuntu. An
	// empty prefix takes every repository no other prefix takes, fetched
	// under its own name (Distribution's single remoteurl).
	Prefix string
	// RemoteURL is the upstream's base URL, e.g. https://registry-1.docker.io.
	RemoteURL string
	// Username and Password authenticate to the upstream (basic, or for
	// its token server); both empty means anonymous.
	Username, Password string
	// TTL is how long a cached tag is served without asking the upstream
	// whether it moved; 0 trusts a cached tag forever.
	TTL time.Duration
}

// Cache is the pull-through cache over one storage driver. It is safe for
// concurrent use; several Caches (in several processes) may share one
// driver's storage.
type Cache struct {
	store     *storage.Store
	driver    storagedriver.Driver
	upstreams []*upstream // longest prefix first
	obs       Observer
	log       *slog.Logger
	spoolDir  string
	now       func() time.Time

	mu        sync.Mutex
	blobs     map[string]*blobFill   // by repository and digest
	manifests map[string]*manifestOp // by repository and reference
}

// upstream is one configured Upstream and its client.
type upstream struct {
	Upstream
	host   string // host[:port] of RemoteURL, the client's registry name
	hub    bool   // Docker Hub: one-component names live under library/
	client *client.Client
	now    func() time.Time
	obs    Observer
	// downUntil (unix nanoseconds) skips freshness checks for a while
	// after the upstream failed, so that serving stale tags is not slowed
	// by one failing request each.
	downUntil atomic.Int64
}

// Option configures a Cache.
type Option func(*options)

type options struct {
	observer Observer
	logger   *slog.Logger
	spoolDir string
	now      func() time.Time
	client   []client.Option
	gcGrace  time.Duration
}

// Observer is told of the cache's outcomes, for metrics; kind is
// "manifest", "blob" or (upstream errors only) "tags". It must be safe for
// concurrent use.
type Observer interface {
	// CacheHit: a manifest served from the cache without asking the
	// upstream. (Blobs found in storage are the registry's to count: it
	// looks there before asking the cache.)
	CacheHit(kind string)
	// CacheMiss: a fetch from the upstream started.
	CacheMiss(kind string)
	// CacheJoined: a miss that joined a fetch already in flight.
	CacheJoined(kind string)
	// UpstreamError: the upstream did not have it, refused, or could not
	// be reached.
	UpstreamError(kind string)
}

// noObserver is the Observer without WithObserver.
type noObserver struct{}

func (noObserver) CacheHit(string)      {}
func (noObserver) CacheMiss(string)     {}
func (noObserver) CacheJoined(string)   {}
func (noObserver) UpstreamError(string) {}

// WithObserver reports hits, misses and upstream errors to o.
func WithObserver(o Observer) Option { return func(opts *options) { opts.observer = o } }

// WithLogger sets the logger; the default discards.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithSpoolDir sets where blobs in transit are spooled (os.TempDir() by
// default). A spool holds at most one blob per transfer in flight and is
// removed when the transfer ends.
func WithSpoolDir(dir string) Option { return func(o *options) { o.spoolDir = dir } }

// WithGCGrace sets the garbage collection grace the cache's requests
// protect against, as registry.WithGCGrace does for the registry's own.
func WithGCGrace(g time.Duration) Option { return func(o *options) { o.gcGrace = g } }

// WithClock replaces time.Now, for tests of the TTL.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithClientOptions adds options to every upstream's client, after the
// cache's own (so they may replace its transport or retry policy).
func WithClientOptions(opts ...client.Option) Option {
	return func(o *options) { o.client = append(o.client, opts...) }
}

// downFor is how long freshness checks skip an upstream that just failed.
const downFor = 10 * time.Second

// New returns a Cache of ups over drv. Prefixes must be valid repository
// names (or empty for the catch-all) and distinct; remote URLs absolute
// http or https URLs without a path.
func New(drv storagedriver.Driver, ups []Upstream, opts ...Option) (*Cache, error) {
	o := options{spoolDir: os.TempDir(), now: time.Now, observer: noObserver{}}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if len(ups) == 0 {
		return nil, errors.New("proxy: no upstream")
	}
	c := &Cache{
		// Content arrives piecemeal: a manifest is stored before its
		// layers, an index before its children. The config blob is
		// fetched first, as storage requires it.
		store: storage.New(drv, storage.WithValidation(storage.Validation{Indexes: "none", SkipLayers: true}),
			storage.WithGCGrace(o.gcGrace)),
		driver:    drv,
		obs:       o.observer,
		log:       o.logger,
		spoolDir:  o.spoolDir,
		now:       o.now,
		blobs:     map[string]*blobFill{},
		manifests: map[string]*manifestOp{},
	}
	seen := map[string]bool{}
	for _, u := range ups {
		if seen[u.Prefix] {
			return nil, fmt.Errorf("proxy: prefix %q configured twice", u.Prefix)
		}
		seen[u.Prefix] = true
		up, err := newUpstream(u, o.now, o.observer, o.client)
		if err != nil {
			return nil, err
		}
		c.upstreams = append(c.upstreams, up)
	}
	sort.SliceStable(c.upstreams, func(i, j int) bool { return len(c.upstreams[i].Prefix) > len(c.upstreams[j].Prefix) })
	return c, nil
}

func newUpstream(u Upstream, now func() time.Time, obs Observer, extra []client.Option) (*upstream, error) {
	if u.Prefix != "" {
		if err := storage.CheckName(u.Prefix); err != nil {
			return nil, fmt.Errorf("proxy: prefix %q: %w", u.Prefix, err)
		}
	}
	if u.TTL < 0 {
		return nil, fmt.Errorf("proxy: upstream %s: negative ttl %v", u.RemoteURL, u.TTL)
	}
	rem, err := url.Parse(u.RemoteURL)
	if err != nil || (rem.Scheme != "http" && rem.Scheme != "https") || rem.Host == "" ||
		(rem.Path != "" && rem.Path != "/") || rem.RawQuery != "" || rem.User != nil {
		return nil, fmt.Errorf("proxy: remote URL %q: want http(s)://host[:port]", u.RemoteURL)
	}
	host := rem.Host
	// A transport of its own that gives up on an upstream that accepts
	// connections but does not answer, so that clients of the cache get
	// an error rather than a hang.
	base := http.DefaultTransport.(*http.Transport).Clone()
	base.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	base.ResponseHeaderTimeout = 30 * time.Second
	base.MaxIdleConnsPerHost = 32
	opts := []client.Option{
		client.WithTransport(base),
		client.WithUserAgent("berth-proxy/1"),
		// Few retries: a client is waiting, and cached content is served
		// when the upstream fails.
		client.WithRetry(client.RetryPolicy{Attempts: 2, MinDelay: 200 * time.Millisecond, MaxDelay: 2 * time.Second}),
	}
	if u.Username != "" || u.Password != "" {
		opts = append(opts, client.WithCredentials(client.StaticCredentials{
			host: {Username: u.Username, Password: u.Password},
		}))
	}
	if rem.Scheme == "https" {
		opts = append(opts, client.WithHTTPS(host)) // even on loopback
	} else {
		opts = append(opts, client.WithInsecure(host))
	}
	hostname := rem.Hostname()
	return &upstream{
		Upstream: u,
		host:     host,
		hub:      hostname == "registry-1.docker.io" || hostname == "index.docker.io" || hostname == client.DockerHub,
		client:   client.New(append(opts, extra...)...),
		now:      now,
		obs:      obs,
	}, nil
}

// Upstream reports whether repository name is in a proxied namespace, and
// names the upstream's URL. Pushes into such repositories are refused;
// pulls of what is not cached go upstream.
func (c *Cache) Upstream(name string) (string, bool) {
	for _, u := range c.upstreams {
		if u.Prefix == "" || name == u.Prefix || strings.HasPrefix(name, u.Prefix+"/") {
			return u.RemoteURL, true
		}
	}
	return "", false
}

// route finds the upstream of repository name and the reference of the
// repository there. ok is false when name has no upstream repository (it
// is not proxied, or it is a prefix itself).
func (c *Cache) route(name string) (*upstream, client.Reference, bool) {
	for _, u := range c.upstreams {
		repo := name
		if u.Prefix != "" {
			var found bool
			if repo, found = strings.CutPrefix(name, u.Prefix+"/"); !found {
				if name == u.Prefix {
					return nil, client.Reference{}, false
				}
				continue
			}
		}
		if u.hub && !strings.Contains(repo, "/") {
			repo = "library/" + repo
		}
		return u, client.Reference{Registry: u.host, Repository: repo}, true
	}
	return nil, client.Reference{}, false
}

// fresh reports whether a tag checked at checked may be served without
// asking the upstream again.
func (u *upstream) fresh(now, checked time.Time) bool {
	return u.TTL == 0 || now.Sub(checked) < u.TTL
}

// down reports whether the upstream failed within the last downFor.
func (u *upstream) down() bool { return u.now().UnixNano() < u.downUntil.Load() }

// UpstreamError is a failure of an upstream, as the cache reports it: what
// was wanted, from which upstream, and the client's error. It wraps the
// class the registry maps to a status: storage.ErrManifestUnknown,
// storage.ErrBlobUnknown or storage.ErrNameUnknown when the upstream does
// not have it (or refused the cache's credentials: registries such as
// Docker Hub answer 401 for repositories that do not exist), and
// storagedriver.ErrUnavailable when it could not be asked.
type UpstreamError struct {
	What     string // e.g. "manifest latest of docker.io/library/ubuntu"
	Remote   string // the upstream's URL
	Err      error  // from the client
	class    error
	refusing bool
}

func (e *UpstreamError) Error() string {
	switch {
	case e.refusing:
		return fmt.Sprintf("%s: upstream %s refused access (the repository may not exist upstream, or the cache's credentials for it are wrong): %v",
			e.What, e.Remote, e.Err)
	case errors.Is(e.class, storagedriver.ErrUnavailable):
		return fmt.Sprintf("%s is not cached and upstream %s is unavailable: %v", e.What, e.Remote, e.Err)
	}
	return fmt.Sprintf("%s: not found upstream at %s: %v", e.What, e.Remote, e.Err)
}

// Unwrap returns the class and the client's error.
func (e *UpstreamError) Unwrap() []error { return []error{e.class, e.Err} }

// Upstream names the upstream that failed; the registry shows the messages
// of such errors to its clients.
func (e *UpstreamError) Upstream() string { return e.Remote }

// kindOf names what a request to an upstream was for, from the class of
// its absence: the "kind" of the metrics.
func kindOf(notFound error) string {
	switch {
	case errors.Is(notFound, storage.ErrManifestUnknown):
		return "manifest"
	case errors.Is(notFound, storage.ErrBlobUnknown):
		return "blob"
	}
	return "tags"
}

// fail classifies err, a client error about what, with notFound the class
// of "the upstream does not have it". After ctx ended, err passes as is.
func (u *upstream) fail(ctx context.Context, what string, err error, notFound error) error {
	if ctx.Err() != nil { // the caller gave up: nothing to say about the upstream
		return err
	}
	e := &UpstreamError{What: what, Remote: u.RemoteURL, Err: err, class: notFound}
	u.obs.UpstreamError(kindOf(notFound))
	switch {
	case errors.Is(err, client.ErrNotFound):
	case errors.Is(err, client.ErrUnauthorized), errors.Is(err, client.ErrDenied):
		e.refusing = true
	default:
		e.class = storagedriver.ErrUnavailable
		u.downUntil.Store(u.now().Add(downFor).UnixNano())
	}
	return e
}
