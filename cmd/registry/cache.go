package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/berth-registry/berth/registry/config"
	"github.com/berth-registry/berth/registry/storage/blobcache"
)

// openBlobCache opens storage.cache.blobdescriptor: nil without one, an
// LRU of blobdescriptorsize entries (inmemory), or the redis section's
// server (redis). obs (the metrics) may be nil. It also describes the
// cache for the start-up line. A Redis that does not answer does not stop
// start-up: the registry serves from storage until it does.
func openBlobCache(ctx context.Context, cfg *config.Config, obs blobcache.Observer, logger *slog.Logger) (*blobcache.Cache, string, error) {
	switch cfg.Storage.Cache.BlobDescriptor {
	case "inmemory":
		b := blobcache.NewMemory(cfg.Storage.Cache.BlobDescriptorSize)
		return blobcache.New(b, obs, logger), ", blob descriptor cache inmemory", nil
	case "redis":
		opts, err := redisOptions(&cfg.Redis)
		if err != nil {
			return nil, "", err
		}
		if cfg.Storage.Cache.BlobDescriptorSize > 0 {
			logger.Warn("storage.cache.blobdescriptorsize applies to the inmemory cache only; the redis cache's keys expire instead")
		}
		client := redis.NewUniversalClient(opts)
		if err := client.Ping(ctx).Err(); err != nil {
			logger.Warn("redis does not answer; requests use the storage until it does", "addrs", opts.Addrs, "error", err)
		}
		return blobcache.New(blobcache.NewRedis(client), obs, logger), fmt.Sprintf(", blob descriptor cache redis at %v", opts.Addrs), nil
	}
	return nil, "", nil
}

// sharedBlobCache is the cache a maintenance command (gc, scrub) forgets
// its deletions in: the redis one when configured, so that every serving
// node sees them at once; nil otherwise (an inmemory cache belongs to
// each serving process, whose trust window covers collection; see
// registry/storage's doc.go). Its failures are logged to stderr.
func sharedBlobCache(ctx context.Context, cfg *config.Config, stderr io.Writer) (*blobcache.Cache, error) {
	if cfg.Storage.Cache.BlobDescriptor != "redis" {
		return nil, nil
	}
	c, _, err := openBlobCache(ctx, cfg, nil, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	return c, err
}

// redisOptions maps the redis section (Distribution v3's go-redis
// UniversalOptions, plus Distribution 2's addr and tls.enabled) onto
// go-redis. Several addresses make a cluster client, mastername a
// Sentinel one, as in Distribution.
func redisOptions(c *config.Redis) (*redis.UniversalOptions, error) {
	addrs := c.Addrs
	if len(addrs) == 0 && c.Addr != "" {
		addrs = []string{c.Addr}
	}
	if len(addrs) == 0 {
		return nil, errors.New("config: storage.cache.blobdescriptor: redis needs redis.addrs (host:port of the server)")
	}
	o := &redis.UniversalOptions{
		Addrs:                 addrs,
		ClientName:            c.ClientName,
		DB:                    c.DB,
		Protocol:              c.Protocol,
		Username:              c.Username,
		Password:              c.Password,
		SentinelUsername:      c.SentinelUsername,
		SentinelPassword:      c.SentinelPassword,
		MaxRetries:            c.MaxRetries,
		MinRetryBackoff:       c.MinRetryBackoff,
		MaxRetryBackoff:       c.MaxRetryBackoff,
		DialTimeout:           c.DialTimeout,
		ReadTimeout:           c.ReadTimeout,
		WriteTimeout:          c.WriteTimeout,
		ContextTimeoutEnabled: c.ContextTimeoutEnabled,
		PoolFIFO:              c.PoolFIFO,
		PoolSize:              c.PoolSize,
		PoolTimeout:           c.PoolTimeout,
		MinIdleConns:          c.MinIdleConns,
		MaxIdleConns:          c.MaxIdleConns,
		MaxActiveConns:        c.MaxActiveConns,
		ConnMaxIdleTime:       c.ConnMaxIdleTime,
		ConnMaxLifetime:       c.ConnMaxLifetime,
		MaxRedirects:          c.MaxRedirects,
		ReadOnly:              c.ReadOnly,
		RouteByLatency:        c.RouteByLatency,
		RouteRandomly:         c.RouteRandomly,
		MasterName:            c.MasterName,
		DisableIdentity:       c.DisableIdentity,
		IdentitySuffix:        c.IdentitySuffix,
		UnstableResp3:         c.UnstableResp3,
	}
	t := c.TLS
	if !t.Enabled && t.Certificate == "" && t.Key == "" && len(t.RootCAs) == 0 {
		return o, nil
	}
	if (t.Certificate == "") != (t.Key == "") {
		return nil, errors.New("config: redis.tls: certificate and key go together (a client certificate for mutual TLS); set both or neither")
	}
	o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if t.Certificate != "" {
		cert, err := tls.LoadX509KeyPair(t.Certificate, t.Key)
		if err != nil {
			return nil, fmt.Errorf("config: redis.tls: %w", err)
		}
		o.TLSConfig.Certificates = []tls.Certificate{cert}
	}
	if len(t.RootCAs) > 0 {
		pool := x509.NewCertPool()
		for _, name := range t.RootCAs {
			pem, err := os.ReadFile(name)
			if err != nil {
				return nil, fmt.Errorf("config: redis.tls.rootcas: %w", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("config: redis.tls.rootcas: %s: no PEM certificates in it", name)
			}
		}
		o.TLSConfig.RootCAs = pool
	}
	return o, nil
}
