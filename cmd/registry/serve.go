package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/config"
	"github.com/berth-registry/berth/registry/proxy"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/filesystem"
	"github.com/berth-registry/berth/storagedriver/inmemory"
	"github.com/berth-registry/berth/storagedriver/s3"
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
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "registry: "+format+"\n", a...)
		return code
	}
	if len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprint(stdout, serveUsage)
		return exitOK
	}
	if len(args) > 1 || (len(args) == 1 && strings.HasPrefix(args[0], "-")) {
		return fail(exitUsage, "serve takes at most one argument, a configuration file; run \"registry serve -h\"")
	}

	cfg, err := loadConfig(args, env)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	if err := unsupported(cfg); err != nil {
		return fail(exitUsage, "%v", err)
	}
	logger := newLogger(cfg.Log, stderr)
	warnIgnored(cfg, logger)

	drv, where, err := openDriver(ctx, &cfg.Storage)
	if err != nil {
		return fail(exitFailure, "storage: %v", err)
	}
	var tlsCfg *tls.Config
	if cfg.HTTP.TLS.Enabled() {
		if tlsCfg, err = newTLSConfig(&cfg.HTTP.TLS); err != nil {
			return fail(exitFailure, "tls: %v", err)
		}
	}

	authOpts, authNote, err := authOptions(&cfg.Auth, logger)
	if err != nil {
		return fail(exitFailure, "auth: %v", err)
	}

	// The app and the requests it serves get a context that outlives the
	// shutdown signal, so that requests in flight can finish during the
	// drain; it ends once the server has stopped.
	appCtx, stopApp := context.WithCancel(context.WithoutCancel(ctx))
	defer stopApp()
	proxyOpts, err := proxyOptions(cfg.Proxy, drv, cfg.Storage.GC.GraceOrDefault(), logger)
	if err != nil {
		return fail(exitFailure, "%v", err)
	}
	app, err := registry.New(appCtx, drv, slices.Concat(appOptions(cfg, logger), authOpts, proxyOpts)...)
	if err != nil {
		return fail(exitFailure, "%v", err)
	}

	startGC(appCtx, cfg.Storage.GC, storage.New(drv, storage.WithGCGrace(cfg.Storage.GC.GraceOrDefault())), logger)

	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fail(exitFailure, "%v", err)
	}
	srv := &http.Server{
		Handler:           app,
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

	fmt.Fprintf(stdout, "berth registry listening on %s%s, %s%s\n", shownAddr(cfg.HTTP.Addr, ln), tlsNote(tlsCfg), where, authNote)

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

// unsupported refuses configurations that ask for something this build
// cannot do yet and that would be wrong to ignore: serving under the wrong
// path.
func unsupported(c *config.Config) error {
	switch {
	case c.HTTP.Prefix != "" && c.HTTP.Prefix != "/":
		return errors.New("config: http.prefix is not yet supported")
	}
	return nil
}

// warnIgnored logs the configured settings that are accepted but have no
// effect yet, where ignoring them is safe.
func warnIgnored(c *config.Config, logger *slog.Logger) {
	ignored := func(key string) {
		logger.Warn("configuration key is accepted but not implemented yet; ignoring it", "key", key)
	}
	for _, e := range c.Notifications.Endpoints {
		if !e.Disabled {
			ignored("notifications.endpoints")
			break
		}
	}
	if p := c.Storage.Maintenance.UploadPurging; p != nil && p.Enabled {
		ignored("storage.maintenance.uploadpurging")
	}
	if c.HTTP.Host != "" {
		ignored("http.host")
	}
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	switch c.Level {
	case "error":
		level = slog.LevelError
	case "warn":
		level = slog.LevelWarn
	case "debug":
		level = slog.LevelDebug
	default:
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Formatter == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openDriver opens the configured storage driver and describes it for the
// start-up line. The S3 driver checks its bucket here, so that a missing
// bucket or refused credentials stop start-up with a clear error.
func openDriver(ctx context.Context, s *config.Storage) (storagedriver.Driver, string, error) {
	switch name := s.Driver(); name {
	case "inmemory":
		return inmemory.New(), "storage inmemory", nil
	case "filesystem":
		root, err := filepath.Abs(s.Filesystem.RootDirectory)
		if err != nil {
			return nil, "", err
		}
		d, err := filesystem.New(root)
		if err != nil {
			return nil, "", err
		}
		return d, "storage filesystem at " + root, nil
	case "s3":
		c := s.S3
		p := s3.Params{
			Region:                      c.Region,
			RegionEndpoint:              c.RegionEndpoint,
			Bucket:                      c.Bucket,
			RootDirectory:               c.RootDirectory,
			AccessKey:                   c.AccessKey,
			SecretKey:                   c.SecretKey,
			ForcePathStyle:              c.ForcePathStyle,
			Secure:                      c.Secure == nil || *c.Secure,
			SkipVerify:                  c.SkipVerify,
			ChunkSize:                   c.ChunkSize,
			MultipartCopyChunkSize:      c.MultipartCopyChunkSize,
			MultipartCopyMaxConcurrency: c.MultipartCopyMaxConcurrency,
			MultipartCopyThresholdSize:  c.MultipartCopyThresholdSize,
			StorageClass:                c.StorageClass,
			Encrypt:                     c.Encrypt,
			KeyID:                       c.KeyID,
			Redirect:                    !s.Redirect.Disable,
			Timeout:                     c.Timeout,
		}
		d, err := s3.New(ctx, p)
		if err != nil {
			return nil, "", err
		}
		return d, "storage " + d.String(), nil
	default:
		return nil, "", fmt.Errorf("unknown driver %q", name)
	}
}

// appOptions translates the configuration into registry options.
func appOptions(c *config.Config, logger *slog.Logger) []registry.Option {
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

// newTLSConfig loads the server certificate and, with client CAs, requires
// clients to present a certificate signed by one of them.
func newTLSConfig(c *config.TLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.Certificate, c.Key)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
	}
	if len(c.ClientCAs) > 0 {
		pool := x509.NewCertPool()
		for _, name := range c.ClientCAs {
			pem, err := os.ReadFile(name)
			if err != nil {
				return nil, err
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s: no PEM certificates in it", name)
			}
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// shownAddr is the configured address, or the one the system chose when
// the configured port is 0.
func shownAddr(configured string, ln net.Listener) string {
	if _, port, err := net.SplitHostPort(configured); err == nil && port == "0" {
		return ln.Addr().String()
	}
	return configured
}

func tlsNote(c *tls.Config) string {
	switch {
	case c == nil:
		return ""
	case c.ClientAuth == tls.RequireAndVerifyClientCert:
		return " (TLS, client certificates required)"
	}
	return " (TLS)"
}

// proxyOptions makes the registry a pull-through cache of the configured
// upstreams (none without a proxy section): proxy.remoteurl for every
// repository no prefix takes, and each of proxy.upstreams for its prefix.
func proxyOptions(c *config.Proxy, drv storagedriver.Driver, grace time.Duration, logger *slog.Logger) ([]registry.Option, error) {
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
	cache, err := proxy.New(drv, ups, proxy.WithLogger(logger), proxy.WithGCGrace(grace))
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
