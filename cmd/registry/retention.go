package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/retention"
	"github.com/berth-registry/berth/registry/storage"
)

const retentionUsage = `Usage: registry retention CONFIG [--dry-run] [--grace DURATION]

Applies the retention rules of CONFIG's policies section (or the file it
names) to the storage, which may be serving meanwhile: prints, per
repository a rule names, each tag and manifest kept or deleted and why,
then deletes the rejected ones. Run "registry gc CONFIG" after it to free
their bytes (with storage.gc.enabled the registry does both on schedule).

      --dry-run          print the decisions, delete nothing
      --grace DURATION   spare what was written or used this recently
                         (default storage.gc.grace, else 1h; never less)
`

// retentionCmd runs "registry retention".
func retentionCmd(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	fail := failer(stderr, "registry")
	fs := flag.NewFlagSet("retention", flag.ContinueOnError)
	var dryRun bool
	var grace time.Duration
	fs.BoolVar(&dryRun, "dry-run", false, "")
	fs.DurationVar(&grace, "grace", 0, "")
	positional, code, ok := parseCommand(fs, args, "retention", "registry retention -h", retentionUsage, stdout, fail)
	if !ok {
		return code
	}
	if len(positional) != 1 {
		return fail(exitUsage, "retention takes one argument, a configuration file; run \"registry retention -h\"")
	}
	cfg, err := loadConfig(positional, env)
	if err != nil {
		return fail(exitUsage, "%v", err)
	}
	if grace, err = runGrace(cfg, grace); err != nil {
		return fail(exitUsage, "retention: %v", err)
	}
	src, err := openPolicies(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return fail(exitUsage, "policies: %v", err)
	}
	set, err := src.Get()
	if err != nil {
		return fail(exitUsage, "policies: %v", err)
	}
	if !set.HasRetention() {
		fmt.Fprintln(stdout, "no retention rules: nothing to do")
		return exitOK
	}
	drv, where, err := openDriver(ctx, &cfg.Storage, false)
	if err != nil {
		return fail(exitFailure, "storage: %v", err)
	}
	fmt.Fprintf(stdout, "retention of %s (grace %s%s)\n", where, grace, map[bool]string{true: ", dry run"}[dryRun])
	s := storage.New(drv, storage.WithGCGrace(cfg.Storage.GC.GraceOrDefault()))
	r, err := retention.Run(ctx, s, set, retention.Options{DryRun: dryRun, Grace: grace, Out: stdout})
	if err != nil {
		return fail(exitFailure, "%v", err)
	}
	verb := "deleted"
	if dryRun {
		verb = "would delete"
	}
	fmt.Fprintf(stdout, "%s: %s\n", verb, r)
	return exitOK
}

// retentionBeforeGC returns the hook a scheduled garbage collection runs
// before its mark: the retention rules in force, when they are scheduled
// (policies.retention.manual off), so that the run frees what they delete.
func retentionBeforeGC(src registry.PolicySource, s *storage.Store, grace time.Duration, logger *slog.Logger) func(context.Context) {
	return func(ctx context.Context) {
		if src == nil {
			return
		}
		set, err := src.Get()
		if err != nil {
			logger.Error("retention skipped: the policies cannot be read", "err", err)
			return
		}
		if !set.RetentionScheduled() {
			return
		}
		r, err := retention.Run(ctx, s, set, retention.Options{Grace: grace})
		if err != nil {
			logger.Error("retention", "err", err)
			return
		}
		logger.Info("retention", "deleted", r.String())
	}
}
