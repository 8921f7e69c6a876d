package hostagent

import (
	"context"
	"fmt"
	"slices"
	"strings"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/store"
	"github.com/berth-registry/berth/registry/client"
)

// Tag gives the image src another name, dst (a reference; "ubuntu:x" means
// docker.io/library/ubuntu:x). An image already named dst loses that name.
// Errors: ErrNotFound, ErrAmbiguous, ErrInvalid.
func (a *Agent) Tag(ctx context.Context, src, dst string) error {
	r, err := client.ParseReference(dst)
	if err != nil {
		return fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	return a.store.UpdateIndex(ctx, func(idx *v1.Index) error {
		desc, hits, err := parseLocalRef(src).resolve(idx)
		if err != nil {
			return err
		}
		from := idx.Manifests[hits[0]]
		store.SetEntry(idx, newEntry(r, desc, digest.Digest(from.Annotations[store.AnnotationSourceDigest])))
		return nil
	})
}

// Untag removes the name ref and nothing else: the image's blobs stay until
// Prune (or Remove of its last name). Errors: ErrNotFound, ErrInvalid (ref
// is a digest, not a name).
func (a *Agent) Untag(ctx context.Context, ref string) error {
	if _, err := digest.Parse(ref); err == nil {
		return fmt.Errorf("untag %s: a digest is not a name: %w", ref, ErrInvalid)
	}
	r, err := client.ParseReference(ref)
	if err != nil {
		return fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	return a.store.UpdateIndex(ctx, func(idx *v1.Index) error {
		n := len(idx.Manifests)
		idx.Manifests = slices.DeleteFunc(idx.Manifests, func(d v1.Descriptor) bool { return store.EntryName(d) == r.String() })
		if len(idx.Manifests) == n {
			return fmt.Errorf("image %q: %w in the store", ref, ErrNotFound)
		}
		return nil
	})
}

// RemoveResult tells what Remove and Prune did.
type RemoveResult struct {
	Untagged      []string        `json:"untagged,omitempty"`
	Deleted       []digest.Digest `json:"deleted,omitempty"` // blobs
	DeletedBytes  int64           `json:"deletedBytes"`
	IngestDeleted int             `json:"ingestDeleted,omitempty"` // partial downloads dropped by Prune
}

// Remove takes the image ref out of the store: for a name, that name; for a
// digest or short ID, every name of that manifest. When no name is left for
// the manifest, it refuses (ErrInUse) while a container was made from it or
// another image derives from it (names it as its base, or starts with all
// its layers), unless force. Then blobs nothing references any more are
// deleted; those of a container's image stay. Errors: ErrNotFound,
// ErrAmbiguous, ErrInUse.
func (a *Agent) Remove(ctx context.Context, ref string, force bool) (RemoveResult, error) {
	unlock, err := a.store.Lock(ctx)
	if err != nil {
		return RemoveResult{}, err
	}
	defer unlock()
	idx, err := a.store.ReadIndex()
	if err != nil {
		return RemoveResult{}, err
	}
	lr := parseLocalRef(ref)
	desc, hits, err := lr.resolve(idx)
	if err != nil {
		return RemoveResult{}, err
	}
	var res RemoveResult
	var keep []v1.Descriptor
	for i, e := range idx.Manifests {
		if slices.Contains(hits, i) {
			res.Untagged = append(res.Untagged, store.EntryName(e))
		} else {
			keep = append(keep, e)
		}
	}
	lastName := !slices.ContainsFunc(keep, func(e v1.Descriptor) bool { return e.Digest == desc.Digest })
	if lastName && !force {
		if users, err := a.store.users(desc, keep); err != nil {
			return RemoveResult{}, err
		} else if len(users) > 0 {
			return RemoveResult{}, fmt.Errorf("image %s is used by %s (remove them first, or force): %w",
				ref, strings.Join(users, ", "), ErrInUse)
		}
	}
	idx.Manifests = keep
	if err := a.store.WriteIndex(idx); err != nil {
		return RemoveResult{}, err
	}
	if err := a.store.sweep(idx, &res); err != nil {
		return res, fmt.Errorf("removed %s, but deleting its blobs failed: %w", ref, err)
	}
	return res, nil
}

// users names what keeps the manifest desc in use: containers made from it
// and images in others derived from it.
func (s *imageStore) users(desc v1.Descriptor, others []v1.Descriptor) ([]string, error) {
	var users []string
	cs, err := s.containers()
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if c.Image == desc.Digest {
			users = append(users, "container "+c.Name)
		}
	}
	img, err := s.loadImage(desc)
	if err != nil || img.manifest == nil {
		return users, nil // no layers to compare: only base digests can tell
	}
	for _, e := range others {
		o, err := s.loadImage(e)
		if err != nil {
			continue
		}
		if store.IsDigestOf(o.BaseDigest, desc) || (o.manifest != nil && layersPrefix(img.manifest.Layers, o.manifest.Layers)) {
			users = append(users, "image "+store.EntryName(e))
		}
	}
	return users, nil
}

// layersPrefix reports whether base's layers start child's, with child
// having more: child was built on base.
func layersPrefix(base, child []v1.Descriptor) bool {
	if len(base) == 0 || len(child) <= len(base) {
		return false
	}
	for i, l := range base {
		if child[i].Digest != l.Digest {
			return false
		}
	}
	return true
}

// Prune deletes every blob that no image, container or transfer in flight
// references, and partial downloads no process is working on.
func (a *Agent) Prune(ctx context.Context) (RemoveResult, error) {
	unlock, err := a.store.Lock(ctx)
	if err != nil {
		return RemoveResult{}, err
	}
	defer unlock()
	idx, err := a.store.ReadIndex()
	if err != nil {
		return RemoveResult{}, err
	}
	var res RemoveResult
	if err := a.store.sweep(idx, &res); err != nil {
		return res, err
	}
	n, err := a.store.PruneIngest()
	res.IngestDeleted = n
	if err != nil {
		return res, err
	}
	return res, nil
}
