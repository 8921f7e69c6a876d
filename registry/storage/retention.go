package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/policy"
	"github.com/berth-registry/berth/registry/storage/internal/check"
	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/internal/periodic"
	"github.com/berth-registry/berth/registry/storage/internal/times"
	"github.com/berth-registry/berth/storagedriver"
)

// Retention's side of the storage: what a run reads of a repository
// (Inventory) and how it deletes (Pruner) without losing a push.
//
// Deleting a tag races with a push that writes it again. The two follow a
// handshake like garbage collection's (doc.go; untag in tags.go, which
// scrub's repairs and a refused push's takeback use too): the pruner
// writes untagging(name, tag)/<run>, then reads the tag's current link and
// deletes the tag only if it still names the digest it judged; Tag writes
// the link, then lists untagging(name, tag), and while a live record is
// there waits for it to go and writes the tag again. Of the two
// write-then-read sequences one sees the other's write: either the pruner
// sees the new link and spares the tag, or the push sees the record and
// rewrites the tag after the deletion. A manifest goes through
// garbage collection's own handshake on its digest, limited to the
// repository, so a push or pull relying on it spares it or waits.

// Push and pull times (package internal/times, whose doc says how they are
// kept): the store records pushes on its write paths and notes pulls in
// memory, written in batches by FlushPulls.

// PullFlushInterval is how often a serving node writes the pulls it saw.
const PullFlushInterval = time.Minute

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
	s.pulls.Record(name, d, s.clock())
}

// FlushPulls writes the pulls noted since the last flush: per manifest,
// the later of its record and the noted time. What fails to be written is
// noted again for the next flush.
func (s *Store) FlushPulls(ctx context.Context) error { return s.pulls.Flush(ctx, s.driver) }

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
	return s.pulls.LastPulled(ctx, s.driver, name, d)
}

type tagPushRecord struct {
	Digest digest.Digest `json:"digest"`
	Pushed time.Time     `json:"pushed"`
}

func (s *Store) recordTagPush(ctx context.Context, name, tag string, d digest.Digest) error {
	return s.driver.PutContent(ctx, times.PushedTagPath(name, tag), s.tagPushContent(d))
}

// tagPushContent is the push record of a tag moved to d now.
func (s *Store) tagPushContent(d digest.Digest) []byte {
	b, _ := json.Marshal(tagPushRecord{Digest: d, Pushed: s.clock().UTC()}) // cannot fail
	return b
}

// waitUntagging is the push side of the tag handshake, called right after
// the tag's current link was written: it waits while a live untagging
// record of the tag exists and reports whether it did.
func (s *Store) waitUntagging(ctx context.Context, name, tag string) (bool, error) {
	waited := false
	for {
		records, err := s.driver.List(ctx, times.UntaggingDir(name, tag))
		if errors.Is(err, storagedriver.ErrPathNotFound) || err == nil && len(records) == 0 {
			return waited, nil
		}
		if err != nil {
			return waited, err
		}
		now, err := s.driver.Stat(ctx, layout.TagCurrentPath(name, tag))
		if errors.Is(err, storagedriver.ErrPathNotFound) {
			now.ModTime = s.now() // deleted by the pruner just now
		} else if err != nil {
			return waited, err
		}
		live := false
		for _, p := range records {
			fi, err := s.driver.Stat(ctx, p)
			if err == nil && fi.ModTime.Add(deletingTTL+mtimeSlack).After(now.ModTime) {
				live = true
			} else if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
				return waited, err
			}
		}
		if !live {
			return waited, nil
		}
		waited = true
		select {
		case <-ctx.Done():
			return waited, ctx.Err()
		case <-time.After(relyPoll):
		}
	}
}

// deleteTimeRecords removes the push and pull records of manifest d.
func (s *Store) deleteTimeRecords(ctx context.Context, name string, d digest.Digest) error {
	s.pulls.Forget(name, d)
	if err := ignoreNotFound(s.driver.Delete(ctx, times.ManifestPushedPath(name, d))); err != nil {
		return err
	}
	return ignoreNotFound(s.driver.Delete(ctx, times.PulledPath(name, d)))
}

// Inventory reads what retention decides on in repository name: its tags
// with their push times, and its manifests with what they reference and
// their push and last-pull times (this node's unflushed pulls included).
func (s *Store) Inventory(ctx context.Context, name string) (*policy.Inventory, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	c := s.newCollector(GCOptions{})
	r := &repoState{name: name, tags: map[string]digest.Digest{}, revs: map[digest.Digest]time.Time{}}
	if err := c.readTags(ctx, r); err != nil {
		return nil, err
	}
	if err := c.readRevisions(ctx, r); err != nil {
		return nil, err
	}
	inv := &policy.Inventory{}
	for tag, d := range r.tags {
		pushed, err := s.TagPushed(ctx, name, tag, d)
		if err != nil {
			return nil, err
		}
		inv.Tags = append(inv.Tags, policy.TagState{Name: tag, Digest: d, Pushed: pushed})
	}
	pending := s.pulls.Pending(name)
	for d, linked := range r.revs {
		m := policy.ManifestState{Digest: d, Pushed: linked}
		doc, err := c.readManifest(ctx, d)
		if err != nil {
			return nil, err
		}
		if doc != nil {
			if doc.Subject != nil {
				m.Subject = doc.Subject.Digest
			}
			for _, child := range doc.Manifests {
				m.Children = append(m.Children, child.Digest)
			}
		}
		if t, err := s.manifestPushed(ctx, name, d); err != nil {
			return nil, err
		} else if !t.IsZero() {
			m.Pushed = t
		}
		if m.Pulled, err = times.Read(ctx, s.driver, times.PulledPath(name, d)); err != nil {
			return nil, err
		}
		if p := pending[d]; p.After(m.Pulled) {
			m.Pulled = p
		}
		inv.Manifests = append(inv.Manifests, m)
	}
	return inv, nil
}

// manifestPushed is the time of manifest d's push record in repository
// name; zero when there is none or it is unreadable. The record is a time
// (times.Encode) or, for a manifest pushed with tags, the tags' record
// (tagPushRecord, the same file: PutManifestGuarded), which counts when
// it names d.
func (s *Store) manifestPushed(ctx context.Context, name string, d digest.Digest) (time.Time, error) {
	b, err := s.driver.GetContent(ctx, times.ManifestPushedPath(name, d))
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return pushedRecord(b, d), nil
}

// pushedRecord parses b, the content of manifest d's push record.
func pushedRecord(b []byte, d digest.Digest) time.Time {
	var rec tagPushRecord
	if bytes.HasPrefix(b, []byte("{")) {
		if json.Unmarshal(b, &rec) != nil || rec.Digest != d {
			return time.Time{}
		}
		return rec.Pushed
	}
	return times.Parse(b)
}

// TagPushed is when tag was pushed to d: its record when the record names
// d, else the mtime of its current link.
func (s *Store) TagPushed(ctx context.Context, name, tag string, d digest.Digest) (time.Time, error) {
	b, err := s.driver.GetContent(ctx, times.PushedTagPath(name, tag))
	if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
		return time.Time{}, err
	}
	var rec tagPushRecord
	if err == nil && json.Unmarshal(b, &rec) == nil && rec.Digest == d && !rec.Pushed.IsZero() {
		return rec.Pushed, nil
	}
	fi, err := s.driver.Stat(ctx, layout.TagCurrentPath(name, tag))
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return time.Time{}, nil // deleted meanwhile
	}
	return fi.ModTime, err
}

// Pruner deletes what a retention run decided, one run at a time.
type Pruner struct {
	c *collector

	beforeUntag func() // test hook: after the tag was checked, before it goes
}

// NewPruner starts a retention run's deletions: what was written or relied
// on less than grace before now (by the storage's clock) is spared; grace
// must be at least the serving nodes' (WithGCGrace), 0 meaning
// DefaultGCGrace.
func (s *Store) NewPruner(ctx context.Context, grace time.Duration) (*Pruner, error) {
	c := s.newCollector(GCOptions{Grace: grace})
	run, err := newUploadID()
	if err != nil {
		return nil, err
	}
	c.run = run
	start, err := c.storageNow(ctx)
	if err != nil {
		return nil, fmt.Errorf("retention: read the storage clock: %w", err)
	}
	c.cutoff = start.Add(-c.opts.Grace)
	return &Pruner{c: c}, nil
}

// Untag deletes tag of repository name if it still points at d. It
// returns "" when it did, else why it spared the tag.
func (p *Pruner) Untag(ctx context.Context, name, tag string, d digest.Digest) (spared string, err error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	if err := CheckTag(tag); err != nil {
		return "", err
	}
	s := p.c.s
	why, err := s.untag(ctx, name, tag, untagging{run: p.c.run, judged: []byte(d), before: p.beforeUntag,
		spare: func(_ context.Context, current []byte) (string, error) {
			if now, err := ParseDigest(string(current)); err != nil || now != d {
				return "moved to " + truncate(current) + " meanwhile", nil
			}
			return "", nil
		}})
	if err != nil || why != "" {
		return why, err
	}
	return "", ignoreNotFound(s.driver.Delete(ctx, times.PushedTagPath(name, tag)))
}

// DeleteManifest deletes manifest d of repository name (its revision link,
// its entries in tag histories and the referrers index, its push and pull
// records), unless a request relied on it within the grace period. The
// blobs stay for garbage collection. It returns "" when it deleted, else
// why it spared the manifest.
func (p *Pruner) DeleteManifest(ctx context.Context, name string, d digest.Digest, subject digest.Digest) (spared string, err error) {
	if err := check.NameDigest(name, d); err != nil {
		return "", err
	}
	s := p.c.s
	del := func(ctx context.Context) error {
		err := s.driver.Delete(ctx, pathDir(layout.RevisionLinkPath(name, d)))
		s.forgetLinks(ctx, name, d)
		if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
			return err
		}
		tags, err := s.driver.List(ctx, layout.TagsDir(name))
		if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
			return err
		}
		for _, t := range tags {
			if err := ignoreNotFound(s.driver.Delete(ctx, pathDir(layout.TagIndexPath(name, path.Base(t), d)))); err != nil {
				return err
			}
		}
		if subject != "" && CheckDigest(subject) == nil {
			if err := ignoreNotFound(s.driver.Delete(ctx, layout.ReferrerPath(name, subject, d))); err != nil {
				return err
			}
		}
		return s.deleteTimeRecords(ctx, name, d)
	}
	ok, err := p.c.handshake(ctx, d, []string{name}, del)
	if err != nil || ok {
		return "", err
	}
	return "written or used within the grace period", nil
}
