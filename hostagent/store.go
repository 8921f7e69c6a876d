package hostagent

import (
	"context"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/store"
)

// imageStore is the store with what the agent keeps in it besides the OCI
// layout: images as List shows them (image.go), containers
// (containers.go), and the unpacking of images (rootfs.go). The layout
// itself, its blobs, leases and locking are package store's.
type imageStore struct {
	*store.Store
}

// DefaultRoot is where the store lives when none is chosen:
// /var/lib/hostagent for root, $XDG_DATA_HOME/hostagent (or
// ~/.local/share/hostagent) for everyone else.
func DefaultRoot() (string, error) { return store.DefaultRoot() }

// containerRoots are the manifests of the containers' images, which no
// sweep may take: with only those whose manifest is still there when
// present is set.
func (s *imageStore) containerRoots(present bool) ([]v1.Descriptor, error) {
	cs, err := s.containers()
	if err != nil {
		return nil, err
	}
	var roots []v1.Descriptor
	for _, c := range cs {
		if !present || s.HasBlob(c.Image, -1) {
			roots = append(roots, v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: c.Image})
		}
	}
	return roots, nil
}

// sweep deletes the blobs idx does not reach, sparing those of containers'
// images and of live leases. The caller holds the store lock.
func (s *imageStore) sweep(idx *v1.Index, res *RemoveResult) error {
	roots, err := s.containerRoots(true)
	if err != nil {
		return err
	}
	swept, err := s.Sweep(idx, roots)
	res.Deleted = append(res.Deleted, swept.Deleted...)
	res.DeletedBytes += swept.DeletedBytes
	return err
}

// dropUnused deletes those of digests that no image, container or live
// lease uses: what a failed operation published and nothing took up.
func (s *imageStore) dropUnused(ctx context.Context, digests []digest.Digest) error {
	roots, err := s.containerRoots(false)
	if err != nil {
		return err
	}
	return s.DropUnused(ctx, digests, roots)
}
