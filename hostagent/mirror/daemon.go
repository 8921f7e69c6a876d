package mirror

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Daemon runs the rules of a sync config on their schedules until it
// is stopped, taking new configs as it goes. Each rule runs in its own
// loop, never overlapping itself; rules running at once share the
// registries' limits.
//
// When a rule is due: a rule with an interval runs when the daemon starts
// and then that long after the start of its previous run (at once, if
// that run took longer); a cron rule at the times its expression names; a
// rule without a schedule once, when the daemon starts.
//
// It logs one structured line per run ("sync run": rule, images and blobs
// copied, mounted, skipped and failed, bytes, referrers, seconds, next
// run), one per image copied ("image copied", at Info) or failed ("image
// failed", at Warn), and its own starts, reloads and stop.
type Daemon struct {
	m      *Mirror
	log    *slog.Logger
	cfg    *compiled
	reload chan *compiled
	known  *knownBlobs // shared by every config: mounts stay possible across reloads

	mu   sync.Mutex
	last map[string]time.Time // start of each rule's last complete run
}

// NewDaemon checks cfg and prepares a daemon for it; log receives its
// lines. Errors: errdefs.ErrInvalid.
func (m *Mirror) NewDaemon(cfg *Config, log *slog.Logger) (*Daemon, error) {
	comp, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	return &Daemon{
		m: m, log: log, cfg: comp,
		reload: make(chan *compiled, 1),
		known:  newKnownBlobs(),
		last:   map[string]time.Time{},
	}, nil
}

// Reload checks cfg and hands it to Run, which lets the images in flight
// finish, then continues with the rules of cfg: a rule that keeps its
// name, source and destination keeps its last run time (an interval
// counts on from there; a rule without schedule does not run again).
// A config that does not check is refused (errdefs.ErrInvalid) and the old one
// stays.
func (d *Daemon) Reload(cfg *Config) error {
	comp, err := cfg.compile()
	if err != nil {
		return err
	}
	for {
		select {
		case d.reload <- comp:
			return nil
		case <-d.reload: // a newer config replaces one not yet taken
		}
	}
}

// Run runs the rules until drain is closed, which lets the images in
// flight finish and then returns nil, or until ctx ends, which abandons
// them and returns ctx's error.
func (d *Daemon) Run(ctx context.Context, drain <-chan struct{}) error {
	cfg := d.cfg
	d.log.Info("sync daemon started", "rules", len(cfg.rules))
	for {
		stop := make(chan struct{})
		s := d.m.newSyncer(cfg, d.known, false)
		var wg sync.WaitGroup
		for _, r := range cfg.rules {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.loop(ctx, s, r, stop)
			}()
		}
		var next *compiled
		select {
		case next = <-d.reload:
			d.log.Info("reloading the config: letting the copies in flight finish")
		case <-drain:
			d.log.Info("stopping: letting the copies in flight finish")
		case <-ctx.Done():
		}
		close(stop)
		wg.Wait()
		if next == nil {
			d.log.Info("sync daemon stopped")
			return ctx.Err()
		}
		cfg = next
		d.log.Info("config reloaded", "rules", len(cfg.rules))
	}
}

// loop runs one rule on its schedule until stop closes or ctx ends.
func (d *Daemon) loop(ctx context.Context, s *syncer, r *syncRule, stop <-chan struct{}) {
	key := r.name + "\x00" + r.src.String() + "\x00" + r.dst.String()
	now := time.Now()
	d.mu.Lock()
	last, ran := d.last[key]
	d.mu.Unlock()
	var next time.Time
	switch sc := r.sched.(type) {
	case nil:
		if !ran {
			next = now
		}
	case interval:
		next = now
		if ran {
			next = later(last.Add(time.Duration(sc)), now)
		}
	default:
		next = sc.next(now)
	}
	for {
		if next.IsZero() {
			select {
			case <-stop:
			case <-ctx.Done():
			}
			return
		}
		t := time.NewTimer(time.Until(next))
		select {
		case <-stop:
			t.Stop()
			return
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		started := time.Now()
		sum := s.run(ctx, r, Options{Drain: stop, Report: func(img Image) { d.logImage(ctx, img) }})
		next = time.Time{}
		if r.sched != nil && !isClosed(stop) {
			next = later(r.sched.next(started), time.Now())
		}
		if !sum.Stopped {
			d.mu.Lock()
			d.last[key] = started
			d.mu.Unlock()
		}
		d.logRun(ctx, sum, next)
	}
}

func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

func (d *Daemon) logImage(ctx context.Context, img Image) {
	attrs := []slog.Attr{
		slog.String("rule", img.Rule), slog.String("source", img.Source),
		slog.String("destination", img.Destination), slog.String("digest", img.Digest.String()),
	}
	switch img.Action {
	case "copied":
		d.log.LogAttrs(ctx, slog.LevelInfo, "image copied", append(attrs,
			slog.Int("blobsCopied", img.Blobs.Copied), slog.Int("blobsMounted", img.Blobs.Mounted),
			slog.Int64("bytes", img.Bytes), slog.Int("referrers", img.Referrers))...)
		for _, w := range img.Warnings {
			d.log.LogAttrs(ctx, slog.LevelWarn, "image stored without a foreign layer", append(attrs, slog.String("warning", w))...)
		}
	case "skipped":
		d.log.LogAttrs(ctx, slog.LevelDebug, "image unchanged", attrs...)
	default:
		d.log.LogAttrs(ctx, slog.LevelWarn, "image failed", append(attrs, slog.String("error", img.Error))...)
	}
}

// maxLoggedFailures bounds the failures one run's line repeats.
const maxLoggedFailures = 10

func (d *Daemon) logRun(ctx context.Context, sum Summary, next time.Time) {
	level := slog.LevelInfo
	if sum.Images.Failed > 0 {
		level = slog.LevelWarn
	}
	attrs := append(summaryAttrs(sum), slog.Bool("stopped", sum.Stopped))
	if !next.IsZero() {
		attrs = append(attrs, slog.Time("next", next))
	}
	if n := len(sum.Failures); n > 0 {
		attrs = append(attrs, slog.Any("failures", sum.Failures[:min(n, maxLoggedFailures)]))
	}
	d.log.LogAttrs(ctx, level, "sync run", attrs...)
}

// summaryAttrs is a run's summary as log attributes.
func summaryAttrs(sum Summary) []slog.Attr {
	return []slog.Attr{
		slog.String("rule", sum.Rule),
		slog.Group("images", "copied", sum.Images.Copied, "skipped", sum.Images.Skipped, "failed", sum.Images.Failed),
		slog.Group("blobs", "copied", sum.Blobs.Copied, "mounted", sum.Blobs.Mounted,
			"skipped", sum.Blobs.Skipped, "failed", sum.Blobs.Failed),
		slog.Int64("bytes", sum.Bytes),
		slog.Int("referrers", sum.Referrers),
		slog.Float64("seconds", sum.Duration.Round(time.Millisecond).Seconds()),
	}
}
