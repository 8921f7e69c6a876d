package archive

import (
	"context"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/store"
)

// Archiver saves images of a store as archives and loads archives into it.
type Archiver struct {
	store      *store.Store
	dropUnused func(ctx context.Context, digests []digest.Digest) error
}

// New returns an Archiver over st. dropUnused deletes those of digests that
// nothing uses: a load that fails calls it on the blobs it added (the agent
// knows what else, containers say, keeps blobs alive).
func New(st *store.Store, dropUnused func(ctx context.Context, digests []digest.Digest) error) *Archiver {
	return &Archiver{store: st, dropUnused: dropUnused}
}

// Resolver finds the index entries a user's name for an image (a
// reference, a digest, a short ID) stands for in idx: their indexes.
type Resolver func(idx *v1.Index, ref string) ([]int, error)
