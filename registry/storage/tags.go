package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

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
	tags := make([]string, 0, len(children))
	for _, c := range children {
		tags = append(tags, path.Base(c))
	}
	sort.Strings(tags)
	return tags, nil
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
