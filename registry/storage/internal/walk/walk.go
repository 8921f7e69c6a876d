package walk

import (
	"context"
	"errors"
	"path"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/check"
	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/storagedriver"
)

// Tree calls fn for every file and directory below root, with the driver's
// Walk when it has one. A missing root is an empty tree.
func Tree(ctx context.Context, d storagedriver.Driver, root string, fn storagedriver.WalkFunc) error {
	var err error
	if w, ok := d.(storagedriver.Walker); ok {
		err = w.Walk(ctx, root, fn)
	} else {
		err = listWalk(ctx, d, root, fn)
	}
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return nil
	}
	return err
}

func listWalk(ctx context.Context, d storagedriver.Driver, dir string, fn storagedriver.WalkFunc) error {
	children, err := d.List(ctx, dir)
	if err != nil {
		return err
	}
	for _, p := range children {
		fi, err := d.Stat(ctx, p)
		if errors.Is(err, storagedriver.ErrPathNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := fn(fi); errors.Is(err, storagedriver.ErrSkipDir) {
			continue
		} else if err != nil {
			return err
		}
		if fi.IsDir {
			if err := listWalk(ctx, d, p, fn); err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
				return err
			}
		}
	}
	return nil
}

// Files calls fn for every file below dir, with the driver's Walk
// when it has one, else by listing. Entries removed meanwhile are skipped.
func Files(ctx context.Context, d storagedriver.Driver, dir string, fn func(storagedriver.FileInfo) error) error {
	if w, ok := d.(storagedriver.Walker); ok {
		return w.Walk(ctx, dir, func(fi storagedriver.FileInfo) error {
			if fi.IsDir {
				return nil
			}
			return fn(fi)
		})
	}
	children, err := d.List(ctx, dir)
	if err != nil {
		return err
	}
	for _, c := range children {
		fi, err := d.Stat(ctx, c)
		if errors.Is(err, storagedriver.ErrPathNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if fi.IsDir {
			err = Files(ctx, d, c, fn)
		} else {
			err = fn(fi)
		}
		if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
			return err
		}
	}
	return nil
}

// Repositories appends to names every repository below dir. A directory
// is a repository when it holds _manifests or _layers; directories whose
// names start with "_" are never repository components, so the walk does not
// enter them.
func Repositories(ctx context.Context, d storagedriver.Driver, dir string, names *[]string) error {
	children, err := d.List(ctx, dir)
	if err != nil {
		return err
	}
	isRepo := false
	for _, c := range children {
		base := path.Base(c)
		switch {
		case base == "_manifests" || base == "_layers":
			isRepo = true
		case strings.HasPrefix(base, "_"):
		default:
			if err := Repositories(ctx, d, c, names); err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
				return err
			}
		}
	}
	if isRepo && dir != layout.RepositoriesRoot() {
		*names = append(*names, strings.TrimPrefix(dir, layout.RepositoriesRoot()+"/"))
	}
	return nil
}

// RepositoryExists reports whether repository name exists: it holds
// manifests or layer links, as the catalog counts repositories.
func RepositoryExists(ctx context.Context, d storagedriver.Driver, name string) (bool, error) {
	if err := check.Name(name); err != nil {
		return false, err
	}
	children, err := d.List(ctx, layout.RepoDir(name))
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, c := range children {
		if b := c[strings.LastIndexByte(c, '/')+1:]; b == "_manifests" || b == "_layers" {
			return true, nil
		}
	}
	return false, nil
}

// Keys found by a walk, read back.

// DigestAt parses the digest a key names by its segments "<alg>/<hex>"
// ending at index i of segs; "" when they do not form a valid digest.
func DigestAt(segs []string, i int) digest.Digest {
	if i < 1 || i >= len(segs) {
		return ""
	}
	d := digest.Digest(segs[i-1] + ":" + segs[i])
	if check.Digest(d) != nil {
		return ""
	}
	return d
}

// BlobDigestAt parses the digest of a blob data key, split into segs:
// .../<alg>/<first 2 hex>/<hex>/data.
func BlobDigestAt(segs []string) digest.Digest {
	n := len(segs)
	if n < 4 || segs[n-1] != "data" {
		return ""
	}
	d := digest.Digest(segs[n-4] + ":" + segs[n-2])
	if check.Digest(d) != nil || segs[n-3] != segs[n-2][:2] {
		return ""
	}
	return d
}

// Split splits key p into its segments.
func Split(p string) []string { return strings.Split(strings.TrimPrefix(p, "/"), "/") }
