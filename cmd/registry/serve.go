package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/config"
	"github.com/berth-registry/berth/registry/health"
	"github.com/berth-registry/berth/registry/metrics"
	"github.com/berth-registry/berth/registry/proxy"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/registry/storage/blobcache"
	"github.com/berth-registry/berth/registry/ui"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/observed"
)

// readHeaderTimeout bounds how long a client may take to send request
// headers (slowloris). There is deliberately no ReadTimeout or WriteTimeout:
// they bound the whole body, and pushing or pulling a multi-gigabyte layer
// over a slow link legitimately takes a long time.
const (
	readHeaderTimeout = 30 * time.Second
	idleTimeout       = 2 * time.Minute
)

const serveUsage = `Usage: registry serve [config.yml]

Runs the registry until SIGINT or SIGTERM, then stops accepting connections
and waits up to http.draintimeout for requests in flight.
Without a file (nor REGISTRY_CONFIGURATION_PATH): filesystem storage in ./data,
listening on :5000, deletes allowed. REGISTRY_* variables override any key.
`

// serve runs "registry serve [config.yml]".
func serve(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	fail := failer(stderr, "registry")
	if len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprint(stdout, serveUsage)
		return exitOK
	}
	tuneGC()
	if len(args) > 1 || (len(args) == 1 && strings.HasPrefix(args[0], "-")) {
		return fail(exitUsage, "serve takes at most one argument, a configuration file; run \"registry serve -h\"")
	}

	cfg, err := loadConfig(args, env)
	if err == nil {
		err = errors.Join(cfg.NotImplemented()...)
	}
	if err != nil {
		// One line per problem, each with the program's prefix.
		return fail(exitUsage, "%s", strings.ReplaceAll(err.Error(), "\n", "\nregistry: "))
	}
	logger := newLogger(cfg.Log, stderr)
	tuneProfiling(cfg.HTTP.Debug.Addr)

	drv, where, err := openDriver(ctx, &cfg.Storage, true)
	if err != nil {
		return fail(exitFailure, "storage: %v", err)
	}
	// With metrics on, every storage operation is counted through a
	// wrapper of the driver, which the app, the cache and the purger
	// share; without, the driver is used bare and nothing is counted.
	var m *metrics.Metrics
	if cfg.HTTP.Debug.Prometheus.Enabled {
		if m, err = metrics.New(); err != nil {
			return fail(exitFailure, "metrics: %v", err)
		}
		drv = observed.Wrap(drv, m)
	}
	var cacheObs blobcache.Observer
	if m != nil {
		cacheObs = m
	}
	blobCache, cacheNote, err := openBlobCache(ctx, cfg, cacheObs, logger)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	defer blobCache.Close()
	var tlsCfg *tls.Config
	if cfg.HTTP.TLS.Enabled() {
		if tlsCfg, err = newTLSConfig(&cfg.HTTP.TLS); err != nil {
			return fail(exitFailure, "tls: %v", err)
		}
	}

	var uiOpts ui.Options
	authOpts, authNote, err := authOptions(&cfg.Auth, cfg.HTTP.PathPrefix(), logger, &uiOpts)
	if err != nil {
		return fail(exitFailure, "auth: %v", err)
	}
	policies, err := openPolicies(cfg, logger)
	if err != nil {
		return fail(exitFailure, "policies: %v", err)
	}

	// The app and the requests it serves get a context that outlives the
	// shutdown signal, so that requests in flight can finish during the
	// drain; it ends once the server has stopped.
	appCtx, stopApp := context.WithCancel(context.WithoutCancel(ctx))
	defer stopApp()
	proxyOpts, err := proxyOptions(cfg.Proxy, drv, m, cfg.Storage.GC.GraceOrDefault(), logger)
	if err != nil {
		return fail(exitFailure, "%v", err)
	}
	checks, debugHealth, stopHealth := startHealth(appCtx, cfg, drv, logger)
	defer stopHealth()
	notifyOpts, stopNotifier, err := startNotifier(cfg, m, logger)
	if err != nil {
		return fail(exitFailure, "notifications: %v", err)
	}
	defer stopNotifier()
	// The node's manifest, tag and used-record cache, shared with the
	// collector below so that its deletions (and retention's) reach it.
	memCache := storage.NewMemCache(0, 0)
	app, err := registry.New(appCtx, drv, slices.Concat(appOptions(cfg, m, logger), authOpts, proxyOpts, notifyOpts,
		[]registry.Option{registry.WithHealth(checks), registry.WithPolicies(policies), registry.WithBlobDescriptorCache(blobCache),
			registry.WithMemCache(memCache)})...)
	if err != nil {
		return fail(exitFailure, "%v", err)
	}

	// A root without the repository index (Distribution's, or a new one)
	// gets it now rather than on the first catalog request.
	// serve returns only once the build has stopped: it writes to the root.
	indexDone := make(chan struct{})
	listening := make(chan struct{}) // closed once the API's listener serves
	go func() {
		defer close(indexDone)
		if err := storage.New(drv).PrepareIndex(appCtx); err != nil && appCtx.Err() == nil {
			logger.Warn("repository index not built at start-up; the first catalog request builds it", "err", err)
		}
		select {
		case <-listening:
			releaseStartupPages(logger)
		case <-appCtx.Done(): // serve failed before it listened, or ends
		}
	}()
	defer func() { stopApp(); <-indexDone }()

	// The collector forgets what it deletes in the cache the app reads.
	startGC(appCtx, cfg.Storage.GC, storage.New(drv, storage.WithGCGrace(cfg.Storage.GC.GraceOrDefault()),
		storage.WithBlobDescriptorCache(blobCache), storage.WithMemCache(memCache)), policies, m, logger)

	var debug *debugServer
	if a := cfg.HTTP.Debug.Addr; a != "" {
		if debug, err = startDebug(a, cfg.HTTP.Debug.Prometheus, m, logger, debugHealth); err != nil {
			return fail(exitFailure, "http.debug: %v", err)
		}
		defer debug.close()
	}
	network := cfg.HTTP.Net
	if network == "" {
		network = "tcp"
	}
	ln, err := net.Listen(network, cfg.HTTP.Addr)
	if err != nil {
		return fail(exitFailure, "%v", err)
	}
	handler, err := withUI(cfg, app, uiOpts, logger)
	if err != nil {
		return fail(exitFailure, "ui: %v", err)
	}
	srv := &http.Server{
		Protocols:         protocols(&cfg.HTTP),
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		TLSConfig:         tlsCfg,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return appCtx },
	}
	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- srv.ServeTLS(ln, "", "") // certificates are in TLSConfig
			return
		}
		errc <- srv.Serve(ln)
	}()

	close(listening)

	purgeCtx, stopPurge := context.WithCancel(ctx)
	purgerDone := startUploadPurger(purgeCtx, cfg, drv, m, logger)
	defer func() { stopPurge(); <-purgerDone }()

	fmt.Fprintf(stdout, "berth registry listening on %s%s%s, %s%s%s%s\n", shownAddr(cfg.HTTP.Addr, ln), tlsNote(tlsCfg), prefixNote(cfg.HTTP.PathPrefix()),
		where, cacheNote, authNote, debug.note(cfg.HTTP.Debug.Addr))

	select {
	case err := <-errc:
		return fail(exitFailure, "serve: %v", err)
	case <-ctx.Done():
	}

	drain := cfg.HTTP.DrainTimeout
	logger.Info("shutting down", "draintimeout", drain)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("drain timeout reached, closing the remaining connections", "draintimeout", drain)
		stopApp()
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fail(exitFailure, "serve: %v", err)
	}
	// The pulls seen since the last flush (retention's last-pulled times).
	if err := app.FlushPulls(shutdownCtx); err != nil {
		logger.Warn("last-pulled times not written", "err", err)
	}
	// The repository metadata the UI lists (last push, size).
	if err := app.FlushMeta(shutdownCtx); err != nil {
		logger.Warn("repository metadata not written", "err", err)
	}
	logger.Info("stopped")
	return exitOK
}

// loadConfig reads the file named in args, or REGISTRY_CONFIGURATION_PATH
// (as Distribution's registry does), or starts from the defaults.
func loadConfig(args, env []string) (*config.Config, error) {
	path := ""
	if len(args) == 1 {
		path = args[0]
	} else {
		for _, e := range env {
			if v, ok := strings.CutPrefix(e, "REGISTRY_CONFIGURATION_PATH="); ok {
				path = v
			}
		}
	}
	if path == "" {
		return config.FromEnv(env)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	return config.Load(f, env)
}

// appOptions translates the configuration into registry options.
func appOptions(c *config.Config, m *metrics.Metrics, logger *slog.Logger) []registry.Option {
	ix := c.Validation.Manifests.Indexes
	var platforms []string
	if ix.Platforms == "list" {
		for _, p := range ix.PlatformList {
			platforms = append(platforms, p.String())
		}
	}
	opts := []registry.Option{
		registry.WithReadOnly(c.Storage.Maintenance.ReadOnly.Enabled),
		registry.WithDelete(c.Storage.Delete.Enabled),
		registry.WithIndexPlatforms(ix.Platforms, platforms),
		registry.WithLayerValidation(c.Validation.Manifests.Layers != "none"),
		registry.WithLogger(logger),
		registry.WithGCGrace(c.Storage.GC.GraceOrDefault()),
		registry.WithAccessLog(!c.Log.AccessLog.Disabled),
		registry.WithCatalogMax(config.PageMax(c.Catalog.MaxEntries)),
		registry.WithTagsMax(config.PageMax(c.Tags.MaxTags)),
	}
	if m != nil {
		opts = append(opts, registry.WithMetrics(m))
	}
	if c.Validation.ValidationDisabled() {
		// As in Distribution: the children of an index are not checked.
		opts = append(opts, registry.WithIndexPlatforms("none", nil))
	}
	// Load validated the expressions.
	if allow, deny, err := c.Validation.ManifestURLs(); err == nil {
		opts = append(opts, registry.WithManifestURLs(allow, deny))
	}
	if p := c.HTTP.PathPrefix(); p != "" {
		opts = append(opts, registry.WithPrefix(p))
	}
	if c.HTTP.Host != "" && !c.HTTP.RelativeURLs {
		opts = append(opts, registry.WithBaseURL(c.HTTP.Host))
	}
	if len(c.HTTP.Headers) > 0 {
		h := http.Header{}
		for name, values := range c.HTTP.Headers {
			for _, v := range values {
				h.Add(name, v)
			}
		}
		opts = append(opts, registry.WithHeaders(h))
	}
	return opts
}

// shownAddr is the configured address, or the one the system chose when
// the configured port is 0.
func shownAddr(configured string, ln net.Listener) string {
	if _, port, err := net.SplitHostPort(configured); err == nil && port == "0" {
		return ln.Addr().String()
	}
	return configured
}

// prefixNote is the start-up line's mention of http.prefix.
func prefixNote(prefix string) string {
	if prefix == "" {
		return ""
	}
	return ", API at " + prefix + "/v2/"
}

// proxyOptions makes the registry a pull-through cache of the configured
// upstreams (none without a proxy section): proxy.remoteurl for every
// repository no prefix takes, and each of proxy.upstreams for its prefix.
func proxyOptions(c *config.Proxy, drv storagedriver.Driver, m *metrics.Metrics, grace time.Duration, logger *slog.Logger) ([]registry.Option, error) {
	if c == nil {
		return nil, nil
	}
	var ups []proxy.Upstream
	if c.RemoteURL != "" {
		ups = append(ups, proxy.Upstream{RemoteURL: c.RemoteURL, Username: c.Username, Password: c.Password,
			TTL: c.UpstreamTTL(config.Upstream{})})
	}
	for _, u := range c.Upstreams {
		ups = append(ups, proxy.Upstream{Prefix: u.Prefix, RemoteURL: u.RemoteURL, Username: u.Username, Password: u.Password,
			TTL: c.UpstreamTTL(u)})
	}
	popts := []proxy.Option{proxy.WithLogger(logger), proxy.WithGCGrace(grace)}
	if m != nil {
		popts = append(popts, proxy.WithObserver(m))
	}
	cache, err := proxy.New(drv, ups, popts...)
	if err != nil {
		return nil, err
	}
	for _, u := range ups {
		prefix := u.Prefix
		if prefix == "" {
			prefix = "(every other repository)"
		}
		logger.Info("pull-through cache", "prefix", prefix, "remoteurl", u.RemoteURL, "ttl", u.TTL, "authenticated", u.Username != "")
	}
	return []registry.Option{registry.WithPullThrough(cache)}, nil
}

// startHealth starts the checks /readyz reports: the storage, polled
// every health.storagedriver.interval and failing after threshold misses
// in a row (Distribution's defaults, 10s and 1, when unset), and each of
// health.file, health.http and health.tcp. /readyz needs the storage check,
// so it runs even when health.storagedriver is not enabled; enabled lists
// it in /debug/health too, under Distribution's name,
// storagedriver_<type>. /debug/health lists the other checks under
// Distribution's names (the path, URI without its password, or address
// they watch); /readyz, which anyone may ask, names them by key
// (health.http[0]) instead. stop ends them and waits for their last
// probes, so that nothing touches the storage once serve has returned.
func startHealth(ctx context.Context, cfg *config.Config, drv storagedriver.Driver, logger *slog.Logger) (ready health.Checks, debug http.HandlerFunc, stop func()) {
	hc := cfg.Health.StorageDriver
	node, err := os.Hostname()
	if err != nil {
		node = "node"
	}
	// A shared storage's nodes may run on one host: the listen address
	// tells them apart.
	node += "-" + cfg.HTTP.Addr
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	ready, listed := health.Checks{}, health.Checks{}
	run := func(key, name string, c *health.Poller, interval time.Duration) {
		ready[key], listed[name] = c, c
		if key != "storage" {
			logger.Info("health check", "key", key, "target", name, "interval", cmp.Or(interval, health.DefaultInterval))
		}
		wg.Go(func() { c.Run(ctx, interval) })
	}
	storageCheck := health.NewStorageCheck(drv, node, hc.Threshold, cfg.Storage.Maintenance.ReadOnly.Enabled, logger)
	run("storage", "storagedriver_"+cfg.Storage.Driver(), storageCheck.Poller, hc.Interval)
	if !hc.Enabled {
		delete(listed, "storagedriver_"+cfg.Storage.Driver())
	}
	for i, f := range cfg.Health.File {
		run(fmt.Sprintf("health.file[%d]", i), f.File, health.NewFileCheck(f.File, logger), f.Interval)
	}
	for i, h := range cfg.Health.HTTP {
		run(fmt.Sprintf("health.http[%d]", i), health.RedactedURI(h.URI), health.NewHTTPCheck(h.URI, h.Headers, h.StatusCode, h.Timeout, h.Threshold, logger), h.Interval)
	}
	for i, t := range cfg.Health.TCP {
		run(fmt.Sprintf("health.tcp[%d]", i), t.Addr, health.NewTCPCheck(t.Addr, t.Timeout, t.Threshold, logger), t.Interval)
	}
	return ready, listed.Status, func() { cancel(); wg.Wait() }
}
