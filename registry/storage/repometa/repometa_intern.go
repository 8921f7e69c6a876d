package repometa

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// What keeps the node's copy of the metadata records small: with 10,000
// repositories, or 5,000 tags of one manifest, a copy of the same
// description per tag and a lock per repository made up most of the
// registry's heap.

// maxInternedImages bounds metaCache.images. When it is full it is
// emptied: the records keep what they share, and the manifests described
// after that are shared among themselves again.
const maxInternedImages = 1024

// internImage returns info (its Pushed kept) with the strings, slices and
// maps of an equal description this node holds, and with its search text.
// A description must not be changed once interned.
func (c *metaCache) internImage(info ImageInfo) ImageInfo {
	pushed := info.Pushed
	info.Pushed = time.Time{}
	c.mu.Lock()
	have := c.images[info.Digest]
	c.mu.Unlock()
	if have == nil || !sameImage(have, &info) {
		info.text = imageText(&info)
		have = &info
		c.mu.Lock()
		if len(c.images) >= maxInternedImages {
			clear(c.images)
		}
		c.images[info.Digest] = have
		c.mu.Unlock()
	}
	out := *have
	out.Pushed = pushed
	return out
}

// sameImage reports whether a and b describe a manifest alike, apart from
// the push time.
func sameImage(a, b *ImageInfo) bool {
	return a.Digest == b.Digest && a.MediaType == b.MediaType && a.ArtifactType == b.ArtifactType &&
		a.Size == b.Size && a.Created.Equal(b.Created) && slices.Equal(a.Platforms, b.Platforms) &&
		maps.Equal(a.Annotations, b.Annotations) && maps.Equal(a.Labels, b.Labels)
}

// imageText is the lowercased text Search looks in besides the repository
// name and tag: digest, media type, artifact type, platforms, and
// annotations and labels as key=value, separated by NULs.
func imageText(t *ImageInfo) string {
	var b strings.Builder
	b.WriteString(t.Digest.String())
	b.WriteByte(0)
	b.WriteString(t.MediaType)
	b.WriteByte(0)
	b.WriteString(t.ArtifactType)
	for _, p := range t.Platforms {
		b.WriteByte(0)
		b.WriteString(p)
	}
	for _, kv := range []map[string]string{t.Annotations, t.Labels} {
		for k, v := range kv {
			b.WriteByte(0)
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(v)
		}
	}
	return strings.ToLower(b.String())
}

// matches reports whether every term is in the repository's name (name,
// lowercased), t's tag or t's search text. No term holds a NUL, so this
// is the same as looking in the three joined by NULs.
func (t *TagInfo) matches(name string, terms []string) bool {
	tag := strings.ToLower(t.Tag) // no copy unless the tag has capitals
	for _, term := range terms {
		if !strings.Contains(name, term) && !strings.Contains(tag, term) && !strings.Contains(t.text, term) {
			return false
		}
	}
	return true
}

// nameLock is the lock of one repository's build; n counts its holder
// and waiters, and the entry is dropped when none is left, so that the
// locks of 10,000 repositories do not outlive their builds.
type nameLock struct {
	mu sync.Mutex
	n  int
}

func (c *metaCache) lock(name string) func() {
	c.mu.Lock()
	l := c.locks[name]
	if l == nil {
		l = &nameLock{}
		c.locks[name] = l
	}
	l.n++
	c.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		c.mu.Lock()
		if l.n--; l.n == 0 {
			delete(c.locks, name)
		}
		c.mu.Unlock()
	}
}

// building reports whether a RepoInfo of name may be under way (its lock
// is held or awaited).
func (c *metaCache) building(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.locks[name] != nil
}

// addPending records that tags of name now point at info (described),
// to be merged into the node's copy of name by its next reader
// (mergeLocked): 5,000 pushes into one repository then cost one copy of its
// entries per read, not one per push. False when the node has no copy of
// name. The caller holds name's lock.
func (c *metaCache) addPending(name string, tags []string, info ImageInfo) bool {
	info = c.internImage(info)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.repos[name] == nil {
		return false
	}
	for _, tag := range tags {
		c.pending[name] = append(c.pending[name], TagInfo{Tag: tag, ImageInfo: info})
	}
	c.ver++
	c.dirty[name] = true
	delete(c.gone, name)
	return true
}

// has reports whether the node has a copy of name (without merging its
// pending pushes, as get does).
func (c *metaCache) has(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.repos[name] != nil
}

// mergeLocked returns the node's copy of name with its pending tags
// merged in (the later push of a tag wins). Under c.mu.
func (c *metaCache) mergeLocked(name string) *RepoInfo {
	r := c.repos[name]
	p := c.pending[name]
	if len(p) == 0 || r == nil {
		return r
	}
	delete(c.pending, name)
	newest := make(map[string]int, len(p)) // tag -> its index in p
	for i, t := range p {
		newest[t.Tag] = i
	}
	nr := &RepoInfo{Name: name, checked: r.checked, Tags: make([]TagInfo, 0, len(r.Tags)+len(newest))}
	for _, t := range r.Tags {
		if _, ok := newest[t.Tag]; !ok {
			nr.Tags = append(nr.Tags, t)
		}
	}
	for i, t := range p {
		if newest[t.Tag] == i {
			nr.Tags = append(nr.Tags, t)
		}
	}
	nr.finish()
	c.repos[name] = nr
	return nr
}

// distinctDigests is a set of digests that takes no map while it holds a
// few: the thousands of tags of a repository mostly point at a few
// manifests, and finish runs on every change.
type distinctDigests struct {
	few  []digest.Digest
	many map[digest.Digest]bool
}

// add adds d and reports whether it was new.
func (s *distinctDigests) add(d digest.Digest) bool {
	if s.many != nil {
		if s.many[d] {
			return false
		}
		s.many[d] = true
		return true
	}
	if slices.Contains(s.few, d) {
		return false
	}
	if len(s.few) < 16 {
		s.few = append(s.few, d)
		return true
	}
	s.many = make(map[digest.Digest]bool, 2*len(s.few))
	for _, x := range s.few {
		s.many[x] = true
	}
	s.many[d] = true
	return true
}
