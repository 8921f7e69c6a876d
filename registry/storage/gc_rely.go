package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/storagedriver"
)

// The request side of garbage collection (see doc.go for the protocol and
// its proof): every path that lets a client go on believing a blob exists
// relies on it first.

// DefaultGCGrace is the grace period when none is configured: content
// younger than this is never collected, and a client that checks a blob and
// then references it within DefaultGCGrace/2 is protected.
const DefaultGCGrace = time.Hour

// deletingTTL is how long a deleting record counts: a collector spares a
// blob rather than act on its record once half of it has passed, so an
// older record belongs to a collector that died or gave up, and requests
// ignore it.
const deletingTTL = 2 * time.Minute

// mtimeSlack bounds how much older than its write a record's storage
// modification time may look: S3's LastModified has whole seconds, and a
// stamped record (writeRecord) carries the mtime of a stamp made before
// it. Ages are judged with it on the safe side.
const mtimeSlack = time.Second

// Stamped records (storagedriver.Stamper) look older than they are by less
// than StampSlack: mtimeSlack must cover that too (this fails to compile
// otherwise).
const _ = uint64(mtimeSlack - storagedriver.StampSlack)

// relyPoll is how often a waiting request looks at a deleting record again.
const relyPoll = 50 * time.Millisecond

// relyKind says what a request does when the blob it relies on is being
// deleted right now.
type relyKind int

const (
	// relyRead (blob or manifest HEAD/GET) and relyMount answer as if the
	// blob were unknown: the client uploads it again.
	relyRead relyKind = iota
	relyMount
	// relyCommit (an upload about to publish its data) and relyManifest (a
	// manifest PUT about to check its references) wait until the collector
	// is done; the caller then checks or publishes afresh.
	relyCommit
	relyManifest
)

func (k relyKind) String() string {
	return [...]string{"read", "mount", "commit", "manifest"}[k]
}

// deletingRecord is the content of layout.DeletingPath: which collector run
// wrote it and, when Repos is set, that only the blob's links in those
// repositories (a layer link or a manifest revision) are being deleted, not
// the blob itself.
type deletingRecord struct {
	Run     string    `json:"run"`
	Written time.Time `json:"written"` // the collector's clock, for humans
	Repos   []string  `json:"repos,omitempty"`
}

func (r *deletingRecord) concerns(name string) bool {
	return len(r.Repos) == 0 || slices.Contains(r.Repos, name)
}

// rely records that a request of repository name relies on blob d, and
// returns ErrBlobUnknown (for relyRead and relyMount) when a collector is
// deleting it, or waits until the collector is done (relyCommit,
// relyManifest). The caller checks that d exists after rely returns nil:
// from then on, no collector run starting within grace/2 deletes d or its
// links in name (doc.go).
//
// The fast path is one Stat: a used record younger than grace/2. A used
// record is written only after a check that found no collector deleting d,
// so it can be trusted; the record a request writes before that check is
// relying(d), which collectors read too.
func (s *Store) rely(ctx context.Context, name string, d digest.Digest, kind relyKind) error {
	_, err := s.relyWaited(ctx, name, d, kind)
	return err
}

// relyWaited is rely, and tells whether it waited for a collector: then
// the links the caller found before may be gone.
func (s *Store) relyWaited(ctx context.Context, name string, d digest.Digest, kind relyKind) (waited bool, err error) {
	if s.relyOff != nil && s.relyOff(kind) {
		return false, nil
	}
	// R1, from the node's memory of a Stat when it can (cache.go):
	// the record it found is still there, or a collector that deleted it
	// started more than grace/2 after it was written (doc.go).
	if m, ok := s.mem.UsedAt(d); ok && s.now().Sub(m) < s.grace/2 {
		return false, nil
	}
	fi, err := storagedriver.StatFile(ctx, s.driver, layout.UsedPath(d))
	if err == nil && s.now().Sub(fi.ModTime) < s.grace/2 {
		s.mem.RememberUsed(d, fi.ModTime)
		return false, nil
	}
	if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
		return false, err
	}
	for {
		if _, err := s.writeRecord(ctx, layout.RelyingPath(d)); err != nil {
			return waited, err
		}
		busy, err := s.beingDeleted(ctx, name, d)
		if err != nil {
			return waited, err
		}
		if !busy {
			m, err := s.writeRecord(ctx, layout.UsedPath(d))
			if err == nil && !m.IsZero() {
				// As good as a Stat of the record (cache.go).
				s.mem.RememberUsed(d, m)
			}
			return waited, err
		}
		if kind == relyRead || kind == relyMount {
			return false, fmt.Errorf("blob %s is being collected: %w", d, ErrBlobUnknown)
		}
		waited = true
		// Wait for the collector, then write relying(d) afresh: the
		// collector removes it with the blob, and the caller publishes or
		// checks only after this.
		for busy {
			select {
			case <-ctx.Done():
				return waited, ctx.Err()
			case <-time.After(relyPoll):
			}
			if busy, err = s.beingDeleted(ctx, name, d); err != nil {
				return waited, err
			}
		}
	}
}

// writeRecord writes the relying or used record at p and returns its
// mtime when the driver tells it (a stamp), else the zero time.
//
// The records need to be seen by a collector while this request runs,
// not to survive a crash of the machine: what the request goes on to
// write durably (a link) protects the blob from then on, and a request
// that died protects nothing. They are written without fsyncs, and as
// stamps where the driver can (storagedriver.Stamper: on the filesystem,
// a link to an inode shared by the records of up to StampSlack/4, not a
// new file), whose mtimes look older than the write by less than
// StampSlack, which mtimeSlack covers (doc.go).
func (s *Store) writeRecord(ctx context.Context, p string) (time.Time, error) {
	if st, ok := s.driver.(storagedriver.Stamper); ok {
		m, err := st.Stamp(ctx, p)
		if !errors.Is(err, errors.ErrUnsupported) {
			return m, err
		}
	}
	stamp := []byte(s.now().UTC().Format(time.RFC3339Nano))
	return time.Time{}, s.driver.PutContent(storagedriver.Volatile(ctx), p, stamp)
}

// beingDeleted reports whether a live deleting record of d concerns
// repository name. It is called right after relying(d) was written, whose
// mtime is then the storage's present time that records are aged against.
func (s *Store) beingDeleted(ctx context.Context, name string, d digest.Digest) (bool, error) {
	records, err := s.driver.List(ctx, layout.DeletingDir(d))
	if errors.Is(err, storagedriver.ErrPathNotFound) || err == nil && len(records) == 0 {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	now, err := s.driver.Stat(ctx, layout.RelyingPath(d))
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		now.ModTime = s.now() // the collector just removed it
	} else if err != nil {
		return false, err
	}
	for _, p := range records {
		rec, fi, err := s.readDeleting(ctx, p)
		if errors.Is(err, storagedriver.ErrPathNotFound) {
			continue // the collector is done with it
		}
		if err != nil {
			return false, err
		}
		if fi.ModTime.Add(deletingTTL+mtimeSlack).After(now.ModTime) && rec.concerns(name) {
			return true, nil
		}
	}
	return false, nil
}

func (s *Store) readDeleting(ctx context.Context, p string) (*deletingRecord, storagedriver.FileInfo, error) {
	fi, err := s.driver.Stat(ctx, p)
	if err != nil {
		return nil, fi, err
	}
	b, err := s.driver.GetContent(ctx, p)
	if err != nil {
		return nil, fi, err
	}
	var rec deletingRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		// Unreadable: count it as a deletion of the blob, the safe reading.
		return &deletingRecord{}, fi, nil
	}
	return &rec, fi, nil
}
