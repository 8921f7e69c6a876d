package storage

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/storagedriver"
)

// The lease lets one node of several collect at a time. It is for
// efficiency only: two collectors at once are safe (doc.go), they only
// repeat each other's work. A lease is a small JSON object in storage,
// renewed while its node collects; when its node dies it expires after its
// TTL, judged by the object's mtime.

type gcLease struct {
	Node  string        `json:"node"`
	TTL   time.Duration `json:"ttl"`
	Since time.Time     `json:"since"` // the node's clock, for humans
}

// acquireLease takes (or renews) the lease for node unless another node
// holds one that has not expired. The write is read back: of two nodes
// taking an expired lease at once, the last writer holds it, and the other
// one sees that (most of the time: the lease is only an optimisation).
func (s *Store) acquireLease(ctx context.Context, node string, ttl time.Duration) (bool, error) {
	if held, err := s.leaseHolder(ctx); err != nil || held != "" && held != node {
		return false, err
	}
	b, err := json.Marshal(gcLease{Node: node, TTL: ttl, Since: s.now().UTC()})
	if err != nil {
		return false, err
	}
	if err := s.driver.PutContent(ctx, layout.GCLeasePath(), b); err != nil {
		return false, err
	}
	// Read back who wrote last, expired or not: a node whose clock runs
	// ahead of the storage's would otherwise never hold its own lease.
	b, err = s.driver.GetContent(ctx, layout.GCLeasePath())
	if err != nil {
		return false, ignoreNotFound(err)
	}
	var l gcLease
	return json.Unmarshal(b, &l) == nil && l.Node == node, nil
}

// leaseHolder names the node holding an unexpired lease, or "".
func (s *Store) leaseHolder(ctx context.Context) (string, error) {
	fi, err := s.driver.Stat(ctx, layout.GCLeasePath())
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	b, err := s.driver.GetContent(ctx, layout.GCLeasePath())
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var l gcLease
	if json.Unmarshal(b, &l) != nil || l.TTL <= 0 {
		return "", nil // unreadable: take it over
	}
	if s.now().Sub(fi.ModTime) > l.TTL {
		return "", nil
	}
	return l.Node, nil
}

// releaseLease gives the lease up if node holds it.
func (s *Store) releaseLease(ctx context.Context, node string) error {
	held, err := s.leaseHolder(ctx)
	if err != nil || held != node {
		return err
	}
	return ignoreNotFound(s.driver.Delete(ctx, layout.GCLeasePath()))
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
		ok, err := s.acquireLease(ctx, node, ttl)
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
				if ok, err := s.acquireLease(runCtx, node, ttl); err == nil && !ok {
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
	_ = s.releaseLease(cctx, node)
	return r, err
}
