package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/internal/oci"
)

// References lists what a manifest or an index points to.
func References(mediaType string, raw []byte) ([]v1.Descriptor, error) {
	if oci.IsIndex(mediaType) {
		var idx v1.Index
		if err := json.Unmarshal(raw, &idx); err != nil {
			return nil, fmt.Errorf("%v: %w", err, errdefs.ErrCorrupt)
		}
		return idx.Manifests, nil
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrCorrupt)
	}
	return append([]v1.Descriptor{m.Config}, m.Layers...), nil
}

// Mark adds desc and everything it references to live.
func (s *Store) Mark(desc v1.Descriptor, live map[digest.Digest]bool) error {
	if live[desc.Digest] {
		return nil
	}
	live[desc.Digest] = true
	// The registry's own bytes of a manifest kept in OCI form, which push
	// sends so that the digest (and signatures of it) stay the same.
	if src := digest.Digest(desc.Annotations[AnnotationSourceDigest]); src.Validate() == nil {
		live[src] = true
	}
	if !oci.IsIndex(desc.MediaType) && !oci.IsImageManifest(desc.MediaType) {
		return nil
	}
	raw, err := s.ReadBlob(desc.Digest)
	if err != nil {
		return fmt.Errorf("manifest %s unreadable, nothing deleted (run verify): %w", desc.Digest, err)
	}
	refs, err := References(desc.MediaType, raw)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	for _, r := range refs {
		if err := s.Mark(r, live); err != nil {
			return err
		}
	}
	return nil
}

// Swept tells what Sweep deleted.
type Swept struct {
	Deleted      []digest.Digest
	DeletedBytes int64
}

// Sweep deletes the blobs that neither idx nor the extra roots (the images
// of containers, say) reach, sparing those of live leases. The caller holds
// the store lock. A manifest that cannot be read stops the sweep: its blobs
// cannot be told apart.
func (s *Store) Sweep(idx *v1.Index, extra []v1.Descriptor) (Swept, error) {
	var res Swept
	live, err := s.LeasedDigests()
	if err != nil {
		return res, err
	}
	if live == nil {
		live = map[digest.Digest]bool{}
	}
	for _, r := range append(slices.Clone(idx.Manifests), extra...) {
		if err := s.Mark(r, live); err != nil {
			return res, err
		}
	}
	dir := s.Path(BlobsDir, "sha256")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return res, fmt.Errorf("sweep: %w", err)
	}
	for _, e := range entries {
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d.Validate() != nil || live[d] {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return res, fmt.Errorf("delete blob %s: %w", d, err)
		}
		res.Deleted = append(res.Deleted, d)
		res.DeletedBytes += fi.Size()
	}
	if len(res.Deleted) == 0 {
		return res, nil
	}
	if err := oci.SyncDir(dir); err != nil {
		return res, err
	}
	// Forget where deleted blobs came from.
	src, err := s.ReadSources()
	if err != nil {
		return res, err
	}
	for _, d := range res.Deleted {
		delete(src, d)
	}
	return res, s.WriteSources(src)
}

// DropUnused deletes those of digests that no image of the index, no extra
// root (the images of containers, say) and no live lease uses: what a failed
// operation published and nothing took up.
func (s *Store) DropUnused(ctx context.Context, digests []digest.Digest, extra []v1.Descriptor) error {
	return s.WithIndex(ctx, func(idx *v1.Index) error {
		live, err := s.LeasedDigests()
		if err != nil {
			return err
		}
		if live == nil {
			live = map[digest.Digest]bool{}
		}
		for _, r := range append(idx.Manifests, extra...) {
			if s.HasBlob(r.Digest, -1) {
				if err := s.Mark(r, live); err != nil {
					return err
				}
			}
		}
		return s.deleteBlobs(func(d digest.Digest) bool { return !live[d] }, digests)
	})
}

// DeleteBlobs deletes the blobs digests, under the store lock: for a repair,
// so that installing the images that need them fetches them afresh.
func (s *Store) DeleteBlobs(ctx context.Context, digests []digest.Digest) error {
	return s.locked(ctx, func() error {
		return s.deleteBlobs(func(digest.Digest) bool { return true }, digests)
	})
}

func (s *Store) deleteBlobs(del func(digest.Digest) bool, digests []digest.Digest) error {
	for _, d := range digests {
		if del(d) && oci.CheckDigest(d) == nil {
			if err := os.Remove(s.BlobPath(d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("delete blob %s: %w", d, err)
			}
		}
	}
	return oci.SyncDir(s.Path(BlobsDir, "sha256"))
}

// PruneIngest deletes the partial downloads and staged loads under ingest/
// that no process is working on (their flock can be taken), and says how
// many it deleted.
func (s *Store) PruneIngest() (int, error) {
	entries, err := os.ReadDir(s.Path(IngestDir))
	if err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	n := 0
	for _, e := range entries {
		p := s.Path(IngestDir, e.Name())
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		if TryLockFile(f) && SameFile(f, p) {
			rm := os.Remove
			if e.IsDir() {
				rm = os.RemoveAll // what a load that died left staged
			}
			if rm(p) == nil {
				n++
			}
		}
		f.Close()
	}
	return n, nil
}
