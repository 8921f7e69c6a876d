package hostagent

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

// maxSources bounds how many repositories are remembered per blob.
const maxSources = 8

// sources maps a blob to the repositories (registry/repository) it is known
// to be in, newest first: push mounts a blob from one of them instead of
// uploading it when the destination is on the same registry.
type sources map[digest.Digest][]string

func (s *store) readSources() (sources, error) {
	b, err := os.ReadFile(s.path(sourcesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return sources{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", sourcesFile, err)
	}
	src := sources{}
	if err := json.Unmarshal(b, &src); err != nil {
		// Only an optimisation rests on it: start afresh.
		return sources{}, nil
	}
	return src, nil
}

// addSources records that repo holds digests.
func (s *store) addSources(ctx context.Context, repo string, digests []digest.Digest) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	src, err := s.readSources()
	if err != nil {
		return err
	}
	for _, d := range digests {
		list := slices.DeleteFunc(src[d], func(r string) bool { return r == repo })
		list = append([]string{repo}, list...)
		src[d] = list[:min(len(list), maxSources)]
	}
	return s.writeSources(src)
}

func (s *store) writeSources(src sources) error {
	b, err := json.Marshal(src)
	if err != nil {
		return err
	}
	if err := oci.WriteFileAtomic(s.root, sourcesFile, b); err != nil {
		return fmt.Errorf("write %s: %w", sourcesFile, err)
	}
	return nil
}
