package repometa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage"
)

// Pushes into repositories this node has no copy of. A node keeps a copy
// of a repository's record only once something read it (the web UI's
// pages and search, RepoInfo): a registry whose UI nobody opens holds no
// record in memory, where it used to read every pushed repository into
// its copy and keep it (10,000 repositories and a repository of 5,000 tags
// were a quarter of the benchmark's peak RSS). Such a push is noted
// (tag, digest, time) and, at the next FlushMeta, written into the stored
// record if there is one, describing only the tags it moved; without a
// record nothing is written, as the first reader describes every tag
// from the tags directory anyway. A RepoInfo that makes the copy first
// takes the notes and describes their tags again from storage, since the
// stored record may predate them. The notes, the record's flush and the
// copy's making all hold the repository's lock (metaCache.lock), so that
// none of them misses a push.

// pushNote is a tag pushed into a repository the node has no copy of.
type pushNote struct {
	tag    string
	d      digest.Digest
	pushed time.Time
}

// noteCold notes that tags of name now point at d, pushed at pushed. The
// caller holds name's lock and the node has no copy of name.
func (c *metaCache) noteCold(name string, tags []string, d digest.Digest, pushed time.Time) {
	d = digest.Digest(strings.Clone(string(d))) // not a slice of a request's line
	c.mu.Lock()
	defer c.mu.Unlock()
	ns, ok := c.notes[name]
	if !ok {
		name = strings.Clone(name)
	}
	for _, t := range tags {
		ns = append(ns, pushNote{tag: strings.Clone(t), d: d, pushed: pushed})
	}
	c.notes[name] = ns
}

// takeNotes removes and returns the notes of name. The caller holds
// name's lock.
func (c *metaCache) takeNotes(name string) []pushNote {
	c.mu.Lock()
	defer c.mu.Unlock()
	ns := c.notes[name]
	delete(c.notes, name)
	return ns
}

// restoreNotes puts back notes taken by a build or a flush that failed,
// before those noted since (which are later pushes). The caller holds
// name's lock.
func (c *metaCache) restoreNotes(name string, ns []pushNote) {
	if len(ns) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.notes[name] = append(ns, c.notes[name]...)
}

// dropNotes forgets the notes of name that ref (a tag, or a digest)
// deleted. The caller holds name's lock.
func (c *metaCache) dropNotes(name, ref string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ns := slices.DeleteFunc(c.notes[name], func(n pushNote) bool { return n.tag == ref || n.d.String() == ref })
	if len(ns) == 0 {
		delete(c.notes, name)
		return
	}
	c.notes[name] = ns
}

// without returns r (nil: nil) without the entries of the noted tags,
// leaving r unchanged.
func (r *RepoInfo) without(ns []pushNote) *RepoInfo {
	if r == nil || len(ns) == 0 {
		return r
	}
	nr := *r
	nr.Tags = slices.DeleteFunc(slices.Clone(r.Tags), func(t TagInfo) bool {
		return slices.ContainsFunc(ns, func(n pushNote) bool { return n.tag == t.Tag })
	})
	return &nr
}

// flushNotes writes the noted pushes into the stored records of their
// repositories (FlushMeta).
func (s *Store) flushNotes(ctx context.Context) []error {
	c := s.metaCache()
	c.mu.Lock()
	names := make([]string, 0, len(c.notes))
	for n := range c.notes {
		names = append(names, n)
	}
	c.mu.Unlock()
	var errs []error
	for _, name := range names {
		if err := s.flushNotesOf(ctx, name); err != nil {
			errs = append(errs, fmt.Errorf("repository metadata %s: %w", name, err))
		}
	}
	return errs
}

// flushNotesOf writes the noted pushes of name into its stored record,
// if it has one and the node still has no copy (which would have taken
// them).
func (s *Store) flushNotesOf(ctx context.Context, name string) (err error) {
	c := s.metaCache()
	defer c.lock(name)()
	ns := c.takeNotes(name)
	if len(ns) == 0 {
		return nil
	}
	defer func() {
		if err != nil {
			c.restoreNotes(name, ns)
		}
	}()
	r, err := s.readMeta(ctx, name)
	if err != nil || r == nil {
		return err
	}
	if err := s.applyNotes(ctx, name, r, ns); err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.driver.PutContent(ctx, metaPath(name), b)
}

// applyNotes changes r, a stored record, to say what the notes say: a tag
// still naming the digest its entry describes gets the new push time, any
// other is described again. A tag whose manifest is gone meanwhile is
// dropped; the next reader compares the record with the tags directory.
func (s *Store) applyNotes(ctx context.Context, name string, r *RepoInfo, ns []pushNote) error {
	// Sorted first, as a record edited by hand may not be; the later push
	// of a tag wins.
	r.finish()
	last := make(map[string]pushNote, len(ns))
	for _, n := range ns {
		last[n.tag] = n
	}
	described := map[digest.Digest]ImageInfo{}
	byTag := func(t TagInfo, tag string) int { return strings.Compare(t.Tag, tag) }
	for tag, n := range last {
		i, found := slices.BinarySearchFunc(r.Tags, tag, byTag)
		if found && r.Tags[i].Digest == n.d {
			r.Tags[i].Pushed = n.pushed
			continue
		}
		info, ok := described[n.d]
		if !ok {
			m, err := s.GetManifest(ctx, name, n.d.String())
			if errors.Is(err, storage.ErrManifestUnknown) {
				if found {
					r.Tags = slices.Delete(r.Tags, i, i+1)
				}
				continue
			}
			if err != nil {
				return err
			}
			if info, err = s.DescribeManifest(ctx, name, m); err != nil {
				return err
			}
			described[n.d] = info
		}
		info.Pushed = n.pushed
		if found {
			r.Tags[i] = TagInfo{Tag: tag, ImageInfo: info}
		} else {
			r.Tags = slices.Insert(r.Tags, i, TagInfo{Tag: tag, ImageInfo: info})
		}
	}
	r.finish()
	return nil
}
