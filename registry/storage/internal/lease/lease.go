package lease

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/storagedriver"
)

// record is the lease object's content.
type record struct {
	Node  string        `json:"node"`
	TTL   time.Duration `json:"ttl"`
	Since time.Time     `json:"since"` // the node's clock, for humans
}

// Lease is the collectors' lease in the storage Driver, aged by Now (the
// node's clock; time.Now when nil) against the object's storage mtime.
type Lease struct {
	Driver storagedriver.Driver
	Now    func() time.Time
}

func (l Lease) now() time.Time {
	if l.Now == nil {
		return time.Now()
	}
	return l.Now()
}

// Acquire takes (or renews) the lease for node unless another node
// holds one that has not expired. The write is read back: of two nodes
// taking an expired lease at once, the last writer holds it, and the other
// one sees that (most of the time: the lease is only an optimisation).
func (l Lease) Acquire(ctx context.Context, node string, ttl time.Duration) (bool, error) {
	if held, err := l.Holder(ctx); err != nil || held != "" && held != node {
		return false, err
	}
	b, err := json.Marshal(record{Node: node, TTL: ttl, Since: l.now().UTC()})
	if err != nil {
		return false, err
	}
	if err := l.Driver.PutContent(ctx, layout.GCLeasePath(), b); err != nil {
		return false, err
	}
	// Read back who wrote last, expired or not: a node whose clock runs
	// ahead of the storage's would otherwise never hold its own lease.
	b, err = l.Driver.GetContent(ctx, layout.GCLeasePath())
	if err != nil {
		if errors.Is(err, storagedriver.ErrPathNotFound) {
			err = nil
		}
		return false, err
	}
	var r record
	return json.Unmarshal(b, &r) == nil && r.Node == node, nil
}

// Holder names the node holding an unexpired lease, or "".
func (l Lease) Holder(ctx context.Context) (string, error) {
	fi, err := l.Driver.Stat(ctx, layout.GCLeasePath())
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	b, err := l.Driver.GetContent(ctx, layout.GCLeasePath())
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var r record
	if json.Unmarshal(b, &r) != nil || r.TTL <= 0 {
		return "", nil // unreadable: take it over
	}
	if l.now().Sub(fi.ModTime) > r.TTL {
		return "", nil
	}
	return r.Node, nil
}

// Release gives the lease up if node holds it.
func (l Lease) Release(ctx context.Context, node string) error {
	held, err := l.Holder(ctx)
	if err != nil || held != node {
		return err
	}
	if err := l.Driver.Delete(ctx, layout.GCLeasePath()); !errors.Is(err, storagedriver.ErrPathNotFound) {
		return err
	}
	return nil
}
