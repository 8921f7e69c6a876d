package repometa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/registry/storage/internal/periodic"
	"github.com/berth-registry/berth/storagedriver"
)

// The repository index's metadata: next to each repository's marker, a
// record of its tags (digest, size, platforms, annotations, labels, media
// and artifact types, push time) that the web UI lists and searches
// without reading the repository:
//
//	/berth/v1/catalog/meta/<name>/_meta    RepoInfo as JSON
//
// Each node keeps the records it read in memory. A push or delete through
// this node changes its copy at once (NoteManifestPut, NoteDeleted) and
// the record is rewritten by FlushMeta, in the background, so that the
// write path pays only a map update. A push into a repository the node
// has no copy of makes none: it is noted and written into the stored
// record by FlushMeta (repometa_notes.go), so that a node whose UI nobody
// opens holds no records. A record that is missing or older
// than the layout (written by another registry, or changed by retention
// or a delete elsewhere) is mended by RepoInfo: it compares the tags with
// one List of the repository's tags directory at most every
// metaRecheck, and describes the tags it did not know. Only a repository
// this node has no copy of is read while its caller waits; a copy older
// than metaRecheck is served as it is and compared in the background, so
// that no page request pays for listing a directory of thousands of tags.

func metaPath(name string) string { return catalogRoot() + "/meta/" + name + "/_meta" }

// MetaFlushInterval is how often the registry writes the records its
// pushes and deletes changed (FlushMetaEvery).
const MetaFlushInterval = 5 * time.Second

// metaRecheck is how often, at most, RepoInfo compares a repository's
// record with its tags directory.
const metaRecheck = 10 * time.Second

// ImageInfo summarises one manifest.
type ImageInfo struct {
	Digest       digest.Digest `json:"digest"`
	MediaType    string        `json:"mediaType"`
	ArtifactType string        `json:"artifactType,omitempty"`
	// Size is the manifest's bytes with its config and layers; for an
	// index, with those of the manifests it lists that are stored.
	Size        int64             `json:"size"`
	Platforms   []string          `json:"platforms,omitempty"`
	Created     time.Time         `json:"created,omitzero"`
	Pushed      time.Time         `json:"pushed,omitzero"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`

	text string // lowercased searchable text (imageText), shared by internImage
}

// TagInfo is a tag and the manifest it points at.
type TagInfo struct {
	Tag string `json:"tag"`
	ImageInfo
}

// RepoInfo is the metadata of one repository. A RepoInfo returned by the
// store is shared and must not be changed.
type RepoInfo struct {
	Name string `json:"name"`
	// Pushed is the latest push time of its tags.
	Pushed time.Time `json:"pushed,omitzero"`
	// Size sums the sizes of the distinct manifests its tags point at.
	Size int64     `json:"size"`
	Tags []TagInfo `json:"tags"` // sorted by tag
	// Known is false for a repository whose record was not read yet
	// (RepoInfos fills it in the background).
	Known bool `json:"-"`

	checked time.Time // when it was last compared with the tags directory
}

// Tag returns the entry of tag, if any.
func (r *RepoInfo) Tag(tag string) (TagInfo, bool) {
	i := sort.Search(len(r.Tags), func(i int) bool { return r.Tags[i].Tag >= tag })
	if i < len(r.Tags) && r.Tags[i].Tag == tag {
		return r.Tags[i], true
	}
	return TagInfo{}, false
}

// metaCache is a node's copy of the records.
type metaCache struct {
	init  sync.Once
	mu    sync.Mutex
	repos map[string]*RepoInfo // immutable once stored
	dirty map[string]bool      // changed here, not yet written
	gone  map[string]bool      // deleted here, record not yet removed
	wants map[string]bool      // to be read by the background filler
	fills bool                 // the filler runs
	locks map[string]*nameLock // one build per repository; an entry lives while held or awaited
	// images holds the ImageInfo of recent manifests, so that the tags of
	// many repositories pointing at one manifest share its strings, maps
	// and search text (internImage).
	images map[digest.Digest]*ImageInfo
	// pending: tags pushed through this node since its copy of the
	// repository was last made, in push order (addPending).
	pending map[string][]TagInfo
	// notes: tags pushed through this node into repositories it has no
	// copy of, since the last FlushMeta (noteCold).
	notes map[string][]pushNote

	// ver counts the changes of repos; list is the last RepoInfos answer,
	// reused while neither the index snapshot nor repos changed.
	ver  uint64
	list repoList
	// absent: indexed names found without tags, and when; RepoInfos asks
	// the filler about them again only after metaRecheck.
	absent map[string]time.Time
}

type repoList struct {
	names   []string // the index snapshot it was made of
	ver     uint64
	out     []*RepoInfo
	missing []string
}

func (s *Store) metaCache() *metaCache {
	c := &s.meta
	c.init.Do(func() {
		c.repos, c.dirty, c.gone, c.wants = map[string]*RepoInfo{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
		c.absent, c.locks, c.images = map[string]time.Time{}, map[string]*nameLock{}, map[digest.Digest]*ImageInfo{}
		c.pending, c.notes = map[string][]TagInfo{}, map[string][]pushNote{}
	})
	return c
}

func (c *metaCache) get(name string) *RepoInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mergeLocked(name)
}

// put stores r (finishing it) and marks it to be written when dirty.
func (c *metaCache) put(r *RepoInfo, dirty bool) {
	for i := range r.Tags {
		if r.Tags[i].text == "" { // described or read, not yet interned
			r.Tags[i].ImageInfo = c.internImage(r.Tags[i].ImageInfo)
		}
	}
	r.finish()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.repos[r.Name] = r
	c.ver++
	delete(c.gone, r.Name)
	delete(c.absent, r.Name)
	if dirty {
		c.dirty[r.Name] = true
	}
}

// finish sorts the tags (unless they are) and computes the totals.
func (r *RepoInfo) finish() {
	byTag := func(a, b TagInfo) int { return strings.Compare(a.Tag, b.Tag) }
	if !slices.IsSortedFunc(r.Tags, byTag) {
		slices.SortFunc(r.Tags, byTag)
	}
	r.Known = true
	r.Size, r.Pushed = 0, time.Time{}
	var seen distinctDigests
	for i := range r.Tags {
		t := &r.Tags[i]
		if seen.add(t.Digest) {
			r.Size += t.Size
		}
		if t.Pushed.After(r.Pushed) {
			r.Pushed = t.Pushed
		}
	}
}

// RepoInfo returns the metadata of repository name: this node's copy,
// compared with the tags directory at most every metaRecheck; the
// stored record; or, without one, a description of every tag (written
// back). storage.ErrNameUnknown when the repository does not exist.
func (s *Store) RepoInfo(ctx context.Context, name string) (*RepoInfo, error) {
	return s.repoInfo(ctx, name, false)
}

// repoInfo is RepoInfo; with recheck, the copy is compared with the tags
// directory however recently it was.
func (s *Store) repoInfo(ctx context.Context, name string, recheck bool) (*RepoInfo, error) {
	if err := storage.CheckName(name); err != nil {
		return nil, err
	}
	c := s.metaCache()
	if r := c.get(name); r != nil && !recheck {
		if s.now().Sub(r.checked) >= metaRecheck && !c.building(name) {
			s.fillLater(ctx, name) // compared in the background
		}
		return r, nil
	}
	defer c.lock(name)()
	r := c.get(name)
	if r != nil && !recheck {
		return r, nil
	}
	// Pushes noted while the node had no copy: their tags are described
	// again from storage, as the stored record may predate them.
	notes := c.takeNotes(name)
	consumed := false
	defer func() {
		if !consumed { // for the next build, or FlushMeta
			c.restoreNotes(name, notes)
		}
	}()
	if r == nil {
		var err error
		if r, err = s.readMeta(ctx, name); err != nil {
			return nil, err
		}
		r = r.without(notes)
	}
	tags, err := s.Tags(ctx, name)
	if err != nil {
		if errors.Is(err, storage.ErrNameUnknown) {
			consumed = true // nothing to note of a repository gone
			s.forgetMeta(name)
			c.mu.Lock()
			c.absent[name] = s.now()
			c.mu.Unlock()
		}
		return nil, err
	}
	nr, changed, err := s.reconcileMeta(ctx, name, r, tags)
	if err != nil {
		return nil, err
	}
	nr.checked = s.now()
	c.put(nr, changed)
	consumed = true
	return nr, nil
}

// readMeta reads the stored record of name; nil without one.
func (s *Store) readMeta(ctx context.Context, name string) (*RepoInfo, error) {
	b, err := s.driver.GetContent(ctx, metaPath(name))
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("repository metadata %s: %w", name, err)
	}
	var r RepoInfo
	if json.Unmarshal(b, &r) != nil || r.Name != name {
		return nil, nil // unreadable: rebuilt from the repository
	}
	return &r, nil
}

// reconcileMeta returns old (nil: none) with the tags of the tags directory:
// entries of tags gone are dropped, tags it lacks are described.
func (s *Store) reconcileMeta(ctx context.Context, name string, old *RepoInfo, tags []string) (*RepoInfo, bool, error) {
	nr := &RepoInfo{Name: name, Tags: make([]TagInfo, 0, len(tags))}
	changed := old == nil
	var have map[string]TagInfo
	if old != nil {
		have = make(map[string]TagInfo, len(old.Tags))
		for _, t := range old.Tags {
			have[t.Tag] = t
		}
		changed = len(old.Tags) != len(tags)
	}
	byDigest := map[digest.Digest]ImageInfo{}
	for _, tag := range tags {
		if t, ok := have[tag]; ok {
			nr.Tags = append(nr.Tags, t)
			continue
		}
		changed = true
		m, err := s.GetManifest(ctx, name, tag)
		if errors.Is(err, storage.ErrManifestUnknown) {
			continue // untagged meanwhile
		}
		if err != nil {
			return nil, false, fmt.Errorf("repository metadata %s:%s: %w", name, tag, err)
		}
		info, ok := byDigest[m.Digest]
		if !ok {
			if info, err = s.DescribeManifest(ctx, name, m); err != nil {
				return nil, false, err
			}
			byDigest[m.Digest] = info
		}
		if t, err := s.TagPushed(ctx, name, tag, m.Digest); err == nil && !t.IsZero() {
			info.Pushed = t.UTC()
		}
		nr.Tags = append(nr.Tags, TagInfo{Tag: tag, ImageInfo: info})
	}
	return nr, changed, nil
}

// NoteManifestPut records in this node's copy that manifest m of name
// was pushed now with tags (the reference too, when it is a tag). The
// record is written by FlushMeta. Errors (reading the config) leave the
// tags to be described by the next RepoInfo.
func (s *Store) NoteManifestPut(ctx context.Context, name, ref string, tags []string, m *storage.Manifest) {
	if !storage.IsDigest(ref) && !slices.Contains(tags, ref) {
		tags = append(slices.Clip(tags), ref)
	}
	if len(tags) == 0 {
		return
	}
	c := s.metaCache()
	pushed := s.clock().UTC()
	var info ImageInfo
	var err error
	described := c.has(name)
	if described { // outside the lock, which a RepoInfo may hold for long
		info, err = s.DescribeManifest(ctx, name, m)
	}
	// Under the lock: a RepoInfo that listed the tags before this push
	// has stored its copy, which this changes.
	defer c.lock(name)()
	if !c.has(name) {
		// No copy to change: noted for the stored record (FlushMeta), or
		// for the copy a RepoInfo makes first (repometa_notes.go).
		c.noteCold(name, tags, m.Digest, pushed)
		return
	}
	if !described { // a RepoInfo made the copy meanwhile
		info, err = s.DescribeManifest(ctx, name, m)
	}
	info.Pushed = pushed
	if err == nil && c.addPending(name, tags, info) {
		return
	}
	old := c.get(name)
	if old == nil { // forgotten meanwhile (a repository delete)
		c.noteCold(name, tags, m.Digest, pushed)
		return
	}
	nr := &RepoInfo{Name: name, checked: old.checked, Tags: make([]TagInfo, 0, len(old.Tags)+len(tags))}
	for _, t := range old.Tags {
		if !slices.Contains(tags, t.Tag) {
			nr.Tags = append(nr.Tags, t)
		}
	}
	if err != nil {
		nr.checked = time.Time{} // the next RepoInfo describes them
	} else {
		for _, tag := range tags { // in order, so that finish need not sort
			i, _ := slices.BinarySearchFunc(nr.Tags, tag, func(t TagInfo, tag string) int { return strings.Compare(t.Tag, tag) })
			nr.Tags = slices.Insert(nr.Tags, i, TagInfo{Tag: tag, ImageInfo: info})
		}
	}
	c.put(nr, err == nil)
}

// NoteDeleted records in this node's copy that ref (a tag, or a digest
// with every tag pointing at it) of name was deleted.
func (s *Store) NoteDeleted(name, ref string) {
	c := s.metaCache()
	defer c.lock(name)()
	old := c.get(name)
	if old == nil {
		c.dropNotes(name, ref)
		return
	}
	nr := &RepoInfo{Name: name, checked: old.checked}
	for _, t := range old.Tags {
		if t.Tag != ref && t.Digest.String() != ref {
			nr.Tags = append(nr.Tags, t)
		}
	}
	c.put(nr, true)
}

// NoteRepositoryDeleted drops name's metadata (FlushMeta removes the
// record).
func (s *Store) NoteRepositoryDeleted(name string) { s.forgetMeta(name) }

func (s *Store) forgetMeta(name string) {
	c := s.metaCache()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.repos[name]; ok {
		delete(c.repos, name)
		c.ver++ // only a real change makes RepoInfos list again
	}
	delete(c.pending, name)
	delete(c.notes, name)
	delete(c.dirty, name)
	c.gone[name] = true
}

// FlushMeta writes the records this node changed and removes those of
// repositories it deleted.
func (s *Store) FlushMeta(ctx context.Context) error {
	c := s.metaCache()
	c.mu.Lock()
	dirty, gone := c.dirty, c.gone
	c.dirty, c.gone = map[string]bool{}, map[string]bool{}
	c.mu.Unlock()
	errs := s.flushNotes(ctx)
	for name := range gone {
		if err := ignoreNotFound(s.driver.Delete(ctx, path.Dir(metaPath(name)))); err != nil {
			errs = append(errs, err)
		}
	}
	for name := range dirty {
		r := c.get(name)
		if r == nil {
			continue
		}
		b, err := json.Marshal(r)
		if err == nil {
			err = s.driver.PutContent(ctx, metaPath(name), b)
		}
		if err != nil {
			c.mu.Lock()
			c.dirty[name] = true // again next time
			c.mu.Unlock()
			errs = append(errs, fmt.Errorf("repository metadata %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// FlushMetaEvery runs FlushMeta every interval until ctx ends, passing
// failures to report. It writes nothing once ctx ended, as FlushPullsEvery:
// whoever owns the storage after that (a server's shutdown, a test's clean-up)
// calls FlushMeta itself, and a record lost to a crash is only a cache,
// rebuilt the first time it is found missing.
func (s *Store) FlushMetaEvery(ctx context.Context, interval time.Duration, report func(error)) {
	periodic.Flush(ctx, interval, s.FlushMeta, report)
}
