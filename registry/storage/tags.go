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

	"github.com/berth-registry/berth/registry/storage/internal/check"
	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/registry/storage/internal/times"
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

// TagsCached is Tags through the node cache (WithMemCache): the list a
// read of this node found less than the tag TTL ago, renewed in the
// background past half of it, as the tags of a manifest GET are
// (cache.go). Every tag write or delete of the stores sharing the
// cache forgets the repository's list after the storage changed, and a
// read that began before such a forget is not remembered, so a listing
// on the node after a write returned sees the write; tags written or
// deleted on another node are seen within the TTL (doc.go, "The manifest
// cache"). For the tag list endpoint only: what decides a write or a
// delete lists with Tags. The slice is shared: the caller must not
// change it.
func (s *Store) TagsCached(ctx context.Context, name string) ([]string, error) {
	if s.mem.TagsOff() {
		return s.Tags(ctx, name)
	}
	if err := CheckName(name); err != nil {
		return nil, err
	}
	at := s.now()
	tags, epoch, ok, renew := s.mem.TagList(name, at)
	if renew {
		go s.renewTagList(context.WithoutCancel(ctx), strings.Clone(name))
	}
	if ok {
		return tags, nil
	}
	tags, err := s.Tags(ctx, name)
	if err == nil {
		s.mem.RememberTagList(name, tags, at, epoch)
	}
	return tags, err
}

// renewTagList reads the tags of repository name again for the cache, as
// a miss would. A failed read leaves the entry to expire.
func (s *Store) renewTagList(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	at := s.now()
	_, epoch, _, _ := s.mem.TagList(name, at)
	if tags, err := s.Tags(ctx, name); err == nil {
		s.mem.RememberTagList(name, tags, at, epoch)
	}
}

// Referrers lists the manifests of repository name whose subject is d, with
// artifactType set to filter by it. An unknown subject has no referrers.
func (s *Store) Referrers(ctx context.Context, name string, d digest.Digest, artifactType string) ([]v1.Descriptor, error) {
	if err := check.NameDigest(name, d); err != nil {
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

// deleteTag removes tag of repository name: its current link first, then
// the rest of its directory (its history). Drivers delete a directory
// entry by entry (S3: list the keys, then delete what was listed), and a
// Tag writes the history entry, then the current link. Deleted as one
// directory, a Tag landing between the listing and the deletion lost its
// new current link and kept its new history entry: a tag listed that
// resolves to nothing. With the current link gone first, the deletion of
// the directory takes a current link only when a Tag wrote it since, and
// then that Tag's history entry, written before it, too; or it leaves it,
// and the tag resolves to what the Tag wrote. ErrPathNotFound when
// there was no tag.
func (s *Store) deleteTag(ctx context.Context, name, tag string) error {
	errCurrent := s.driver.Delete(ctx, layout.TagCurrentPath(name, tag))
	if err := ignoreNotFound(errCurrent); err != nil {
		return err
	}
	err := s.driver.Delete(ctx, layout.TagDir(name, tag))
	if errors.Is(err, storagedriver.ErrPathNotFound) && errCurrent == nil {
		return nil // the directory went with its last link
	}
	return err
}

// untagging is a removal of a tag that must not take a racing push's tag
// with it (untag).
type untagging struct {
	// run names the remover's untagging record: one per retention run;
	// "" for a new one.
	run string
	// judged is the current link the remover decided on, for the record.
	judged []byte
	// spare is given the tag's current link as read after the record was
	// written, and tells why the tag stays, or "" to delete it.
	spare func(ctx context.Context, current []byte) (string, error)
	// before, in tests only, runs after the check, before the deletion.
	before func()
}

// Why untag spared a tag, besides what spare said.
const (
	untagGone    = "deleted meanwhile"
	untagTooSlow = "too slow to delete safely"
)

// untag deletes tag of repository name under the tag handshake, unless
// u.spare finds a reason not to: retention's untagging of a tag, scrub's
// removal of a dangling one and the takeback of a push refused across a
// repository delete. The remover writes untagging(name, tag)/<run>, then
// reads the tag's current link and deletes the tag (deleteTag) only when
// what it reads is still to go; Tag writes the link, then lists
// untagging(name, tag), and while a live record is there waits for it to
// go and writes the tag again. Of the two write-then-read sequences one
// sees the other's write: either the remover reads the push's link and
// spares the tag, or the push sees the record and writes its tag again
// after the deletion. It returns "" when it deleted the tag, else why it
// spared it.
func (s *Store) untag(ctx context.Context, name, tag string, u untagging) (string, error) {
	if u.run == "" {
		run, err := newUploadID()
		if err != nil {
			return "", err
		}
		u.run = run
	}
	rec := path.Join(times.UntaggingDir(name, tag), u.run)
	began := time.Now()
	if err := s.driver.PutContent(ctx, rec, u.judged); err != nil {
		return "", err
	}
	defer func() {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		_ = s.driver.Delete(cctx, rec) // left behind, it dies after deletingTTL
	}()
	current, err := s.driver.GetContent(ctx, layout.TagCurrentPath(name, tag))
	if errors.Is(err, storagedriver.ErrPathNotFound) {
		return untagGone, nil
	}
	if err != nil {
		return "", err
	}
	if why, err := u.spare(ctx, current); err != nil || why != "" {
		return why, err
	}
	// A record older than deletingTTL is taken for a dead remover's.
	if time.Since(began) > deletingTTL/2 {
		return untagTooSlow, nil
	}
	if u.before != nil {
		u.before()
	}
	err = ignoreNotFound(s.deleteTag(ctx, name, tag))
	s.tagsChanged(name, tag)
	return "", err
}
