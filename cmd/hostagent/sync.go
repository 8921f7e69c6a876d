package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/berth-registry/berth/hostagent"
)

// syncFlags is the flag set of sync and daemon. There --config names the
// sync.yml, as in `hostagent sync --config sync.yml`, so docker's
// config.json, the global --config, is --docker-config (or --config
// before the command name).
func (e *env) syncFlags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	global := flag.NewFlagSet("", flag.ContinueOnError)
	e.globalFlags(global)
	global.VisitAll(func(f *flag.Flag) {
		if f.Name != "config" {
			fs.Var(f.Value, f.Name, f.Usage)
		}
	})
	path := fs.String("config", "", "the sync.yml to run")
	fs.String("foreign-urls", "", "into the store: only fetch foreign and non-distributable layers from URLs matching this regular expression (default: any http or https URL)")
	fs.StringVar(&e.configPath, "docker-config", e.configPath, "docker config.json for credentials (default $DOCKER_CONFIG/config.json or ~/.docker/config.json)")
	return fs, path
}

// loadSyncConfig reads --config; a missing or bad file is a usage error.
func loadSyncConfig(cmd, path string) (*hostagent.SyncConfig, error) {
	if path == "" {
		return nil, usagef("%s: --config SYNC.YML is required", cmd)
	}
	cfg, err := hostagent.LoadSyncConfig(path)
	if err != nil && !errors.Is(err, hostagent.ErrInvalid) {
		return nil, usagef("%v", err) // unreadable: the command line's fault
	}
	return cfg, err
}

// syncAgent parses the arguments of sync or daemon (fs is its flag set;
// path, --config, is read after parsing), loads the config and opens the
// agent.
func (e *env) syncAgent(fs *flag.FlagSet, args []string, path *string) (*hostagent.Agent, *hostagent.SyncConfig, error) {
	if _, err := parseN(fs, args, 0, 0, fs.Name()+" takes no arguments (the rules are in --config)"); err != nil {
		return nil, nil, err
	}
	cfg, err := loadSyncConfig(fs.Name(), *path)
	if err != nil {
		return nil, nil, err
	}
	allow, err := foreignURLPattern(fs.Lookup("foreign-urls").Value.String())
	if err != nil {
		return nil, nil, err
	}
	a, err := e.agent(hostagent.WithForeignURLs(allow))
	return a, cfg, err
}

func cmdSync(ctx context.Context, e *env, args []string) error {
	fs, path := e.syncFlags("sync")
	dryRun := fs.Bool("dry-run", false, "read and count what would be copied; change nothing")
	var rules multiFlag
	fs.Var(&rules, "rule", "run only the rule of this name (repeatable)")
	a, cfg, err := e.syncAgent(fs, args, path)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	report := func(img hostagent.SyncImage) {
		mu.Lock()
		defer mu.Unlock()
		// Quiet or not, as install's: they change what the image can do.
		for _, w := range img.Warnings {
			fmt.Fprintf(e.stderr, "hostagent: warning: %s\n", w)
		}
		if e.quiet || e.format == "json" || img.Action == "skipped" {
			return
		}
		e.printSyncImage(img, *dryRun)
	}
	sums, err := a.Sync(ctx, cfg, hostagent.SyncOptions{DryRun: *dryRun, Rules: rules, Report: report})
	if perr := e.printSyncSummaries(sums); perr != nil && err == nil {
		err = perr
	}
	return err
}

func (e *env) printSyncImage(img hostagent.SyncImage, dryRun bool) {
	if img.Action == "failed" {
		fmt.Fprintf(e.stdout, "failed      %s -> %s: %s\n", img.Source, img.Destination, img.Error)
		return
	}
	verb := "copied"
	if dryRun {
		verb = "would copy"
	}
	fmt.Fprintf(e.stdout, "%-11s %s -> %s (%s)\n", verb, img.Source, img.Destination, blobCounts(img.Blobs, img.Bytes, img.Referrers))
}

func (e *env) printSyncSummaries(sums []hostagent.SyncSummary) error {
	switch {
	case e.quiet:
		return nil
	case e.format == "json":
		if sums == nil {
			sums = []hostagent.SyncSummary{}
		}
		return e.json(sums)
	}
	for _, s := range sums {
		note := ""
		switch {
		case s.DryRun:
			note = " (dry run: counts what would be copied)"
		case s.Stopped:
			note = " (stopped before the end)"
		}
		fmt.Fprintf(e.stdout, "sync %s: images %d copied, %d skipped, %d failed; blobs %s%s\n",
			s.Rule, s.Images.Copied, s.Images.Skipped, s.Images.Failed, blobCounts(s.Blobs, s.Bytes, s.Referrers), note)
	}
	return nil
}

// blobCounts reads "3 copied (1.2MB), 2 mounted, 4 skipped, 0 failed; 1
// referrer(s)".
func blobCounts(c hostagent.SyncCounts, bytes int64, referrers int) string {
	s := fmt.Sprintf("%d copied (%s), %d mounted, %d skipped, %d failed", c.Copied, humanSize(bytes), c.Mounted, c.Skipped, c.Failed)
	if referrers > 0 {
		s += fmt.Sprintf("; %d referrer(s)", referrers)
	}
	return s
}

// cmdDaemon runs the rules on their schedules, logging JSON lines on
// stdout. SIGHUP reloads --config (a config that does not check is logged
// and the running one kept); SIGTERM or SIGINT lets the copies in flight
// finish and exits 0; a second one abandons them.
func cmdDaemon(ctx context.Context, e *env, args []string) error {
	fs, path := e.syncFlags("daemon")
	a, cfg, err := e.syncAgent(fs, args, path)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(e.stdout, nil))
	d, err := a.NewSyncDaemon(cfg, log)
	if err != nil {
		return err
	}
	// Signals are watched before the first run, so that a SIGHUP never
	// meets its default action (exit).
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sigs)
	// main's ctx ends at the first SIGTERM; the copies in flight run on.
	hard, abort := context.WithCancel(context.WithoutCancel(ctx))
	defer abort()
	drain := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- d.Run(hard, drain) }()

	draining, stops := false, 0
	stop := func() {
		if !draining {
			draining = true
			close(drain)
		}
	}
	ctxDone := ctx.Done()
	for {
		select {
		case err := <-done:
			if errors.Is(err, context.Canceled) {
				return fmt.Errorf("daemon: stopped by a second signal, abandoning the copies in flight: %w", err)
			}
			return err
		case <-ctxDone:
			ctxDone = nil
			stop()
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				reloadDaemon(d, *path, log)
				continue
			}
			if stops++; stops > 1 {
				log.Warn("second signal: abandoning the copies in flight", "signal", sig.String())
				abort()
			}
			stop()
		}
	}
}

func reloadDaemon(d *hostagent.SyncDaemon, path string, log *slog.Logger) {
	cfg, err := hostagent.LoadSyncConfig(path)
	if err == nil {
		err = d.Reload(cfg)
	}
	if err != nil {
		log.Error("config reload failed; the running config stays", "config", path,
			"error", strings.ReplaceAll(err.Error(), "\n", " "))
		return
	}
	log.Info("config reload requested", "config", path, "rules", len(cfg.RuleNames()))
}
