package times

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/storagedriver"
)

// The records' layout, under /berth/v1/repositories/<name>/ (internal/layout).

// PushedTagPath is the push record of tag of repository name.
func PushedTagPath(name, tag string) string {
	return path.Join(layout.BerthRepositoriesRoot(), name, "_pushed", "tags", tag)
}

// ManifestPushedPath is the push record of manifest d of repository name.
func ManifestPushedPath(name string, d digest.Digest) string {
	return path.Join(layout.BerthRepositoriesRoot(), name, "_pushed", "manifests", d.Algorithm().String(), d.Encoded())
}

// PulledPath is the last-pull record of manifest d of repository name.
func PulledPath(name string, d digest.Digest) string {
	return path.Join(layout.BerthRepositoriesRoot(), name, "_pulled", d.Algorithm().String(), d.Encoded())
}

// UntaggingDir holds the untagging records of tag of repository name
// (retention's handshake with pushes).
func UntaggingDir(name, tag string) string {
	return path.Join(layout.BerthRepositoriesRoot(), name, "_untagging", tag)
}

// Read reads a time record; zero when there is none or it is unreadable
// (a later write replaces it).
func Read(ctx context.Context, drv storagedriver.Driver, p string) (time.Time, error) {
	b, err := drv.GetContent(ctx, p)
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return Parse(b), nil
}

// Parse parses b, a time record's content; zero when it is not one.
func Parse(b []byte) time.Time {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	if err != nil {
		return time.Time{}
	}
	return t
}

// Write writes t as the time record at p.
func Write(ctx context.Context, drv storagedriver.Driver, p string, t time.Time) error {
	return drv.PutContent(ctx, p, Encode(t))
}

// Encode is the content of the time record of t.
func Encode(t time.Time) []byte { return []byte(t.UTC().Format(time.RFC3339Nano)) }

type pullKey struct {
	name string
	d    digest.Digest
}

// PullLog holds the pulls a node has not written yet. The zero value is
// empty and ready; it is safe for concurrent use.
type PullLog struct {
	mu      sync.Mutex
	pending map[pullKey]time.Time
}

// note keeps t for k unless a later time is noted; the caller holds mu.
func (l *PullLog) note(k pullKey, t time.Time) {
	if l.pending == nil {
		l.pending = map[pullKey]time.Time{}
	}
	if t.After(l.pending[k]) {
		l.pending[k] = t
	}
}

// Record notes that manifest d of repository name was pulled at t.
func (l *PullLog) Record(name string, d digest.Digest, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.note(pullKey{name, d}, t)
}

// Flush writes the pulls noted since the last flush: per manifest, the
// later of its record and the noted time. What fails to be written is
// noted again for the next flush.
func (l *PullLog) Flush(ctx context.Context, drv storagedriver.Driver) error {
	l.mu.Lock()
	batch := l.pending
	l.pending = nil
	l.mu.Unlock()
	var errs []error
	for k, t := range batch {
		if err := mergePull(ctx, drv, k, t); err != nil {
			errs = append(errs, fmt.Errorf("pull record of %s@%s: %w", k.name, k.d, err))
			l.mu.Lock()
			l.note(k, t)
			l.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// mergePull stores t as the last pull of k unless a later one is stored.
// Two nodes writing at once may overwrite each other: each reads back and
// writes again while the stored time is earlier than its own, so the
// latest time wins.
func mergePull(ctx context.Context, drv storagedriver.Driver, k pullKey, t time.Time) error {
	p := PulledPath(k.name, k.d)
	for range 3 {
		stored, err := Read(ctx, drv, p)
		if err != nil {
			return err
		}
		if !stored.Before(t) {
			return nil
		}
		if err := Write(ctx, drv, p, t); err != nil {
			return err
		}
	}
	return nil
}

// LastPulled returns when manifest d of repository name was last pulled,
// as far as the storage and this log know (zero: never).
func (l *PullLog) LastPulled(ctx context.Context, drv storagedriver.Driver, name string, d digest.Digest) (time.Time, error) {
	t, err := Read(ctx, drv, PulledPath(name, d))
	if err != nil {
		return time.Time{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.pending[pullKey{name, d}]; p.After(t) {
		t = p
	}
	return t, nil
}

// Pending copies the pulls of repository name not yet flushed.
func (l *PullLog) Pending(name string) map[digest.Digest]time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[digest.Digest]time.Time{}
	for k, t := range l.pending {
		if k.name == name {
			out[k.d] = t
		}
	}
	return out
}

// Forget drops what the log noted of manifest d of name (deleted).
func (l *PullLog) Forget(name string, d digest.Digest) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.pending, pullKey{name, d})
}
