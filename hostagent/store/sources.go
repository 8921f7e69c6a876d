package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
)

// MaxSources bounds how many repositories are remembered per blob.
const MaxSources = 8

// Sources maps a blob to the repositories (registry/repository) it is known
// to be in, newest first: push mounts a blob from one of them instead of
// uploading it when the destination is on the same registry.
type Sources map[digest.Digest][]string

// ReadSources reads sources.json; a missing or unreadable one is empty
// (only an optimisation rests on it).
func (s *Store) ReadSources() (Sources, error) {
	b, err := os.ReadFile(s.Path(SourcesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Sources{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", SourcesFile, err)
	}
	src := Sources{}
	if err := json.Unmarshal(b, &src); err != nil {
		// Only an optimisation rests on it: start afresh.
		return Sources{}, nil
	}
	return src, nil
}

// AddSources records that repo holds digests.
func (s *Store) AddSources(ctx context.Context, repo string, digests []digest.Digest) error {
	return s.locked(ctx, func() error {
		src, err := s.ReadSources()
		if err != nil {
			return err
		}
		for _, d := range digests {
			list := slices.DeleteFunc(src[d], func(r string) bool { return r == repo })
			list = append([]string{repo}, list...)
			src[d] = list[:min(len(list), MaxSources)]
		}
		return s.WriteSources(src)
	})
}

// WriteSources replaces sources.json atomically. The caller holds the
// store lock.
func (s *Store) WriteSources(src Sources) error {
	b, err := json.Marshal(src)
	if err != nil {
		return err
	}
	if err := oci.WriteFileAtomic(s.root, SourcesFile, b); err != nil {
		return fmt.Errorf("write %s: %w", SourcesFile, err)
	}
	return nil
}
