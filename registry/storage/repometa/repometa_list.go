package repometa

import (
	"context"
	"errors"

	"github.com/berth-registry/berth/registry/storage"
)

// The listing of every repository's metadata (RepoInfos), read in the
// background for repositories this node has no copy of; the records
// themselves are in repometa.go.

// RepoInfos returns the metadata of every indexed repository, sorted by
// name, from this node's copy. A repository not read yet comes with
// Known false and is read in the background (at most one fill at a time).
// The slice is shared (the same one until the index or this node's copy
// changes) and must not be changed.
func (s *Store) RepoInfos(ctx context.Context) ([]*RepoInfo, error) {
	names, err := s.IndexSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	c := s.metaCache()
	c.mu.Lock()
	for n := range c.pending {
		c.mergeLocked(n)
	}
	if l := c.list; l.out != nil && l.ver == c.ver && sameSlice(l.names, names) {
		missing := s.toFill(c, l.missing)
		c.mu.Unlock()
		s.fillLater(ctx, missing...)
		return l.out, nil
	}
	out := make([]*RepoInfo, len(names))
	var missing []string
	for i, n := range names {
		if r := c.repos[n]; r != nil {
			out[i] = r
		} else {
			out[i] = &RepoInfo{Name: n}
			missing = append(missing, n)
		}
	}
	c.list = repoList{names: names, ver: c.ver, out: out, missing: missing}
	missing = s.toFill(c, missing)
	c.mu.Unlock()
	s.fillLater(ctx, missing...)
	return out, nil
}

// toFill returns the names of missing to read in the background: not
// those found without tags less than metaRecheck ago (an indexed
// repository holding only blobs), which every listing would otherwise
// list again. Under c.mu.
func (s *Store) toFill(c *metaCache, missing []string) []string {
	if len(c.absent) == 0 {
		return missing
	}
	out := make([]string, 0, len(missing))
	for _, n := range missing {
		if at, ok := c.absent[n]; !ok || s.now().Sub(at) >= metaRecheck {
			out = append(out, n)
		}
	}
	return out
}

// sameSlice reports whether a and b are the same slice (not only equal):
// the index snapshot is replaced, never changed, when the index changes.
func sameSlice(a, b []string) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// fillLater has a background goroutine (one per store) read the
// metadata of names; a failure leaves a name to the next listing.
func (s *Store) fillLater(ctx context.Context, names ...string) {
	if len(names) == 0 {
		return
	}
	c := s.metaCache()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range names {
		c.wants[n] = true
	}
	if c.fills {
		return
	}
	c.fills = true
	bg := context.WithoutCancel(ctx)
	go func() {
		for {
			c.mu.Lock()
			var name string
			for n := range c.wants {
				name = n
				break
			}
			if name == "" {
				c.fills = false
				c.mu.Unlock()
				return
			}
			delete(c.wants, name)
			c.mu.Unlock()
			_, _ = s.repoInfo(bg, name, true)
		}
	}()
}

// FillRepoInfos reads the metadata of every indexed repository, for a
// start-up that wants the listing complete before the first request.
func (s *Store) FillRepoInfos(ctx context.Context) error {
	names, err := s.IndexSnapshot(ctx)
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, err := s.RepoInfo(ctx, n); err != nil && !errors.Is(err, storage.ErrNameUnknown) {
			return err
		}
	}
	return nil
}
