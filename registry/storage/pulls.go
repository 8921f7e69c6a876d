package storage

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/check"
	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/internal/periodic"
	"github.com/berth-registry/berth/storagedriver"
)

// Push and pull times, which retention reads (registry/policy).
//
// A push time is recorded when a tag is written (a record naming the
// digest and the time, by the store's clock) and when a manifest is put;
// content without a record (written by Distribution or an older Berth)
// counts as pushed at its link's mtime.
//
// A pull costs no storage write: RecordPull notes it in memory, and
// FlushPulls (every PullFlushInterval on a serving node) writes one record
// per manifest pulled since, keeping the later time when another node
// wrote one (merged by max). A stored last-pulled time is therefore late by
// at most the flush interval, and a node that crashes loses at most the
// pulls of its last interval.

// PullFlushInterval is how often a serving node writes the pulls it saw.
const PullFlushInterval = time.Minute

type pullKey struct {
	name string
	d    digest.Digest
}

// pullLog holds the pulls a node has not written yet.
type pullLog struct {
	mu      sync.Mutex
	pending map[pullKey]time.Time
}

// WithClock sets the clock of the push and pull times the store records
// (time.Now when unset); tests move it to simulate months. Garbage
// collection's protocol keeps the real clock and storage mtimes.
func WithClock(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.clock = now
		}
	}
}

// Now is the time by the store's clock (WithClock).
func (s *Store) Now() time.Time { return s.clock() }

// RecordPull notes in memory that manifest d of repository name was
// pulled now; FlushPulls writes it.
func (s *Store) RecordPull(name string, d digest.Digest) {
	if check.NameDigest(name, d) != nil {
		return
	}
	t := s.clock()
	s.pulls.mu.Lock()
	defer s.pulls.mu.Unlock()
	k := pullKey{name, d}
	if t.After(s.pulls.pending[k]) {
		s.pulls.pending[k] = t
	}
}

// FlushPulls writes the pulls noted since the last flush: per manifest,
// the later of its record and the noted time. What fails to be written is
// noted again for the next flush.
func (s *Store) FlushPulls(ctx context.Context) error {
	s.pulls.mu.Lock()
	batch := s.pulls.pending
	s.pulls.pending = map[pullKey]time.Time{}
	s.pulls.mu.Unlock()
	var errs []error
	for k, t := range batch {
		if err := s.mergePull(ctx, k, t); err != nil {
			errs = append(errs, fmt.Errorf("pull record of %s@%s: %w", k.name, k.d, err))
			s.pulls.mu.Lock()
			if t.After(s.pulls.pending[k]) {
				s.pulls.pending[k] = t
			}
			s.pulls.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// mergePull stores t as the last pull of k unless a later one is stored.
// Two nodes writing at once may overwrite each other: each reads back and
// writes again while the stored time is earlier than its own, so the
// latest time wins.
func (s *Store) mergePull(ctx context.Context, k pullKey, t time.Time) error {
	p := pulledPath(k.name, k.d)
	for range 3 {
		stored, err := s.readTime(ctx, p)
		if err != nil {
			return err
		}
		if !stored.Before(t) {
			return nil
		}
		if err := s.driver.PutContent(ctx, p, []byte(t.UTC().Format(time.RFC3339Nano))); err != nil {
			return err
		}
	}
	return nil
}

// FlushPullsEvery flushes every interval until ctx ends. The owner flushes
// once more when it stops serving (FlushPulls).
func (s *Store) FlushPullsEvery(ctx context.Context, interval time.Duration, report func(error)) {
	periodic.Flush(ctx, interval, s.FlushPulls, report)
}

// LastPulled returns when manifest d of repository name was last pulled,
// as far as the storage and this node know (zero: never). Other nodes'
// pulls show once they flushed them.
func (s *Store) LastPulled(ctx context.Context, name string, d digest.Digest) (time.Time, error) {
	if err := check.NameDigest(name, d); err != nil {
		return time.Time{}, err
	}
	t, err := s.readTime(ctx, pulledPath(name, d))
	if err != nil {
		return time.Time{}, err
	}
	s.pulls.mu.Lock()
	defer s.pulls.mu.Unlock()
	if p := s.pulls.pending[pullKey{name, d}]; p.After(t) {
		t = p
	}
	return t, nil
}

// pendingPulls copies the pulls of repository name not yet flushed.
func (s *Store) pendingPulls(name string) map[digest.Digest]time.Time {
	s.pulls.mu.Lock()
	defer s.pulls.mu.Unlock()
	out := map[digest.Digest]time.Time{}
	for k, t := range s.pulls.pending {
		if k.name == name {
			out[k.d] = t
		}
	}
	return out
}

// forgetPulls drops what this node noted of manifest d of name (deleted).
func (s *Store) forgetPulls(name string, d digest.Digest) {
	s.pulls.mu.Lock()
	defer s.pulls.mu.Unlock()
	delete(s.pulls.pending, pullKey{name, d})
}

// readTime reads a time record; zero when there is none or it is
// unreadable (a later write replaces it).
func (s *Store) readTime(ctx context.Context, p string) (time.Time, error) {
	b, err := s.driver.GetContent(ctx, p)
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	if err != nil {
		return time.Time{}, nil
	}
	return t, nil
}

// recordManifestPush notes that manifest d of name was pushed now.
func (s *Store) recordManifestPush(ctx context.Context, name string, d digest.Digest) error {
	return s.driver.PutContent(ctx, manifestPushedPath(name, d), []byte(s.clock().UTC().Format(time.RFC3339Nano)))
}

// The records' layout, under /berth/v1/repositories/<name>/ (internal/layout).
func pushedTagPath(name, tag string) string {
	return path.Join(layout.BerthRepositoriesRoot(), name, "_pushed", "tags", tag)
}

func manifestPushedPath(name string, d digest.Digest) string {
	return path.Join(layout.BerthRepositoriesRoot(), name, "_pushed", "manifests", d.Algorithm().String(), d.Encoded())
}

func pulledPath(name string, d digest.Digest) string {
	return path.Join(layout.BerthRepositoriesRoot(), name, "_pulled", d.Algorithm().String(), d.Encoded())
}

func untaggingDir(name, tag string) string {
	return path.Join(layout.BerthRepositoriesRoot(), name, "_untagging", tag)
}
