package storage

import (
	"context"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/internal/manifest"
	"github.com/berth-registry/berth/registry/storage/internal/walk"
	"github.com/berth-registry/berth/storagedriver"
)

// The mark: every blob a live manifest needs, over all repositories (blobs
// are global). Memory holds one entry per distinct live blob and, for the
// repository being marked, its tags and revisions; nothing per byte.

// mark marks every repository, and with DeleteUntagged sweeps each one's
// untagged manifests right after marking it.
func (c *collector) mark(ctx context.Context) error {
	var names []string
	err := walk.Repositories(ctx, c.s.driver, layout.RepositoriesRoot(), &names)
	if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
		return err
	}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		if CheckName(name) != nil {
			continue // not a repository Berth could have written or serve
		}
		if err := c.markRepo(ctx, name); err != nil {
			return err
		}
		c.report.Repositories++
	}
	return nil
}

// repoState is what the mark reads of one repository.
type repoState struct {
	name string
	tags map[string]digest.Digest        // tag -> the manifest it points to
	revs map[digest.Digest]time.Time     // stored manifests -> their link's mtime
	subj map[digest.Digest]digest.Digest // untagged manifests -> their subject
	live map[digest.Digest]bool          // with DeleteUntagged: what tags reach
}

func (c *collector) markRepo(ctx context.Context, name string) error {
	r := &repoState{name: name, tags: map[string]digest.Digest{}, revs: map[digest.Digest]time.Time{}}
	if err := c.readTags(ctx, r); err != nil {
		return err
	}
	if err := c.readRevisions(ctx, r); err != nil {
		return err
	}
	if !c.opts.DeleteUntagged {
		for _, d := range r.tags {
			if _, err := c.markManifest(ctx, d); err != nil {
				return err
			}
		}
		for d := range r.revs {
			if _, err := c.markManifest(ctx, d); err != nil {
				return err
			}
		}
		if len(r.revs) == 0 && len(r.tags) == 0 {
			c.emptied[r.name] = true
		}
		return nil
	}
	r.live = map[digest.Digest]bool{}
	for _, d := range r.tags {
		if err := c.visit(ctx, r, d); err != nil {
			return err
		}
	}
	// Referrers of live manifests live too, and theirs in turn: read the
	// subject of every manifest no tag reaches, then follow subjects to a
	// fixpoint. The subject is read from the manifest itself, so a root
	// whose referrers index is missing (written by Distribution) loses no
	// signature.
	r.subj = map[digest.Digest]digest.Digest{}
	for d := range r.revs {
		if r.live[d] {
			continue
		}
		doc, err := c.readManifest(ctx, d)
		if err != nil {
			return err
		}
		if doc != nil && doc.Subject != nil {
			r.subj[d] = doc.Subject.Digest
		}
	}
	for changed := true; changed; {
		changed = false
		for d, subject := range r.subj {
			if !r.live[d] && r.live[subject] {
				if err := c.visit(ctx, r, d); err != nil {
					return err
				}
				changed = true
			}
		}
	}
	return c.sweepUntagged(ctx, r)
}

// visit marks manifest d live in repository r, with its index children.
func (c *collector) visit(ctx context.Context, r *repoState, d digest.Digest) error {
	if r.live[d] {
		return nil
	}
	r.live[d] = true
	children, err := c.markManifest(ctx, d)
	if err != nil {
		return err
	}
	for _, child := range children {
		if err := c.visit(ctx, r, child); err != nil {
			return err
		}
	}
	return nil
}

// markManifest marks manifest d and everything it references live,
// globally, reading it once per run, and returns its index children. A
// manifest that is missing or unparsable keeps only itself; a storage
// error stops the run (marking less would delete live blobs).
func (c *collector) markManifest(ctx context.Context, d digest.Digest) ([]digest.Digest, error) {
	if children, ok := c.children[d]; ok {
		return children, nil
	}
	doc, err := c.readManifest(ctx, d)
	if err != nil {
		return nil, err
	}
	c.live[d] = struct{}{}
	c.children[d] = nil
	if doc == nil {
		return nil, nil
	}
	if doc.Config != nil {
		c.live[doc.Config.Digest] = struct{}{}
	}
	for _, l := range doc.Layers {
		c.live[l.Digest] = struct{}{}
	}
	var children []digest.Digest
	for _, m := range doc.Manifests {
		children = append(children, m.Digest)
	}
	c.children[d] = children
	for _, child := range children {
		if _, err := c.markManifest(ctx, child); err != nil {
			return nil, err
		}
	}
	return children, nil
}

// readManifest reads and parses manifest d; nil when it is missing or not a
// manifest Berth parses (a blob then, kept if something references it).
// Only a storage error is returned. A blob too large to be a manifest is
// not read whole.
func (c *collector) readManifest(ctx context.Context, d digest.Digest) (*manifest.Doc, error) {
	fi, err := c.s.driver.Stat(ctx, layout.BlobDataPath(d))
	if errors.Is(err, storagedriver.ErrPathNotFound) || err == nil && (fi.IsDir || fi.Size > MaxManifestSize) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	payload, err := c.s.driver.GetContent(ctx, layout.BlobDataPath(d))
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	doc, err := manifest.Parse(payload, "")
	if err != nil {
		return nil, nil
	}
	return doc, nil
}

// readTags reads where each tag of r points. A tag without a readable
// current link points nowhere (Distribution does the same).
func (c *collector) readTags(ctx context.Context, r *repoState) error {
	dirs, err := c.s.driver.List(ctx, layout.TagsDir(r.name))
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, dir := range dirs {
		tag := dir[len(layout.TagsDir(r.name))+1:]
		if CheckTag(tag) != nil {
			continue
		}
		b, err := c.s.driver.GetContent(ctx, layout.TagCurrentPath(r.name, tag))
		if errors.Is(err, storagedriver.ErrPathNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if d, err := ParseDigest(string(b)); err == nil {
			r.tags[tag] = d
		}
	}
	return nil
}

// readRevisions lists the manifests stored in r, by their links' keys.
func (c *collector) readRevisions(ctx context.Context, r *repoState) error {
	return walk.Tree(ctx, c.s.driver, layout.ManifestsDir(r.name)+"/revisions", func(fi storagedriver.FileInfo) error {
		segs := walk.Split(fi.Path)
		if fi.IsDir || segs[len(segs)-1] != "link" {
			return nil
		}
		if d := walk.DigestAt(segs, len(segs)-2); d != "" {
			r.revs[d] = fi.ModTime
		}
		return nil
	})
}
