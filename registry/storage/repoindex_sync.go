package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/berth-registry/berth/storagedriver"
)

// Keeping the index complete when something else writes the root: a root
// without the complete stamp (written by Distribution only, or by a Berth
// from before the index) is walked once and indexed; afterwards each node
// compares, at most every WithIndexCheck, the top level of the layout
// with the index and walks only what differs.

// indexStamp is the content of the complete stamp.
type indexStamp struct {
	Time         time.Time `json:"time"`
	Host         string    `json:"host,omitempty"`
	Repositories int       `json:"repositories"`
}

// IndexDiff is what SyncIndex found: names a walk found without a marker
// and markers without a repository.
type IndexDiff struct {
	Missing []string
	Extra   []string
}

// Catalog lists repository names in byte-wise order, at most n (all when
// n < 0) after last, from the repository index. The first call on a root
// without the index builds it by a walk.
func (s *Store) Catalog(ctx context.Context, n int, last string) ([]string, error) {
	if err := s.indexReady(ctx); err != nil {
		return nil, err
	}
	return s.Repositories(ctx, n, last)
}

// indexReady builds the index when the root has none and, at most every
// check interval, compares it with the top level of the layout.
func (s *Store) indexReady(ctx context.Context) error {
	if s.index.complete.Load() && !s.checkDue() {
		return nil
	}
	s.index.mu.Lock()
	defer s.index.mu.Unlock()
	if !s.index.complete.Load() {
		built, err := s.indexBuilt(ctx)
		if err != nil {
			return err
		}
		if !built {
			if _, err := s.SyncIndex(ctx, true); err != nil {
				return err
			}
		}
		s.index.complete.Store(true)
		s.index.checkedAt.Store(s.now().UnixNano())
		return nil
	}
	if !s.checkDue() {
		return nil
	}
	if err := s.checkTopLevel(ctx); err != nil {
		return err
	}
	s.index.checkedAt.Store(s.now().UnixNano())
	return nil
}

// indexBuilt reports whether the complete stamp is there.
func (s *Store) indexBuilt(ctx context.Context) (bool, error) {
	_, err := s.driver.Stat(ctx, indexCompletePath())
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("repository index: %w", err)
	}
	return true, nil
}

func (s *Store) checkDue() bool {
	every := s.index.every
	if every <= 0 {
		return every < 0
	}
	return s.now().Sub(time.Unix(0, s.index.checkedAt.Load())) >= every
}

// SyncIndex compares the index with a walk of every repository. With
// repair it writes the missing markers, removes those of repositories
// that are gone (each checked again first, so a push or delete that ran
// during the walk is not undone) and writes the complete stamp.
func (s *Store) SyncIndex(ctx context.Context, repair bool) (IndexDiff, error) {
	var walked []string
	err := s.walkRepositories(ctx, repositoriesRoot(), &walked)
	if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
		return IndexDiff{}, fmt.Errorf("repository index: walk: %w", err)
	}
	return s.syncIndexWith(ctx, walked, repair)
}

// syncIndexWith is SyncIndex with the walk's result given.
func (s *Store) syncIndexWith(ctx context.Context, walked []string, repair bool) (IndexDiff, error) {
	indexed, err := s.indexedNames(ctx)
	if err != nil {
		return IndexDiff{}, err
	}
	diff, err := s.reconcile(ctx, validNames(walked), indexed, repair)
	if err != nil || !repair {
		return diff, err
	}
	host, _ := os.Hostname()
	b, err := json.Marshal(indexStamp{Time: s.now().UTC(), Host: host, Repositories: len(walked)})
	if err != nil {
		return diff, err
	}
	if err := s.driver.PutContent(ctx, indexCompletePath(), b); err != nil {
		return diff, fmt.Errorf("repository index: %w", err)
	}
	s.index.complete.Store(true)
	return diff, nil
}

// reconcile compares the names found by a walk with the indexed ones and,
// with repair, fixes the index. A name that looks extra is checked again
// before it counts: it may have been created since the walk.
func (s *Store) reconcile(ctx context.Context, walked, indexed []string, repair bool) (IndexDiff, error) {
	var diff IndexDiff
	inIndex := make(map[string]bool, len(indexed))
	for _, n := range indexed {
		inIndex[n] = true
	}
	for _, n := range walked {
		if inIndex[n] {
			delete(inIndex, n)
			continue
		}
		diff.Missing = append(diff.Missing, n)
		if repair {
			if err := s.addIndexed(ctx, n); err != nil {
				return diff, err
			}
		}
	}
	for _, n := range indexed {
		if !inIndex[n] {
			continue
		}
		exists, err := s.RepositoryExists(ctx, n)
		if err != nil {
			return diff, err
		}
		if exists {
			continue
		}
		diff.Extra = append(diff.Extra, n)
		if repair {
			if err := s.unindex(ctx, n); err != nil {
				return diff, err
			}
		}
	}
	return diff, nil
}

// checkTopLevel lists the top level of the layout (one List) and walks
// only the entries the index knows nothing under, or checks the indexed
// names under an entry that is gone. A repository Distribution creates
// under a namespace that already holds an indexed one is found by scrub.
func (s *Store) checkTopLevel(ctx context.Context) error {
	top, err := s.driver.List(ctx, repositoriesRoot())
	if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
		return fmt.Errorf("repository index: %w", err)
	}
	indexed, err := s.indexedNames(ctx)
	if err != nil {
		return err
	}
	under := map[string][]string{} // first component -> indexed names
	for _, n := range indexed {
		first, _, _ := strings.Cut(n, "/")
		under[first] = append(under[first], n)
	}
	var walked, gone []string
	for _, p := range top {
		base := p[strings.LastIndexByte(p, '/')+1:]
		if _, ok := under[base]; ok {
			delete(under, base)
			continue
		}
		if strings.HasPrefix(base, "_") {
			continue
		}
		err := s.walkRepositories(ctx, p, &walked)
		if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
			return fmt.Errorf("repository index: walk %s: %w", p, err)
		}
	}
	for _, names := range under {
		gone = append(gone, names...)
	}
	_, err = s.reconcile(ctx, validNames(walked), gone, true)
	return err
}

func validNames(names []string) []string {
	out := names[:0:0]
	for _, n := range names {
		if CheckName(n) == nil {
			out = append(out, n)
		}
	}
	return out
}
