package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/berth-registry/berth/registry/config"
	"github.com/berth-registry/berth/registry/metrics"
	"github.com/berth-registry/berth/registry/storage/purge"
	"github.com/berth-registry/berth/storagedriver"
)

// Distribution's defaults for storage.maintenance.uploadpurging, which
// apply when the section or one of its durations is absent
// (registry/handlers/app.go, uploadPurgeDefaultConfig).
const (
	defaultPurgeAge      = 168 * time.Hour
	defaultPurgeInterval = 24 * time.Hour
)

// uploadPurging is the purging the configuration asks for, with
// Distribution's defaults: on, every 24h, uploads idle for 168h. ok is
// false when it is disabled, and in read-only mode, where the registry
// writes nothing, deletions included.
func uploadPurging(c *config.Config) (p purge.Schedule, ok bool) {
	p = purge.Schedule{Age: defaultPurgeAge, Interval: defaultPurgeInterval}
	if u := c.Storage.Maintenance.UploadPurging; u != nil {
		if !u.Enabled {
			return p, false
		}
		if u.Age > 0 {
			p.Age = u.Age
		}
		if u.Interval > 0 {
			p.Interval = u.Interval
		}
		p.DryRun = u.DryRun
	}
	return p, !c.Storage.Maintenance.ReadOnly.Enabled
}

// startUploadPurger runs the upload purger until ctx ends, logging what
// each run removed; the returned channel closes when it has stopped. Every
// node of a cluster runs one: purging is safe to run concurrently.
func startUploadPurger(ctx context.Context, c *config.Config, drv storagedriver.Driver, m *metrics.Metrics, logger *slog.Logger) <-chan struct{} {
	done := make(chan struct{})
	p, ok := uploadPurging(c)
	if !ok {
		close(done)
		return done
	}
	logger.Info("upload purging", "age", p.Age, "interval", p.Interval, "dryrun", p.DryRun)
	purged := func(u purge.Upload) {
		logger.Info("purged upload", "repository", u.Repository, "id", u.ID,
			"lastactivity", u.LastActivity.UTC().Format(time.RFC3339), "bytes", u.Bytes, "dryrun", p.DryRun)
	}
	go func() {
		defer close(done)
		purge.Run(ctx, drv, p, purged, func(r purge.Result, err error) {
			m.PurgeRun(r.Elapsed, r.Uploads, r.UploadBytes, r.Pending, r.PendingBytes, p.DryRun, err)
			args := []any{"uploads", r.Uploads, "uploadbytes", r.UploadBytes, "pendingwrites", r.Pending,
				"pendingbytes", r.PendingBytes, "elapsed", r.Elapsed.Round(time.Millisecond), "dryrun", p.DryRun}
			if err != nil {
				logger.Error("upload purge failed", append(args, "err", err)...)
				return
			}
			logger.Info("upload purge done", args...)
		})
	}()
	return done
}
