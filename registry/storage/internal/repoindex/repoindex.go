package repoindex

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/registry/storage/internal/check"
	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/internal/walk"
	"github.com/berth-registry/berth/storagedriver"
)

// The repository index (registry/storage's doc.go, "The repository
// index"): one small marker per repository under /berth/v1/catalog, so
// that the catalog is one List instead of a walk of every repository.
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

func catalogRoot() string   { return layout.BerthRoot + "/catalog" }
func indexNamesDir() string { return catalogRoot() + "/names" }
func indexLongDir() string  { return catalogRoot() + "/long" }

// CompletePath is the complete stamp.
func CompletePath() string { return catalogRoot() + "/complete" }

// GenerationPath is the generation, rewritten after every marker change.
func GenerationPath() string { return catalogRoot() + "/generation" }

// maxSegment is the longest path segment every driver stores (a file
// name on common filesystems).
const maxSegment = 255

// DefaultCheck is how often, at most, a node compares the index with
// the top level of the shared layout to find repositories another registry
// (Distribution) created without a marker.
const DefaultCheck = 30 * time.Second

// snapshotMaxAge bounds how long a node serves the catalog from one
// listing of the index even when the generation did not change (a marker
// edited by hand does not change it).
const snapshotMaxAge = time.Minute

// MarkerPath is the marker of repository name.
func MarkerPath(name string) string {
	enc := strings.ReplaceAll(name, "/", "..")
	if len(enc) > maxSegment {
		return indexLongDir() + "/" + name + "/_repo"
	}
	return indexNamesDir() + "/" + enc
}

// Index is a node's state of the shared index in the storage Driver.
type Index struct {
	Driver storagedriver.Driver
	Now    func() time.Time // time.Now when nil
	// Every is how often, at most, Ready compares the index with the top
	// level of the layout (0: never; below 0: every time; storage.New sets DefaultCheck).
	Every time.Duration

	complete  atomic.Bool  // the complete stamp was seen or written
	checkedAt atomic.Int64 // unix nanoseconds of the last top-level check
	mu        sync.Mutex   // one rebuild or check at a time in this process
	known     knownNames   // names whose marker this node wrote or saw

	snapMu  sync.Mutex
	snap    []string // the last listing, sorted; read-only once stored
	snapGen string   // the generation read before it
	snapAt  time.Time
}

// Repositories lists the indexed repository names in byte-wise order, at
// most n (all when n < 0) after last. It reads the index only; Catalog
// first makes sure the index is complete.
func (x *Index) Repositories(ctx context.Context, n int, last string) ([]string, error) {
	all, err := x.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return Page(all, n, last), nil
}

// Snapshot returns every indexed name, sorted: this node's last
// listing while the generation it read before that listing is still the
// stored one, else a new listing. Every marker write or removal is
// followed by a new generation, so a listing labelled with generation G
// holds every change whose generation write came before G was read; a
// reader that finds G' != G lists again (registry/storage's doc.go). The slice is shared:
// the same one is returned until the index changes (the metadata
// records, package repometa, rely on that), and it must not be changed.
func (x *Index) Snapshot(ctx context.Context) ([]string, error) {
	b, err := x.Driver.GetContent(ctx, GenerationPath())
	if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
		return nil, fmt.Errorf("repository index: %w", err)
	}
	gen := string(b)
	x.snapMu.Lock()
	if gen != "" && x.snap != nil && x.snapGen == gen && x.now().Sub(x.snapAt) < snapshotMaxAge {
		names := x.snap
		x.snapMu.Unlock()
		return names, nil
	}
	x.snapMu.Unlock()
	at := x.now()
	names, err := x.names(ctx)
	if err != nil {
		return nil, err
	}
	x.snapMu.Lock()
	x.snap, x.snapGen, x.snapAt = names, gen, at
	x.snapMu.Unlock()
	return names, nil
}

// newGeneration records that the index changed (after the change).
func (x *Index) newGeneration(ctx context.Context) error {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	if err := x.Driver.PutContent(ctx, GenerationPath(), []byte(hex.EncodeToString(b[:]))); err != nil {
		return fmt.Errorf("repository index: %w", err)
	}
	return nil
}

// Page returns at most n (all when n < 0) of the sorted names after last.
func Page(all []string, n int, last string) []string {
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
func (x *Index) names(ctx context.Context) ([]string, error) {
	entries, err := x.Driver.List(ctx, indexNamesDir())
	if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
		return nil, fmt.Errorf("repository index: %w", err)
	}
	prefix := len(indexNamesDir()) + 1
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		enc := e[prefix:]
		name := strings.ReplaceAll(enc, "..", "/")
		if check.Name(name) == nil && len(enc) <= maxSegment && encodes(name, enc) { // MarkerPath(name) == e
			names = append(names, name)
		}
	}
	long, err := x.longIndexed(ctx)
	if err != nil {
		return nil, err
	}
	if len(long) > 0 {
		names = append(names, long...)
	}
	sort.Strings(names)
	return names, nil
}

// encodes reports whether enc is name with each "/" written "..", as
// MarkerPath encodes it, without building the encoding: a listing
// checks 10,000 of them.
func encodes(name, enc string) bool {
	j := 0
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			if !strings.HasPrefix(enc[j:], "..") {
				return false
			}
			j += 2
			continue
		}
		if j >= len(enc) || enc[j] != name[i] {
			return false
		}
		j++
	}
	return j == len(enc)
}

// longIndexed returns the names indexed under long/, rare enough to walk.
func (x *Index) longIndexed(ctx context.Context) ([]string, error) {
	var names []string
	root := indexLongDir()
	err := walk.Tree(ctx, x.Driver, root, func(fi storagedriver.FileInfo) error {
		if fi.IsDir || !strings.HasSuffix(fi.Path, "/_repo") {
			return nil
		}
		name := strings.TrimSuffix(strings.TrimPrefix(fi.Path, root+"/"), "/_repo")
		if check.Name(name) == nil && MarkerPath(name) == fi.Path {
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("repository index: %w", err)
	}
	return names, nil
}

// Add makes sure repository name, which the caller has just
// written a link into, has its marker. With cached, a marker this node
// already wrote or saw is trusted without a Stat (layer links); without,
// the Stat is made every time (manifest PUTs: their 201 promises the
// catalog lists the repository even if another node's delete removed the
// marker meanwhile).
func (x *Index) Add(ctx context.Context, name string, cached bool) error {
	if cached {
		if x.known.has(name) {
			return nil
		}
	}
	p := MarkerPath(name)
	_, err := storagedriver.StatFile(ctx, x.Driver, p)
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		err = x.Driver.PutContent(ctx, p, []byte(name))
		if err == nil {
			err = x.newGeneration(ctx)
		}
	}
	if err != nil {
		return fmt.Errorf("repository index: %s: %w", name, err)
	}
	x.known.add(name)
	return nil
}

// addFound writes the marker of name, which a walk found, then checks
// the repository is still there: a delete that ran meanwhile took the
// marker away before it looked, or looks after this write (storage's doc.go). The
// caller writes a new generation once it has added all it found.
func (x *Index) addFound(ctx context.Context, name string) error {
	if err := x.Driver.PutContent(ctx, MarkerPath(name), []byte(name)); err != nil {
		return fmt.Errorf("repository index: %s: %w", name, err)
	}
	exists, err := walk.RepositoryExists(ctx, x.Driver, name)
	if err != nil || exists {
		return err
	}
	return x.Remove(ctx, name)
}

// Remove removes the marker of name once the repository is gone, then
// checks again: a push that wrote a link meanwhile and saw the marker
// still there gets it back (the writer writes, then reads the marker; this
// removes, then reads the repository: one of them sees the other).
func (x *Index) Remove(ctx context.Context, name string) error {
	x.known.remove(name)
	if err := x.Driver.Delete(ctx, MarkerPath(name)); err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
		return fmt.Errorf("repository index: %s: %w", name, err)
	}
	if err := x.newGeneration(ctx); err != nil {
		return err
	}
	exists, err := walk.RepositoryExists(ctx, x.Driver, name)
	if err != nil || !exists {
		return err
	}
	return x.Add(ctx, name, false)
}

// RemoveIfGone removes the marker of name when the repository no longer
// exists, after a delete that may have emptied it.
func (x *Index) RemoveIfGone(ctx context.Context, name string) error {
	exists, err := walk.RepositoryExists(ctx, x.Driver, name)
	if err != nil || exists {
		return err
	}
	return x.Remove(ctx, name)
}

func (x *Index) now() time.Time {
	if x.Now == nil {
		return time.Now()
	}
	return x.Now()
}

// ForgetSnapshot drops this node's last listing: the next Snapshot lists
// the index afresh.
func (x *Index) ForgetSnapshot() {
	x.snapMu.Lock()
	x.snap = nil
	x.snapMu.Unlock()
}

// maxKnownNames bounds knownNames: past it, an eighth of the names make
// room. A name not known costs its next layer link one Stat of its marker.
const maxKnownNames = 8192

// knownNames is a bounded set of repository names, held as 128-bit
// hashes of the names under two seeds of this set's own: 16 bytes a name,
// with nothing for the collector to scan, where the names themselves (a
// map of copies) took about 70 bytes each, 0.6 MB of live heap with
// 10,000 repositories. Two names share a key only when both of their
// 64-bit hashes collide under random seeds, about one chance in 2^128 a
// pair; a name taken for known would cost its repository's marker, which
// a scrub writes again.
type knownNames struct {
	mu    sync.Mutex
	seeds [2]maphash.Seed
	m     map[[2]uint64]struct{}
}

func (k *knownNames) key(name string) [2]uint64 {
	return [2]uint64{maphash.String(k.seeds[0], name), maphash.String(k.seeds[1], name)}
}

func (k *knownNames) has(name string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		return false
	}
	_, ok := k.m[k.key(name)]
	return ok
}

func (k *knownNames) add(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.seeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}
		k.m = map[[2]uint64]struct{}{}
	}
	key := k.key(name)
	if _, ok := k.m[key]; ok {
		return
	}
	if len(k.m) >= maxKnownNames {
		n := maxKnownNames / 8
		for old := range k.m {
			delete(k.m, old)
			if n--; n == 0 {
				break
			}
		}
	}
	k.m[key] = struct{}{}
}

func (k *knownNames) remove(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m != nil {
		delete(k.m, k.key(name))
	}
}
