package hostagent

import (
	"context"
	"fmt"
	"io"
	"os"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/archive"
	"github.com/berth-registry/berth/hostagent/layer"
	"github.com/berth-registry/berth/hostagent/store"
)

// resolveImage finds the image ref names in idx; for an index, the
// manifest of platform ("" for the host's).
func (s *imageStore) resolveImage(idx *v1.Index, ref, platform string) (store.LocalImage, error) {
	desc, hits, err := parseLocalRef(ref).resolve(idx)
	if err != nil {
		return store.LocalImage{}, err
	}
	img, err := s.ImageOf(desc, platform)
	if err != nil {
		return store.LocalImage{}, fmt.Errorf("image %s: %w", ref, err)
	}
	img.Entry = idx.Manifests[hits[0]]
	return img, nil
}

// unpackImage applies the layers of img, in order, to the directory dir.
// Each layer is hashed as it is read, compressed (its digest) and not (its
// diff ID in the config): content that does not match is ErrCorrupt. An
// absent foreign layer is ErrAbsent, before anything is written. Of a
// Windows image only the Files/ tree is unpacked (filesOnly).
func (s *imageStore) unpackImage(ctx context.Context, dir string, img store.LocalImage, lim Limits) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	if len(img.Absent) > 0 {
		return absentError(img.Absent[0], "the container's root filesystem cannot be built")
	}
	u := layer.NewUnpacker(root, lim)
	if filesOnly(img) {
		u.SetRename(layer.WindowsFiles)
	}
	for i, l := range img.Manifest.Layers {
		var diffID digest.Digest
		if i < len(img.Config.RootFS.DiffIDs) {
			diffID = img.Config.RootFS.DiffIDs[i]
		}
		if err := s.applyBlob(ctx, u, l, diffID); err != nil {
			return fmt.Errorf("layer %d (%s): %w", i+1, l.Digest, err)
		}
	}
	return nil
}

func (s *imageStore) applyBlob(ctx context.Context, u *layer.Unpacker, l v1.Descriptor, diffID digest.Digest) error {
	f, err := s.OpenBlob(l.Digest)
	if err != nil {
		return err
	}
	defer f.Close()
	blobHash := l.Digest.Algorithm().Hash()
	zr, _, err := archive.Decompress(io.TeeReader(f, blobHash))
	if err != nil {
		return fmt.Errorf("%v: %w", err, ErrCorrupt)
	}
	defer zr.Close()
	diffHash := digest.SHA256.Hash()
	tr := io.TeeReader(zr, diffHash)
	if err := u.Apply(ctx, tr); err != nil {
		return err
	}
	// The rest (tar padding) counts for both digests.
	if _, err := io.Copy(io.Discard, tr); err != nil {
		return fmt.Errorf("%v: %w", err, ErrCorrupt)
	}
	if _, err := io.Copy(blobHash, f); err != nil {
		return err
	}
	if got := digest.NewDigest(l.Digest.Algorithm(), blobHash); got != l.Digest {
		return fmt.Errorf("content hashes to %s: %w", got, ErrCorrupt)
	}
	if got := digest.NewDigest(digest.SHA256, diffHash); diffID != "" && got != diffID {
		return fmt.Errorf("uncompressed content hashes to %s, config says %s: %w", got, diffID, ErrCorrupt)
	}
	return nil
}

// filesOnly reports whether img is a Windows image, of which a container
// gets the Files/ tree of each layer only, as the root of its file system:
// Hives/ (registry deltas), UtilityVM/ and the Windows attributes and
// security descriptors have no meaning on this host.
func filesOnly(img store.LocalImage) bool {
	return img.Config.OS == "windows"
}
