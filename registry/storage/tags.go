package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/registry/storage/internal/check"
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
