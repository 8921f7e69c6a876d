package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/config"
	"github.com/berth-registry/berth/registry/metrics"
	"github.com/berth-registry/berth/registry/storage"
)

const gcUsage = `Usage: registry gc CONFIG [--dry-run] [--delete-untagged] [--grace DURATION] [--metrics-file FILE]
       registry garbage-collect [-d|--dry-run] [-m|--delete-untagged] CONFIG

Collects the storage of CONFIG's registry, which may be serving meanwhile
(on any number of nodes): deletes the blobs no tagged image references, and
with --delete-untagged the manifests no tag reaches (referrers of live
manifests stay). Prints each deletion and a summary.

  -d, --dry-run          print what would be deleted, delete nothing
  -m, --delete-untagged  also delete untagged manifests
      --grace DURATION   spare what was written or used this recently
                         (default storage.gc.grace, else 1h; never less)
      --metrics-file FILE
                         write the run's metrics (berth_gc_*) to FILE in
                         Prometheus's text format, for node_exporter's
                         textfile collector; also when the run fails
`

// gc runs "registry gc" and "registry garbage-collect" (Distribution's name
// and flags, so existing cron jobs keep working).
func gc(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	fail := failer(stderr, "registry")
	fs := flag.NewFlagSet("gc", flag.ContinueOnError)
	var dryRun, untagged bool
	var grace time.Duration
	fs.BoolVar(&dryRun, "dry-run", false, "")
	fs.BoolVar(&dryRun, "d", false, "")
	fs.BoolVar(&untagged, "delete-untagged", false, "")
	fs.BoolVar(&untagged, "m", false, "")
	fs.DurationVar(&grace, "grace", 0, "")
	var metricsFile string
	fs.StringVar(&metricsFile, "metrics-file", "", "")
	positional, code, ok := parseCommand(fs, args, "gc", "registry gc -h", gcUsage, stdout, fail)
	if !ok {
		return code
	}
	if len(positional) != 1 {
		return fail(exitUsage, "gc takes one argument, a configuration file; run \"registry gc -h\"")
	}
	if err := checkMetricsFile(metricsFile); err != nil {
		return fail(exitUsage, "gc: %v", err)
	}
	cfg, err := loadConfig(positional, env)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	if grace, err = runGrace(cfg, grace); err != nil {
		return fail(exitUsage, "gc: %v", err)
	}
	drv, where, err := openDriver(ctx, &cfg.Storage, false)
	if err != nil {
		return fail(exitFailure, "storage: %v", err)
	}
	verb := "deleted"
	if dryRun {
		verb = "would delete"
	}
	fmt.Fprintf(stdout, "collecting %s (grace %s%s)\n", where, grace, map[bool]string{true: ", untagged manifests too"}[untagged])
	cache, err := sharedBlobCache(ctx, cfg, stderr)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	defer cache.Close()
	s := storage.New(drv, storage.WithGCGrace(cfg.Storage.GC.GraceOrDefault()), storage.WithBlobDescriptorCache(cache))
	r, err := s.CollectGarbage(ctx, storage.GCOptions{
		DryRun: dryRun, DeleteUntagged: untagged, Grace: grace,
		OnDelete: func(d storage.Deletion) { fmt.Fprintf(stdout, "%s %s\n", verb, d) },
	})
	if metricsFile != "" {
		if werr := writeGCMetrics(metricsFile, r, dryRun, err); werr != nil {
			fmt.Fprintf(stderr, "registry: gc: metrics file: %v\n", werr)
			if err == nil {
				return exitFailure
			}
		}
	}
	if err != nil {
		return fail(exitFailure, "%v", err)
	}
	fmt.Fprintf(stdout, "%s: %s\n", verb, summary(r))
	return exitOK
}

// checkMetricsFile checks, before a run, that a --metrics-file can be
// written where it is named: its directory exists. "" is no file.
func checkMetricsFile(path string) error {
	if path == "" {
		return nil
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
		return fmt.Errorf("--metrics-file %s: its directory does not exist", path)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("--metrics-file %s: is a directory", path)
	}
	return nil
}

// writeGCMetrics writes one run's metrics to path (--metrics-file).
func writeGCMetrics(path string, r *storage.GCReport, dryRun bool, err error) error {
	m, merr := metrics.New()
	if merr != nil {
		return merr
	}
	recordGC(m, r, dryRun, err)
	return m.WriteTextfile(path, "gc")
}

// recordGC records a run GCLoop or CollectGarbage reported: r is nil when
// the run could not start.
func recordGC(m *metrics.Metrics, r *storage.GCReport, dryRun bool, err error) {
	if r == nil {
		m.GCFailedToStart()
		return
	}
	m.GCRun(metrics.GCResult{Elapsed: r.Duration, Manifests: r.Manifests, Blobs: r.Blobs, Bytes: r.Bytes,
		LayerLinks: r.LayerLinks, UsedRecords: r.UsedRecords, DryRun: dryRun}, err)
}

func summary(r *storage.GCReport) string {
	return fmt.Sprintf("%d manifests, %d blobs (%d bytes), %d layer links, %d used records in %s; %d repositories, %d live blobs, %d spared",
		r.Manifests, r.Blobs, r.Bytes, r.LayerLinks, r.UsedRecords, r.Duration.Round(time.Millisecond),
		r.Repositories, r.Live, r.Spared)
}

// parseInterspersed parses flags anywhere among the arguments ("gc CONFIG
// --dry-run" as well as "gc --dry-run CONFIG") and returns the others.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// startGC runs garbage collection in the background of serve when
// storage.gc.enabled, until ctx ends; the lease makes one node of several
// collect at a time.
func startGC(ctx context.Context, c config.GC, s *storage.Store, policies registry.PolicySource, m *metrics.Metrics, logger *slog.Logger) {
	if !c.Enabled {
		return
	}
	host, _ := os.Hostname()
	node := fmt.Sprintf("%s/%d/%d", strings.ReplaceAll(host, "/", "_"), os.Getpid(), time.Now().UnixNano())
	logger.Info("garbage collection on", "interval", c.IntervalOrDefault(), "grace", c.GraceOrDefault(), "deleteuntagged", c.DeleteUntagged, "node", node)
	opts := storage.GCOptions{Grace: c.GraceOrDefault(), DeleteUntagged: c.DeleteUntagged,
		Prepare: retentionBeforeGC(policies, s, c.GraceOrDefault(), logger)}
	go s.GCLoop(ctx, node, c.IntervalOrDefault(), opts, func(r *storage.GCReport, err error) {
		recordGC(m, r, false, err)
		if err != nil {
			logger.Error("garbage collection", "err", err)
			return
		}
		logger.Info("garbage collection", "deleted", summary(r))
	})
}
