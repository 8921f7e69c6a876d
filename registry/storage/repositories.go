package storage

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/repoindex"
	"github.com/berth-registry/berth/registry/storage/internal/usage"
	"github.com/berth-registry/berth/registry/storage/internal/walk"
)

// What the store knows of its repositories as a whole: the catalog, which
// ones exist, and what a namespace holds.
//
// The repository index (doc.go, "The repository index"): one small marker
// per repository under /berth/v1/catalog, so that the catalog is one List
// instead of a walk of every repository. It is kept by
// internal/repoindex; the store writes a marker after every link it
// writes into a repository (Index.Add) and removes it after a delete that
// may have emptied one (Index.RemoveIfGone).

// DefaultIndexCheck is how often, at most, a node compares the index with
// the top level of the shared layout to find repositories another registry
// (Distribution) created without a marker.
const DefaultIndexCheck = repoindex.DefaultCheck

// IndexDiff is what SyncIndex found: names a walk found without a marker
// (Missing) and markers without a repository (Extra).
type IndexDiff = repoindex.Diff

// WithIndexCheck sets how often, at most, the catalog compares the index
// with the top level of the layout (DefaultIndexCheck when unset; a
// negative d checks on every catalog request).
func WithIndexCheck(d time.Duration) Option {
	return func(s *Store) {
		if d != 0 {
			s.index.Every = d
		}
	}
}

// Catalog lists repository names in byte-wise order, at most n (all when
// n < 0) after last, from the repository index. The first call on a root
// without the index builds it by a walk.
func (s *Store) Catalog(ctx context.Context, n int, last string) ([]string, error) {
	return s.index.Catalog(ctx, n, last)
}

// Repositories lists the indexed repository names in byte-wise order, at
// most n (all when n < 0) after last. It reads the index only; Catalog
// first makes sure the index is complete.
func (s *Store) Repositories(ctx context.Context, n int, last string) ([]string, error) {
	return s.index.Repositories(ctx, n, last)
}

// IndexSnapshot returns every indexed name, sorted: this node's last
// listing while the index's generation is unchanged, else a new listing.
// The slice is shared: the same one is returned until the index changes
// (the metadata records, package repometa, rely on that), and it must not
// be changed.
func (s *Store) IndexSnapshot(ctx context.Context) ([]string, error) {
	return s.index.Snapshot(ctx)
}

// RepositoryNames lists every repository in byte-wise order and writes
// nothing, for read-only callers such as a dry run: from the index when
// the root has a complete one, else by a walk that does not build it
// (Catalog would).
func (s *Store) RepositoryNames(ctx context.Context) ([]string, error) {
	return s.index.RepositoryNames(ctx)
}

// PrepareIndex builds the repository index when the root has none (a walk;
// see Catalog), so that the first catalog request does not wait for it.
// The registry calls it in the background at start-up.
func (s *Store) PrepareIndex(ctx context.Context) error { return s.index.Ready(ctx) }

// SyncIndex compares the index with a walk of every repository. With
// repair it writes the missing markers, removes those of repositories
// that are gone (each checked again first, so a push or delete that ran
// during the walk is not undone) and writes the complete stamp.
func (s *Store) SyncIndex(ctx context.Context, repair bool) (IndexDiff, error) {
	return s.index.Sync(ctx, repair)
}

// RepositoryExists reports whether repository name exists: it holds
// manifests or layer links, as the catalog counts repositories.
func (s *Store) RepositoryExists(ctx context.Context, name string) (bool, error) {
	return walk.RepositoryExists(ctx, s.driver, name)
}

// What a namespace's repositories hold (package internal/usage), for
// quotas and the usage API.

// Usage is what the repositories of a namespace hold, by the links in
// Distribution's layout: every distinct digest linked into one of them, as
// a layer or as a manifest, counts once, at the size of its blob, however
// many of the repositories link it (internal/usage).
type Usage = usage.Usage

// BlobSizes remembers blob sizes: content-addressed, a digest's size never
// changes, so each is read from storage once. Safe for concurrent use.
type BlobSizes = usage.BlobSizes

// BlobSize returns the size of blob d, ErrBlobUnknown when it is not
// stored. sizes may be nil.
func (s *Store) BlobSize(ctx context.Context, d digest.Digest, sizes *BlobSizes) (int64, error) {
	return usage.BlobSize(ctx, s.driver, d, sizes)
}

// NamespaceUsage walks the repositories of namespace ns (the repository ns
// and those below ns/; "" is every repository) and returns their Usage.
// On S3 the walk is one paged listing of the namespace's keys (uploads in
// progress skipped) and a HEAD per blob sizes does not know yet.
func (s *Store) NamespaceUsage(ctx context.Context, ns string, sizes *BlobSizes) (*Usage, error) {
	return usage.Namespace(ctx, s.driver, ns, sizes)
}
