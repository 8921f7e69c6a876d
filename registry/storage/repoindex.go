package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/internal/walk"
	"github.com/berth-registry/berth/storagedriver"
)

// The repository index (see doc.go, "The repository index"): one small
// marker per repository under /berth/v1/catalog, so that the catalog is one
// List instead of a walk of every repository.
//
//	/berth/v1/catalog/
//	├── names/<encoded name>        one marker per repository; its content
//	│                               is the name; "/" is encoded as ".."
//	├── long/<name>/_repo           the marker of a name whose encoding
//	│                               exceeds one path segment (255 bytes)
//	├── generation                  random, rewritten after every marker
//	│                               written or removed: a node serves the
//	│                               catalog from its last listing while
//	│                               this is unchanged
//	└── complete                    written once a walk indexed every
//	                                repository (JSON); absent: rebuild
//
// A name never contains "..", since "." must be followed by an alphanumeric,
// so the encoding is one to one; "_repo" is no name component.

func catalogRoot() string         { return layout.BerthRoot + "/catalog" }
func indexNamesDir() string       { return catalogRoot() + "/names" }
func indexLongDir() string        { return catalogRoot() + "/long" }
func indexCompletePath() string   { return catalogRoot() + "/complete" }
func indexGenerationPath() string { return catalogRoot() + "/generation" }

// maxSegment is the longest path segment every driver stores (a file
// name on common filesystems).
const maxSegment = 255

// DefaultIndexCheck is how often, at most, a node compares the index with
// the top level of the shared layout to find repositories another registry
// (Distribution) created without a marker.
const DefaultIndexCheck = 30 * time.Second

// snapshotMaxAge bounds how long a node serves the catalog from one
// listing of the index even when the generation did not change (a marker
// edited by hand does not change it).
const snapshotMaxAge = time.Minute

func indexMarkerPath(name string) string {
	enc := strings.ReplaceAll(name, "/", "..")
	if len(enc) > maxSegment {
		return indexLongDir() + "/" + name + "/_repo"
	}
	return indexNamesDir() + "/" + enc
}

// repoIndex is a node's state of the shared index.
type repoIndex struct {
	every     time.Duration
	complete  atomic.Bool  // the complete stamp was seen or written
	checkedAt atomic.Int64 // unix nanoseconds of the last top-level check
	mu        sync.Mutex   // one rebuild or check at a time in this process
	known     sync.Map     // names whose marker this node wrote or saw

	snapMu  sync.Mutex
	snap    []string // the last listing, sorted; read-only once stored
	snapGen string   // the generation read before it
	snapAt  time.Time
}

// WithIndexCheck sets how often, at most, the catalog compares the index
// with the top level of the layout (DefaultIndexCheck when unset; a
// negative d checks on every catalog request).
func WithIndexCheck(d time.Duration) Option {
	return func(s *Store) {
		if d != 0 {
			s.index.every = d
		}
	}
}

// Repositories lists the indexed repository names in byte-wise order, at
// most n (all when n < 0) after last. It reads the index only; Catalog
// first makes sure the index is complete.
func (s *Store) Repositories(ctx context.Context, n int, last string) ([]string, error) {
	all, err := s.IndexSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	return page(all, n, last), nil
}

// IndexSnapshot returns every indexed name, sorted: this node's last
// listing while the generation it read before that listing is still the
// stored one, else a new listing. Every marker write or removal is
// followed by a new generation, so a listing labelled with generation G
// holds every change whose generation write came before G was read; a
// reader that finds G' != G lists again (doc.go). The slice is shared:
// the same one is returned until the index changes (the metadata
// records, package repometa, rely on that), and it must not be changed.
func (s *Store) IndexSnapshot(ctx context.Context) ([]string, error) {
	b, err := s.driver.GetContent(ctx, indexGenerationPath())
	if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
		return nil, fmt.Errorf("repository index: %w", err)
	}
	gen := string(b)
	x := &s.index
	x.snapMu.Lock()
	if gen != "" && x.snap != nil && x.snapGen == gen && s.now().Sub(x.snapAt) < snapshotMaxAge {
		names := x.snap
		x.snapMu.Unlock()
		return names, nil
	}
	x.snapMu.Unlock()
	at := s.now()
	names, err := s.indexedNames(ctx)
	if err != nil {
		return nil, err
	}
	x.snapMu.Lock()
	x.snap, x.snapGen, x.snapAt = names, gen, at
	x.snapMu.Unlock()
	return names, nil
}

// newGeneration records that the index changed (after the change).
func (s *Store) newGeneration(ctx context.Context) error {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	if err := s.driver.PutContent(ctx, indexGenerationPath(), []byte(hex.EncodeToString(b[:]))); err != nil {
		return fmt.Errorf("repository index: %w", err)
	}
	return nil
}

// page returns at most n (all when n < 0) of the sorted names after last.
func page(all []string, n int, last string) []string {
	i := sort.SearchStrings(all, last)
	if i < len(all) && all[i] == last {
		i++
	}
	names := all[i:]
	if n >= 0 && len(names) > n {
		names = names[:n]
	}
	return append([]string{}, names...)
}

// indexedNames returns every name the index holds, sorted. Entries that do
// not decode to a valid name are skipped (scrub reports them).
func (s *Store) indexedNames(ctx context.Context) ([]string, error) {
	entries, err := s.driver.List(ctx, indexNamesDir())
	if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
		return nil, fmt.Errorf("repository index: %w", err)
	}
	prefix := len(indexNamesDir()) + 1
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		name := strings.ReplaceAll(e[prefix:], "..", "/")
		if CheckName(name) == nil && indexMarkerPath(name) == e {
			names = append(names, name)
		}
	}
	long, err := s.longIndexed(ctx)
	if err != nil {
		return nil, err
	}
	if len(long) > 0 {
		names = append(names, long...)
	}
	sort.Strings(names)
	return names, nil
}

// longIndexed returns the names indexed under long/, rare enough to walk.
func (s *Store) longIndexed(ctx context.Context) ([]string, error) {
	var names []string
	root := indexLongDir()
	err := walk.Tree(ctx, s.driver, root, func(fi storagedriver.FileInfo) error {
		if fi.IsDir || !strings.HasSuffix(fi.Path, "/_repo") {
			return nil
		}
		name := strings.TrimSuffix(strings.TrimPrefix(fi.Path, root+"/"), "/_repo")
		if CheckName(name) == nil && indexMarkerPath(name) == fi.Path {
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("repository index: %w", err)
	}
	return names, nil
}

// indexRepository makes sure repository name, which the caller has just
// written a link into, has its marker. With cached, a marker this node
// already wrote or saw is trusted without a Stat (layer links); without,
// the Stat is made every time (manifest PUTs: their 201 promises the
// catalog lists the repository even if another node's delete removed the
// marker meanwhile).
func (s *Store) indexRepository(ctx context.Context, name string, cached bool) error {
	if cached {
		if _, ok := s.index.known.Load(name); ok {
			return nil
		}
	}
	p := indexMarkerPath(name)
	_, err := storagedriver.StatFile(ctx, s.driver, p)
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		err = s.driver.PutContent(ctx, p, []byte(name))
		if err == nil {
			err = s.newGeneration(ctx)
		}
	}
	if err != nil {
		return fmt.Errorf("repository index: %s: %w", name, err)
	}
	s.index.known.Store(strings.Clone(name), struct{}{}) // not a slice of a request's line
	return nil
}

// addIndexed writes the marker of name, which a walk found, then checks
// the repository is still there: a delete that ran meanwhile took the
// marker away before it looked, or looks after this write (doc.go). The
// caller writes a new generation once it has added all it found.
func (s *Store) addIndexed(ctx context.Context, name string) error {
	if err := s.driver.PutContent(ctx, indexMarkerPath(name), []byte(name)); err != nil {
		return fmt.Errorf("repository index: %s: %w", name, err)
	}
	exists, err := s.RepositoryExists(ctx, name)
	if err != nil || exists {
		return err
	}
	return s.unindex(ctx, name)
}

// unindex removes the marker of name once the repository is gone, then
// checks again: a push that wrote a link meanwhile and saw the marker
// still there gets it back (the writer writes, then reads the marker; this
// removes, then reads the repository: one of them sees the other).
func (s *Store) unindex(ctx context.Context, name string) error {
	s.index.known.Delete(name)
	if err := ignoreNotFound(s.driver.Delete(ctx, indexMarkerPath(name))); err != nil {
		return fmt.Errorf("repository index: %s: %w", name, err)
	}
	if err := s.newGeneration(ctx); err != nil {
		return err
	}
	exists, err := s.RepositoryExists(ctx, name)
	if err != nil || !exists {
		return err
	}
	return s.indexRepository(ctx, name, false)
}

// unindexIfGone removes the marker of name when the repository no longer
// exists, after a delete that may have emptied it.
func (s *Store) unindexIfGone(ctx context.Context, name string) error {
	exists, err := s.RepositoryExists(ctx, name)
	if err != nil || exists {
		return err
	}
	return s.unindex(ctx, name)
}

// RepositoryExists reports whether repository name exists: it holds
// manifests or layer links, as the catalog counts repositories.
func (s *Store) RepositoryExists(ctx context.Context, name string) (bool, error) {
	return walk.RepositoryExists(ctx, s.driver, name)
}
