package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/internal/lease"
	"github.com/berth-registry/berth/storagedriver"
)

// GCOptions configures one garbage collection run.
type GCOptions struct {
	// DryRun reports what would be deleted and deletes nothing.
	DryRun bool
	// DeleteUntagged also deletes manifests that no tag reaches (directly,
	// as an index child or as a referrer of a live manifest).
	DeleteUntagged bool
	// Grace spares content written or relied on less than Grace before the
	// run started. It must be at least the grace of every node serving the
	// storage (their WithGCGrace); 0 means DefaultGCGrace.
	Grace time.Duration
	// OnDelete, when set, is told of each deletion (or, with DryRun, each
	// deletion that would happen), as it happens.
	OnDelete func(Deletion)
	// Prepare, when set, runs at the start of the run, before the mark:
	// retention (registry/retention) deletes there what this run then
	// frees.
	Prepare func(context.Context)
}

// Deletion is one thing a collector deleted.
type Deletion struct {
	Kind   string // "manifest", "blob", "layer link" or "used record"
	Repo   string // for manifests and layer links
	Digest digest.Digest
	Size   int64 // for blobs
}

func (d Deletion) String() string {
	switch d.Kind {
	case "blob":
		return fmt.Sprintf("blob %s (%d bytes)", d.Digest, d.Size)
	case "used record":
		return "used record " + d.Digest.String()
	}
	return fmt.Sprintf("%s %s@%s", d.Kind, d.Repo, d.Digest)
}

// GCReport counts what a run deleted (or would delete, with DryRun).
type GCReport struct {
	Repositories int // repositories marked
	Live         int // distinct live blobs, manifests included
	Manifests    int // manifest revisions deleted
	Blobs        int
	Bytes        int64 // of the blobs deleted
	LayerLinks   int
	UsedRecords  int
	Spared       int // candidates spared because a request relied on them
	Duration     time.Duration
}

// collector is one run of CollectGarbage.
type collector struct {
	s      *Store
	opts   GCOptions
	run    string
	cutoff time.Time // storage time: older content may go, newer stays
	report GCReport

	live     map[digest.Digest]struct{}
	children map[digest.Digest][]digest.Digest // every manifest marked; its index children
	garbage  map[digest.Digest][]string        // non-live blob -> repositories with an old link to it
	emptied  map[string]bool                   // repositories left without any manifest
	stale    map[digest.Digest][]string        // live blob -> emptied repositories with an old link to it
	touched  map[string]bool                   // repositories this run deleted links in

	// Test hooks: called (when set) at the named points of the run.
	afterMark    func()
	beforeDelete func(d digest.Digest)
}

// CollectGarbage deletes what no tag keeps alive (see doc.go): while
// requests go on, on any node. Several runs at once are safe (the lease of
// GCLoop only avoids the wasted work). It returns what it deleted, also
// when it fails part-way: then with the error, and what it deleted before.
func (s *Store) CollectGarbage(ctx context.Context, opts GCOptions) (*GCReport, error) {
	return s.newCollector(opts).collect(ctx)
}

func (s *Store) newCollector(opts GCOptions) *collector {
	if opts.Grace <= 0 {
		opts.Grace = DefaultGCGrace
	}
	return &collector{
		s: s, opts: opts,
		live:     map[digest.Digest]struct{}{},
		children: map[digest.Digest][]digest.Digest{},
		garbage:  map[digest.Digest][]string{},
		emptied:  map[string]bool{},
		stale:    map[digest.Digest][]string{},
		touched:  map[string]bool{},
	}
}

func (c *collector) collect(ctx context.Context) (*GCReport, error) {
	began := time.Now()
	err := c.work(ctx)
	c.report.Live = len(c.live)
	c.report.Duration = time.Since(began)
	return &c.report, err
}

// work is the run proper; it fills c.report as it goes.
func (c *collector) work(ctx context.Context) error {
	run, err := newUploadID()
	if err != nil {
		return err
	}
	c.run = run
	if c.opts.Prepare != nil {
		c.opts.Prepare(ctx)
	}
	start, err := c.storageNow(ctx)
	if err != nil {
		return fmt.Errorf("gc: read the storage clock: %w", err)
	}
	c.cutoff = start.Add(-c.opts.Grace)
	if !c.opts.DryRun {
		// Repository deletes a process left unfinished (repodelete.go):
		// done before the mark, so that what they unlink is collected.
		if _, err := c.s.ResumeRepositoryDeletes(ctx, RepoDeleteStale); err != nil {
			return fmt.Errorf("gc: resume repository deletes: %w", err)
		}
	}
	if err := c.mark(ctx); err != nil {
		return fmt.Errorf("gc: mark: %w", err)
	}
	if c.afterMark != nil {
		c.afterMark()
	}
	if err := c.sweep(ctx); err != nil {
		return fmt.Errorf("gc: sweep: %w", err)
	}
	// A repository whose last links went leaves the repository index.
	for name := range c.touched {
		if err := c.s.index.RemoveIfGone(ctx, name); err != nil {
			return fmt.Errorf("gc: %w", err)
		}
	}
	// What the report says went stays gone after a crash.
	if !c.opts.DryRun {
		if err := storagedriver.Sync(ctx, c.s.driver); err != nil {
			return fmt.Errorf("gc: %w", err)
		}
	}
	return nil
}

// storageNow is the present time of the storage's clock, which every age
// is judged by: the mtime of a file written now. Its resolution may hide up
// to mtimeSlack, which makes the cutoff earlier: the safe side.
func (c *collector) storageNow(ctx context.Context) (time.Time, error) {
	p := layout.GCClockPath(c.run)
	if err := c.s.driver.PutContent(ctx, p, []byte(time.Now().UTC().Format(time.RFC3339Nano))); err != nil {
		return time.Time{}, err
	}
	defer func() { _ = c.s.driver.Delete(ctx, p) }()
	fi, err := c.s.driver.Stat(ctx, p)
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime, nil
}

// old reports whether content with modification time t is older than the
// run's cutoff even if t was rounded down.
func (c *collector) old(t time.Time) bool { return !t.Add(mtimeSlack).After(c.cutoff) }

// usedFresh reports whether a request relied on d, or began to, since the
// cutoff.
func (c *collector) usedFresh(ctx context.Context, d digest.Digest) (bool, error) {
	for _, p := range []string{layout.RelyingPath(d), layout.UsedPath(d)} {
		fi, err := c.s.driver.Stat(ctx, p)
		if errors.Is(err, storagedriver.ErrPathNotFound) {
			continue
		}
		if err != nil || !c.old(fi.ModTime) {
			return err == nil, err
		}
	}
	return false, nil
}

// deleteRecords removes d's used and relying records, inside a handshake
// that found them old: a request writing relying(d) since saw this run's
// deleting record and writes it again once the record is gone.
func (c *collector) deleteRecords(ctx context.Context, d digest.Digest) error {
	if err := ignoreNotFound(c.s.driver.Delete(ctx, layout.RelyingPath(d))); err != nil {
		return err
	}
	return ignoreNotFound(c.s.driver.Delete(ctx, layout.UsedPath(d)))
}

// handshake runs del, which deletes d or (with repos) d's links in repos,
// under a deleting record of d, unless a request relied on d since the
// cutoff. It reports whether del ran (with DryRun: would run).
//
// The record is written before used(d) is read; a request writes used(d)
// before it reads the records. So either this run sees the request's
// record and spares d, or the request sees this run's record and does not
// go on relying on d (doc.go).
func (c *collector) handshake(ctx context.Context, d digest.Digest, repos []string, del func(context.Context) error) (bool, error) {
	if c.opts.DryRun {
		fresh, err := c.usedFresh(ctx, d)
		if fresh {
			c.report.Spared++
		}
		return !fresh && err == nil, err
	}
	began := time.Now()
	rec, err := json.Marshal(deletingRecord{Run: c.run, Written: began.UTC(), Repos: repos})
	if err != nil {
		return false, err
	}
	p := layout.DeletingPath(d, c.run)
	if err := c.s.driver.PutContent(ctx, p, rec); err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		_ = c.s.driver.Delete(cctx, p) // left behind, it dies after deletingTTL
	}()
	fresh, err := c.usedFresh(ctx, d)
	if err != nil {
		return false, err
	}
	// A run that took long since writing the record (a paused process)
	// spares d: requests take records older than deletingTTL for dead.
	if fresh || time.Since(began) > deletingTTL/2 {
		c.report.Spared++
		return false, nil
	}
	if c.beforeDelete != nil {
		c.beforeDelete(d)
	}
	return true, del(ctx)
}

func (c *collector) deleted(del Deletion) {
	if c.opts.OnDelete != nil {
		c.opts.OnDelete(del)
	}
}

// GCLoop collects garbage every interval until ctx ends, on the node named
// node, when it can take the lease; the lease is renewed while a run goes
// on. report is called after each run the node made, with what it deleted
// and its error, and with a nil report when the lease could not be read or
// written.
func (s *Store) GCLoop(ctx context.Context, node string, interval time.Duration, opts GCOptions, report func(*GCReport, error)) {
	ttl := max(interval, time.Minute)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok, err := s.gcLease().Acquire(ctx, node, ttl)
		if err != nil || !ok {
			if err != nil && ctx.Err() == nil {
				report(nil, err)
			}
			continue
		}
		r, err := s.collectLeased(ctx, node, ttl, opts)
		if ctx.Err() != nil {
			return
		}
		report(r, err)
	}
}

// collectLeased runs one collection while renewing the lease every ttl/3,
// and releases it after.
func (s *Store) collectLeased(ctx context.Context, node string, ttl time.Duration, opts GCOptions) (*GCReport, error) {
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				if ok, err := s.gcLease().Acquire(runCtx, node, ttl); err == nil && !ok {
					stop() // taken over (we were too slow): leave it to the other node
				}
			}
		}
	}()
	r, err := s.CollectGarbage(runCtx, opts)
	stop()
	<-done
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	_ = s.gcLease().Release(cctx, node)
	return r, err
}

// gcLease is the lease GCLoop's nodes share (internal/lease).
func (s *Store) gcLease() lease.Lease { return lease.Lease{Driver: s.driver, Now: s.now} }
