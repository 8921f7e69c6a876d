package health

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Poller runs one probe in the background and keeps its verdict: it is
// unhealthy once threshold probes in a row have failed, as Distribution's
// threshold updater is, and healthy again at the first probe that
// succeeds.
type Poller struct {
	kind      string // the kind of check, for the log: storage, file, http, tcp
	target    string // what it watches, for the log
	probe     func(context.Context) error
	threshold int
	timeout   time.Duration // per probe; 0: one interval, at least a second
	log       *slog.Logger

	mu       sync.Mutex
	failures int
	last     error
}

// NewPoller makes a check of probe, which watches target (a driver name, a
// path, a URL, an address) and is of the given kind. threshold <= 0 is
// Distribution's default, 1; timeout bounds each probe, 0 meaning one
// interval (and at least a second), so that a dependency that hangs rather
// than refuses counts as a failure, not as a stalled check.
func NewPoller(kind, target string, probe func(context.Context) error, threshold int, timeout time.Duration, log *slog.Logger) *Poller {
	if threshold <= 0 {
		threshold = DefaultThreshold
	}
	return &Poller{kind: kind, target: target, probe: probe, threshold: threshold, timeout: timeout, log: log}
}

// Err returns the last probe's error once threshold probes in a row failed.
func (p *Poller) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failures >= p.threshold {
		return p.last
	}
	return nil
}

// Run probes at once, then every interval (DefaultInterval when <= 0),
// until ctx ends.
func (p *Poller) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	timeout := p.timeout
	if timeout <= 0 {
		timeout = max(interval, time.Second)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		err := p.probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		p.update(err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Poller) update(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	was := p.failures >= p.threshold
	if err == nil {
		p.failures = 0
	} else if p.failures < p.threshold {
		p.failures++
	}
	p.last = err
	now := p.failures >= p.threshold
	switch {
	case now && !was:
		p.log.Error(p.kind+" health check: unhealthy", "target", p.target, "failures", p.failures, "err", err)
	case !now && was:
		p.log.Info(p.kind+" health check: healthy again", "target", p.target)
	case err != nil:
		p.log.Warn(p.kind+" health check failed", "target", p.target, "failures", p.failures, "threshold", p.threshold, "err", err)
	}
}
