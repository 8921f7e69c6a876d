package storage

import (
	"context"
	"errors"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/internal/walk"
	"github.com/berth-registry/berth/storagedriver"
)

// The sweep. Every deletion goes through handshake: a blob, the links of a
// blob in some repositories, an untagged manifest's revision, a used record.
// Directories left empty vanish with the last file in them (every driver
// prunes), so a repository emptied here leaves the layout, and then the
// repository index (work).

// sweepUntagged deletes the manifests of r that no tag reaches, once their
// link is older than the cutoff: the revision link, the tags' history
// entries naming it, and its entry in the referrers index. The blob itself
// goes in the blob sweep when no repository keeps it.
func (c *collector) sweepUntagged(ctx context.Context, r *repoState) error {
	left := len(r.revs)
	defer func() {
		if left == 0 && len(r.live) == 0 {
			c.emptied[r.name] = true
		}
	}()
	for d, mtime := range r.revs {
		if r.live[d] || !c.old(mtime) {
			continue
		}
		del := func(ctx context.Context) error {
			err := c.s.driver.Delete(ctx, pathDir(layout.RevisionLinkPath(r.name, d)))
			if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
				return err
			}
			for tag := range r.tags {
				if err := ignoreNotFound(c.s.driver.Delete(ctx, pathDir(layout.TagIndexPath(r.name, tag, d)))); err != nil {
					return err
				}
			}
			// Forgotten before the deleting record goes: a request that
			// waited for it finds the cache without the link.
			c.s.forgetLinks(ctx, r.name, d)
			if subject, ok := r.subj[d]; ok {
				return ignoreNotFound(c.s.driver.Delete(ctx, layout.ReferrerPath(r.name, subject, d)))
			}
			return nil
		}
		ok, err := c.handshake(ctx, d, []string{r.name}, del)
		if err != nil {
			return err
		}
		if ok {
			left--
			c.touched[r.name] = true
			c.report.Manifests++
			c.deleted(Deletion{Kind: "manifest", Repo: r.name, Digest: d})
		}
	}
	return nil
}

// sweep deletes the blobs the mark left unmarked, their links, and used
// records of blobs that are gone.
func (c *collector) sweep(ctx context.Context) error {
	if err := c.findGarbageLinks(ctx); err != nil {
		return err
	}
	if err := c.sweepBlobs(ctx); err != nil {
		return err
	}
	// Old links to blobs that were not deleted here: only those whose blob
	// is gone (dangling) go; a blob spared or too young keeps its links.
	for d, repos := range c.garbage {
		if _, err := c.s.driver.Stat(ctx, layout.BlobDataPath(d)); !errors.Is(err, storagedriver.ErrPathNotFound) {
			if err != nil {
				return err
			}
			continue
		}
		ok, err := c.handshake(ctx, d, repos, func(ctx context.Context) error { return c.deleteLinks(ctx, d, repos) })
		if err != nil {
			return err
		}
		if ok {
			c.reportLinks(d, repos)
		}
	}
	// Links of live blobs in repositories left without any manifest: with
	// them the repository leaves the catalog. The handshake's record names
	// those repositories only; the blob stays for the others.
	for d, repos := range c.stale {
		ok, err := c.handshake(ctx, d, repos, func(ctx context.Context) error { return c.deleteLinks(ctx, d, repos) })
		if err != nil {
			return err
		}
		if ok {
			c.reportLinks(d, repos)
		}
	}
	return c.sweepUsed(ctx)
}

// findGarbageLinks collects the layer links older than the cutoff that name
// a blob the mark did not keep: at most one entry per garbage link.
func (c *collector) findGarbageLinks(ctx context.Context) error {
	root := layout.RepositoriesRoot()
	return walk.Tree(ctx, c.s.driver, root, func(fi storagedriver.FileInfo) error {
		base := fi.Path[strings.LastIndexByte(fi.Path, '/')+1:]
		if fi.IsDir {
			if base == "_manifests" || base == "_uploads" {
				return storagedriver.ErrSkipDir
			}
			return nil
		}
		name, rest, ok := strings.Cut(strings.TrimPrefix(fi.Path, root+"/"), "/_layers/")
		if !ok || base != "link" || CheckName(name) != nil || !c.old(fi.ModTime) {
			return nil
		}
		segs := strings.Split(rest, "/")
		d := walk.DigestAt(segs, 1)
		if d == "" || len(segs) != 3 {
			return nil
		}
		if _, live := c.live[d]; !live {
			c.garbage[d] = append(c.garbage[d], name)
		} else if c.emptied[name] {
			c.stale[d] = append(c.stale[d], name)
		}
		return nil
	})
}

// sweepBlobs walks the blob store and deletes each blob that is not live
// and older than the cutoff, with its garbage links and used record.
func (c *collector) sweepBlobs(ctx context.Context) error {
	return walk.Tree(ctx, c.s.driver, layout.BlobsRoot(), func(fi storagedriver.FileInfo) error {
		segs := walk.Split(fi.Path)
		if fi.IsDir || segs[len(segs)-1] != "data" {
			return nil
		}
		d := walk.BlobDigestAt(segs)
		if d == "" {
			return nil
		}
		if _, live := c.live[d]; live || !c.old(fi.ModTime) {
			return nil
		}
		repos := c.garbage[d]
		ok, err := c.handshake(ctx, d, nil, func(ctx context.Context) error {
			if err := ignoreNotFound(c.s.driver.Delete(ctx, layout.BlobDir(d))); err != nil {
				return err
			}
			c.s.forgetBlobEverywhere(ctx, d)
			if err := c.deleteLinks(ctx, d, repos); err != nil {
				return err
			}
			return c.deleteRecords(ctx, d)
		})
		if err != nil {
			return err
		}
		delete(c.garbage, d)
		if ok {
			c.report.Blobs++
			c.report.Bytes += fi.Size
			c.deleted(Deletion{Kind: "blob", Digest: d, Size: fi.Size})
			c.reportLinks(d, repos)
		}
		return nil
	})
}

func (c *collector) deleteLinks(ctx context.Context, d digest.Digest, repos []string) error {
	for _, name := range repos {
		if err := ignoreNotFound(c.s.driver.Delete(ctx, pathDir(layout.LayerLinkPath(name, d)))); err != nil {
			return err
		}
		c.s.cache.ForgetLink(ctx, name, d)
	}
	return nil
}

func (c *collector) reportLinks(d digest.Digest, repos []string) {
	for _, name := range repos {
		c.touched[name] = true
		c.report.LayerLinks++
		c.deleted(Deletion{Kind: "layer link", Repo: name, Digest: d})
	}
}

// sweepUsed deletes the used and relying records, older than the cutoff,
// of blobs that are not live and do not exist (requests wrote them for
// blobs that never arrived, or the blob went in an earlier run).
func (c *collector) sweepUsed(ctx context.Context) error {
	for _, root := range []string{layout.UsedRoot(), layout.RelyingRoot()} {
		err := walk.Tree(ctx, c.s.driver, root, func(fi storagedriver.FileInfo) error {
			if fi.IsDir {
				return nil
			}
			segs := walk.Split(fi.Path)
			d := walk.DigestAt(segs, len(segs)-1)
			if d == "" || !c.old(fi.ModTime) {
				return nil
			}
			if _, live := c.live[d]; live {
				return nil
			}
			_, err := c.s.driver.Stat(ctx, layout.BlobDataPath(d))
			if !errors.Is(err, storagedriver.ErrPathNotFound) {
				return err
			}
			ok, err := c.handshake(ctx, d, nil, func(ctx context.Context) error { return c.deleteRecords(ctx, d) })
			if ok && root == layout.UsedRoot() {
				c.report.UsedRecords++
				c.deleted(Deletion{Kind: "used record", Digest: d})
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func ignoreNotFound(err error) error {
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return nil
	}
	return err
}
