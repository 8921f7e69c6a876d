package storage

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
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
