package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/storagedriver"
)

// Tags lists the tags of repository name in byte-wise order.
// ErrNameUnknown when the repository does not exist.
func (s *Store) Tags(ctx context.Context, name string) ([]string, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	children, err := s.driver.List(ctx, layout.TagsDir(name))
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		if _, err := s.driver.Stat(ctx, layout.RepoDir(name)); err != nil {
			if errors.Is(err, storagedriver.ErrPathNotFound) {
				return nil, fmt.Errorf("repository %s: %w", name, ErrNameUnknown)
			}
			return nil, err
		}
		return []string{}, nil
	}
	if err != nil {
		return nil, err
	}
	// The names are cut from one string rather than out of the full
	// paths, which a cached list would keep.
	size := 0
	for _, c := range children {
		size += len(path.Base(c))
	}
	var all strings.Builder
	all.Grow(size)
	for _, c := range children {
		all.WriteString(path.Base(c))
	}
	names, tags := all.String(), make([]string, 0, len(children))
	for _, c := range children {
		n := len(path.Base(c))
		tags, names = append(tags, names[:n]), names[n:]
	}
	if !sort.StringsAreSorted(tags) { // a driver's List usually is
		sort.Strings(tags)
	}
	return tags, nil
}

// maxCachedListTags bounds the tags of all the cached tag lists (a few
// dozen bytes each); a list longer than that is not cached.
const maxCachedListTags = 1 << 16

// cachedTagList is a repository's tags as read at at (before the List).
type cachedTagList struct {
	tags       []string
	at         time.Time
	refreshing bool // a read to renew it is under way
}

// TagsCached is Tags through the node cache (WithMemCache): the list a
// read of this node found less than the tag TTL ago, renewed in the
// background past half of it, as the tags of a manifest GET are
// (manifestcache.go). Every tag write or delete of the stores sharing the
// cache forgets the repository's list after the storage changed, and a
// read that began before such a forget is not remembered, so a listing
// on the node after a write returned sees the write; tags written or
// deleted on another node are seen within the TTL (doc.go, "The manifest
// cache"). For the tag list endpoint only: what decides a write or a
// delete lists with Tags. The slice is shared: the caller must not
// change it.
func (s *Store) TagsCached(ctx context.Context, name string) ([]string, error) {
	if s.mem == nil || s.mem.tagTTL < 0 {
		return s.Tags(ctx, name)
	}
	if err := CheckName(name); err != nil {
		return nil, err
	}
	at := s.now()
	tags, epoch, ok, renew := s.mem.tagList(name, at)
	if renew {
		go s.renewTagList(context.WithoutCancel(ctx), strings.Clone(name))
	}
	if ok {
		return tags, nil
	}
	tags, err := s.Tags(ctx, name)
	if err == nil {
		s.mem.rememberTagList(name, tags, at, epoch)
	}
	return tags, err
}

// renewTagList reads the tags of repository name again for the cache, as
// a miss would. A failed read leaves the entry to expire.
func (s *Store) renewTagList(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	at := s.now()
	_, epoch, _, _ := s.mem.tagList(name, at)
	if tags, err := s.Tags(ctx, name); err == nil {
		s.mem.rememberTagList(name, tags, at, epoch)
	}
}

// tagList returns the tags of repository name as read less than the TTL
// before now, and the epoch to give rememberTagList on a miss; renew as
// for tag.
func (c *MemCache) tagList(name string, now time.Time) (tags []string, epoch uint64, ok, renew bool) {
	c.tmu.Lock()
	defer c.tmu.Unlock()
	e, ok := c.lists[name]
	if !ok || now.Sub(e.at) >= c.tagTTL || now.Before(e.at) {
		return nil, c.epoch, false, false
	}
	if now.Sub(e.at) > c.tagTTL/2 && !e.refreshing {
		e.refreshing, renew = true, true
		c.lists[name] = e
	}
	return e.tags, c.epoch, true, renew
}

// rememberTagList records the tags of repository name read at at, unless
// a tag was forgotten since epoch. Lists beyond maxCachedListTags in all
// make room by emptying the cache of lists.
func (c *MemCache) rememberTagList(name string, tags []string, at time.Time, epoch uint64) {
	if len(tags) > maxCachedListTags {
		return
	}
	c.tmu.Lock()
	defer c.tmu.Unlock()
	if c.epoch != epoch {
		return
	}
	if old, ok := c.lists[name]; ok {
		c.listTags -= len(old.tags)
	} else {
		name = strings.Clone(name) // see clone
	}
	if c.listTags+len(tags) > maxCachedListTags {
		clear(c.lists)
		c.listTags = 0
	}
	c.lists[name] = cachedTagList{tags: tags, at: at}
	c.listTags += len(tags)
}

// Referrers lists the manifests of repository name whose subject is d, with
// artifactType set to filter by it. An unknown subject has no referrers.
func (s *Store) Referrers(ctx context.Context, name string, d digest.Digest, artifactType string) ([]v1.Descriptor, error) {
	if err := checkNameDigest(name, d); err != nil {
		return nil, err
	}
	out := []v1.Descriptor{}
	algs, err := s.driver.List(ctx, layout.ReferrersDir(name, d))
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, alg := range algs {
		files, err := s.driver.List(ctx, alg)
		if err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
			return nil, err
		}
		for _, f := range files {
			b, err := s.driver.GetContent(ctx, f)
			if errors.Is(err, storagedriver.ErrPathNotFound) {
				continue // deleted meanwhile
			}
			if err != nil {
				return nil, err
			}
			var desc v1.Descriptor
			if err := json.Unmarshal(b, &desc); err != nil {
				return nil, fmt.Errorf("referrer entry %s: %v", f, err)
			}
			if artifactType == "" || desc.ArtifactType == artifactType {
				out = append(out, desc)
			}
		}
	}
	return out, nil
}

// walkRepositories appends to names every repository below dir. A directory
// is a repository when it holds _manifests or _layers; directories whose
// names start with "_" are never repository components, so the walk does not
// enter them.
func (s *Store) walkRepositories(ctx context.Context, dir string, names *[]string) error {
	children, err := s.driver.List(ctx, dir)
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
			if err := s.walkRepositories(ctx, c, names); err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
				return err
			}
		}
	}
	if isRepo && dir != layout.RepositoriesRoot() {
		*names = append(*names, strings.TrimPrefix(dir, layout.RepositoriesRoot()+"/"))
	}
	return nil
}
