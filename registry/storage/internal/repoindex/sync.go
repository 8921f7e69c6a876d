package repoindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/berth-registry/berth/registry/storage/internal/check"
	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/internal/walk"
	"github.com/berth-registry/berth/storagedriver"
)

// Keeping the index complete when something else writes the root: a root
// without the complete stamp (written by Distribution only, or by a Berth
// from before the index) is walked once and indexed; afterwards each node
// compares, at most every Every (storage.WithIndexCheck), the top level of the layout
// with the index and walks only what differs.

// indexStamp is the content of the complete stamp.
type indexStamp struct {
	Time         time.Time `json:"time"`
	Host         string    `json:"host,omitempty"`
	Repositories int       `json:"repositories"`
}

// Diff is what Sync found: names a walk found without a marker
// and markers without a repository.
type Diff struct {
	Missing []string
	Extra   []string
}

// Catalog lists repository names in byte-wise order, at most n (all when
// n < 0) after last, from the repository index. The first call on a root
// without the index builds it by a walk.
func (x *Index) Catalog(ctx context.Context, n int, last string) ([]string, error) {
	if err := x.Ready(ctx); err != nil {
		return nil, err
	}
	return x.Repositories(ctx, n, last)
}

// RepositoryNames lists every repository in byte-wise order and writes
// nothing, for read-only callers such as a dry run: from the index when
// the root has a complete one, else by a walk that does not build it
// (Catalog would).
func (x *Index) RepositoryNames(ctx context.Context) ([]string, error) {
	built, err := x.Built(ctx)
	if err != nil {
		return nil, err
	}
	if built {
		return x.Repositories(ctx, -1, "")
	}
	var walked []string
	if err := walk.Repositories(ctx, x.Driver, layout.RepositoriesRoot(), &walked); err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
		return nil, fmt.Errorf("repository index: walk: %w", err)
	}
	names := ValidNames(walked)
	slices.Sort(names)
	return names, nil
}

// Ready builds the index when the root has none and, at most every
// check interval, compares it with the top level of the layout.
func (x *Index) Ready(ctx context.Context) error {
	if x.complete.Load() && !x.checkDue() {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.complete.Load() {
		built, err := x.Built(ctx)
		if err != nil {
			return err
		}
		if !built {
			if _, err := x.Sync(ctx, true); err != nil {
				return err
			}
		}
		x.complete.Store(true)
		x.checkedAt.Store(x.now().UnixNano())
		return nil
	}
	if !x.checkDue() {
		return nil
	}
	if err := x.checkNamespaces(ctx); err != nil {
		return err
	}
	x.checkedAt.Store(x.now().UnixNano())
	return nil
}

// Built reports whether the complete stamp is there.
func (x *Index) Built(ctx context.Context) (bool, error) {
	_, err := x.Driver.Stat(ctx, CompletePath())
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("repository index: %w", err)
	}
	return true, nil
}

func (x *Index) checkDue() bool {
	every := x.Every
	if every <= 0 {
		return every < 0
	}
	return x.now().Sub(time.Unix(0, x.checkedAt.Load())) >= every
}

// Sync compares the index with a walk of every repository. With
// repair it writes the missing markers, removes those of repositories
// that are gone (each checked again first, so a push or delete that ran
// during the walk is not undone) and writes the complete stamp.
func (x *Index) Sync(ctx context.Context, repair bool) (Diff, error) {
	var walked []string
	err := walk.Repositories(ctx, x.Driver, layout.RepositoriesRoot(), &walked)
	if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
		return Diff{}, fmt.Errorf("repository index: walk: %w", err)
	}
	return x.SyncWith(ctx, walked, repair)
}

// SyncWith is Sync with the walk's result given.
func (x *Index) SyncWith(ctx context.Context, walked []string, repair bool) (Diff, error) {
	indexed, err := x.names(ctx)
	if err != nil {
		return Diff{}, err
	}
	diff, err := x.reconcile(ctx, ValidNames(walked), indexed, repair)
	if err != nil || !repair {
		return diff, err
	}
	host, _ := os.Hostname()
	b, err := json.Marshal(indexStamp{Time: x.now().UTC(), Host: host, Repositories: len(walked)})
	if err != nil {
		return diff, err
	}
	if err := x.Driver.PutContent(ctx, CompletePath(), b); err != nil {
		return diff, fmt.Errorf("repository index: %w", err)
	}
	if err := x.newGeneration(ctx); err != nil {
		return diff, err
	}
	x.complete.Store(true)
	return diff, nil
}

// reconcile compares the names found by a walk with the indexed ones and,
// with repair, fixes the index. A name that looks extra is checked again
// before it counts: it may have been created since the walk.
func (x *Index) reconcile(ctx context.Context, walked, indexed []string, repair bool) (Diff, error) {
	var diff Diff
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
			if err := x.addFound(ctx, n); err != nil {
				return diff, err
			}
		}
	}
	if repair && len(diff.Missing) > 0 {
		if err := x.newGeneration(ctx); err != nil {
			return diff, err
		}
	}
	for _, n := range indexed {
		if !inIndex[n] {
			continue
		}
		exists, err := walk.RepositoryExists(ctx, x.Driver, n)
		if err != nil {
			return diff, err
		}
		if exists {
			continue
		}
		diff.Extra = append(diff.Extra, n)
		if repair {
			if err := x.Remove(ctx, n); err != nil {
				return diff, err
			}
		}
	}
	return diff, nil
}

// checkNamespaces compares the index with the layout's namespaces: it lists
// the top level and, below it, every directory that the index says holds
// repositories further down (a namespace), but never a repository's own
// directory. An entry the index knows nothing of is walked and indexed; an
// indexed name whose directory is gone is checked and removed. The cost is
// one List per namespace, not one per repository. What it cannot see: a
// repository created by another registry below a directory the index knows
// only as a repository ("a/b" when "a" is one and nothing below it is
// indexed); scrub finds those.
func (x *Index) checkNamespaces(ctx context.Context) error {
	indexed, err := x.names(ctx)
	if err != nil {
		return err
	}
	isName := make(map[string]bool, len(indexed))
	isNamespace := map[string]bool{}
	for _, n := range indexed {
		isName[n] = true
		for i := strings.IndexByte(n, '/'); i >= 0; i = nextSlash(n, i) {
			isNamespace[n[:i]] = true
		}
	}
	seen := make(map[string]bool, len(indexed))
	var walked []string
	var visit func(dir, prefix string) error
	visit = func(dir, prefix string) error {
		children, err := x.Driver.List(ctx, dir)
		if errors.Is(err, storagedriver.ErrPathNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("repository index: %w", err)
		}
		for _, p := range children {
			base := p[strings.LastIndexByte(p, '/')+1:]
			if strings.HasPrefix(base, "_") {
				continue
			}
			full := prefix + base
			switch {
			case isNamespace[full]:
				seen[full] = true
				if err := visit(p, full+"/"); err != nil {
					return err
				}
			case isName[full]:
				seen[full] = true
			default:
				err := walk.Repositories(ctx, x.Driver, p, &walked)
				if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
					return fmt.Errorf("repository index: walk %s: %w", p, err)
				}
			}
		}
		return nil
	}
	if err := visit(layout.RepositoriesRoot(), ""); err != nil {
		return err
	}
	var gone []string
	for _, n := range indexed {
		if !seen[n] {
			gone = append(gone, n)
		}
	}
	_, err = x.reconcile(ctx, ValidNames(walked), gone, true)
	return err
}

func nextSlash(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '/')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// ValidNames returns the names that are valid repository names, in
// their order.
func ValidNames(names []string) []string {
	out := names[:0:0]
	for _, n := range names {
		if check.Name(n) == nil {
			out = append(out, n)
		}
	}
	return out
}
