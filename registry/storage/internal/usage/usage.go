package usage

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"

	"github.com/berth-registry/berth/registry/storage/internal/check"
	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/internal/walk"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/opencontainers/go-digest"
)

// Usage is what the repositories of a namespace hold, by the links in
// Distribution's layout: every distinct digest linked into one of them, as
// a layer (_layers: layers and configs, also those no manifest references
// yet) or as a manifest (_manifests/revisions), counts once, at the size
// of its blob, however many of the repositories link it. Uploads in
// progress do not count; a link whose blob is gone counts nothing.
type Usage struct {
	Namespace string
	Bytes     int64
	// Blobs maps each digest linked in the namespace to its size.
	Blobs map[digest.Digest]int64
	// Tags maps each repository of the namespace to its number of tags.
	Tags map[string]int
}

// TagsMax returns the largest number of tags of a repository of u, and
// that repository (the first by name on a tie).
func (u *Usage) TagsMax() (int, string) {
	n, repo := 0, ""
	for r, t := range u.Tags {
		if t > n || t == n && (repo == "" || r < repo) {
			n, repo = t, r
		}
	}
	return n, repo
}

// BlobSizes remembers blob sizes: content-addressed, a digest's size never
// changes, so each is read from storage once. Safe for concurrent use.
type BlobSizes struct {
	mu sync.Mutex
	m  map[digest.Digest]int64
}

// maxSizes bounds a BlobSizes: beyond it, the cache starts over.
const maxSizes = 1 << 20

// BlobSize returns the size of blob d, ErrBlobUnknown when it is not
// stored. sizes may be nil.
func BlobSize(ctx context.Context, drv storagedriver.Driver, d digest.Digest, sizes *BlobSizes) (int64, error) {
	if err := check.Digest(d); err != nil {
		return 0, err
	}
	if sizes != nil {
		sizes.mu.Lock()
		n, ok := sizes.m[d]
		sizes.mu.Unlock()
		if ok {
			return n, nil
		}
	}
	n, err := blobSize(ctx, drv, d)
	if err != nil || sizes == nil {
		return n, err
	}
	sizes.put(d, n)
	return n, nil
}

func (b *BlobSizes) put(d digest.Digest, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil || len(b.m) >= maxSizes {
		b.m = map[digest.Digest]int64{}
	}
	b.m[d] = n
}

// Namespace walks the repositories of namespace ns (the repository ns
// and those below ns/; "" is every repository) and returns their Usage.
// On S3 the walk is one paged listing of the namespace's keys (uploads in
// progress skipped) and a HEAD per blob sizes does not know yet.
func Namespace(ctx context.Context, drv storagedriver.Driver, ns string, sizes *BlobSizes) (*Usage, error) {
	root := layout.RepositoriesRoot()
	if ns != "" {
		if err := check.Name(ns); err != nil {
			return nil, err
		}
		root = layout.RepoDir(ns)
	}
	u := &Usage{Namespace: ns, Blobs: map[digest.Digest]int64{}, Tags: map[string]int{}}
	err := walk.Tree(ctx, drv, root, func(fi storagedriver.FileInfo) error {
		rel := strings.TrimPrefix(fi.Path, layout.RepositoriesRoot()+"/")
		segs := strings.Split(rel, "/")
		i := 0
		for i < len(segs) && !strings.HasPrefix(segs[i], "_") {
			i++
		}
		if i == 0 || i == len(segs) {
			return nil
		}
		if fi.IsDir {
			if i == len(segs)-1 && segs[i] == "_uploads" {
				return storagedriver.ErrSkipDir
			}
			return nil
		}
		name := strings.Join(segs[:i], "/")
		if check.Name(name) != nil {
			return nil
		}
		rest := segs[i:]
		switch {
		case len(rest) == 4 && rest[0] == "_layers" && rest[3] == "link",
			len(rest) == 5 && rest[0] == "_manifests" && rest[1] == "revisions" && rest[4] == "link":
			if _, ok := u.Tags[name]; !ok {
				u.Tags[name] = 0
			}
			if d := walk.DigestAt(rest, len(rest)-2); d != "" {
				u.Blobs[d] = 0
			}
		case len(rest) == 5 && rest[0] == "_manifests" && rest[1] == "tags" && rest[3] == "current" && rest[4] == "link":
			if check.Tag(rest[2]) == nil {
				u.Tags[name]++
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("usage of %q: %w", ns, err)
	}
	if err := listSizes(ctx, drv, u.Blobs, sizes); err != nil {
		return nil, fmt.Errorf("usage of %q: %w", ns, err)
	}
	for d := range u.Blobs {
		n, err := BlobSize(ctx, drv, d, sizes)
		if errors.Is(err, check.ErrBlobUnknown) {
			delete(u.Blobs, d) // a link whose blob is gone holds nothing
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("usage of %q: %w", ns, err)
		}
		u.Blobs[d] = n
		u.Bytes += n
	}
	return u, nil
}

// SizeListThreshold is how many blob sizes a walk must not know yet before
// it lists the blob store for them rather than asking for each. Tests
// lower it.
var SizeListThreshold = 1000

// errStop ends a walk early.
var errStop = errors.New("stop")

// listSizes puts into sizes the sizes of want's digests that it does not
// know yet, when there are more than SizeListThreshold of them (the first
// walk of a large namespace), by listing the blob store's directories
// blobs/<alg>/<2 hex>/ that hold two or more of them: on S3 a listing
// gives up to 1,000 sizes per request where a HEAD gives one. A
// directory's listing stops once it has found its digests, or once it has
// read 1,000 keys more per digest than it found, so that listing never
// costs much more than the HEADs it replaces. BlobSize asks for the rest.
func listSizes(ctx context.Context, drv storagedriver.Driver, want map[digest.Digest]int64, sizes *BlobSizes) error {
	if sizes == nil {
		return nil
	}
	byDir := map[string]map[digest.Digest]bool{}
	n := 0
	sizes.mu.Lock()
	for d := range want {
		if _, ok := sizes.m[d]; !ok {
			dir := path.Dir(layout.BlobDir(d))
			if byDir[dir] == nil {
				byDir[dir] = map[digest.Digest]bool{}
			}
			byDir[dir][d] = true
			n++
		}
	}
	sizes.mu.Unlock()
	if n <= SizeListThreshold {
		return nil
	}
	for dir, missing := range byDir {
		if len(missing) < 2 {
			continue
		}
		budget := 1000 * (len(missing) + 1)
		err := walk.Tree(ctx, drv, dir, func(fi storagedriver.FileInfo) error {
			if fi.IsDir {
				return nil
			}
			if budget--; budget < 0 {
				return errStop
			}
			segs := strings.Split(fi.Path, "/")
			if len(segs) < 5 || segs[len(segs)-1] != "data" {
				return nil
			}
			// .../<alg>/<2 hex>/<hex>/data
			d := walk.DigestAt([]string{segs[len(segs)-4], segs[len(segs)-2]}, 1)
			if !missing[d] {
				return nil
			}
			sizes.put(d, fi.Size)
			delete(missing, d)
			budget += 1000
			if len(missing) == 0 {
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return err
		}
	}
	return nil
}

// blobSize is the size of blob d's data, ErrBlobUnknown when it is not
// stored.
func blobSize(ctx context.Context, drv storagedriver.Driver, d digest.Digest) (int64, error) {
	fi, err := storagedriver.StatFile(ctx, drv, layout.BlobDataPath(d))
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return 0, fmt.Errorf("blob %s: %w", d, check.ErrBlobUnknown)
	}
	if err != nil {
		return 0, err
	}
	return fi.Size, nil
}
