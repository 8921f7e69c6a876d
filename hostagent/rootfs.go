package hostagent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/layer"
	"github.com/berth-registry/berth/internal/oci"
)

// localImage is an image manifest of the store with its config.
type localImage struct {
	entry     v1.Descriptor // the index entry that named it
	desc      v1.Descriptor // the image manifest (a child, for an index entry)
	manifest  v1.Manifest
	config    v1.Image
	configRaw []byte
}

// resolveImage finds the image ref names in idx; for an index, the
// manifest of platform ("" for the host's).
func (s *imageStore) resolveImage(idx *v1.Index, ref, platform string) (localImage, error) {
	desc, hits, err := parseLocalRef(ref).resolve(idx)
	if err != nil {
		return localImage{}, err
	}
	img, err := s.imageOf(desc, platform)
	if err != nil {
		return localImage{}, fmt.Errorf("image %s: %w", ref, err)
	}
	img.entry = idx.Manifests[hits[0]]
	return img, nil
}

// imageOf reads the image manifest desc, or picks one from the index desc.
func (s *imageStore) imageOf(desc v1.Descriptor, platform string) (localImage, error) {
	raw, err := s.ReadBlob(desc.Digest)
	if err != nil {
		return localImage{}, err
	}
	if oci.IsIndex(desc.MediaType) {
		want, err := ParsePlatform(platform)
		if err != nil {
			return localImage{}, err
		}
		var idx v1.Index
		if err := json.Unmarshal(raw, &idx); err != nil {
			return localImage{}, fmt.Errorf("index %s: %v: %w", desc.Digest, err, ErrCorrupt)
		}
		child, err := oci.ChoosePlatform(idx, want)
		if err != nil {
			return localImage{}, err
		}
		return s.imageOf(child, "")
	}
	if !oci.IsImageManifest(desc.MediaType) {
		return localImage{}, fmt.Errorf("%s is not an image manifest: %w", desc.MediaType, ErrInvalid)
	}
	img := localImage{entry: desc, desc: desc}
	if err := json.Unmarshal(raw, &img.manifest); err != nil {
		return localImage{}, fmt.Errorf("manifest %s: %v: %w", desc.Digest, err, ErrCorrupt)
	}
	if img.configRaw, err = s.ReadBlob(img.manifest.Config.Digest); err != nil {
		return localImage{}, fmt.Errorf("config: %w", err)
	}
	if err := json.Unmarshal(img.configRaw, &img.config); err != nil {
		return localImage{}, fmt.Errorf("config %s: %v: %w", img.manifest.Config.Digest, err, ErrCorrupt)
	}
	for _, l := range img.manifest.Layers {
		if !s.HasBlob(l.Digest, l.Size) {
			return localImage{}, fmt.Errorf("layer %s missing from the store (install the image again): %w", l.Digest, ErrCorrupt)
		}
	}
	return img, nil
}

// unpackImage applies the layers of img, in order, to the directory dir.
// Each layer is hashed as it is read, compressed (its digest) and not (its
// diff ID in the config): content that does not match is ErrCorrupt.
func (s *imageStore) unpackImage(ctx context.Context, dir string, img localImage, lim Limits) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	u := layer.NewUnpacker(root, lim)
	for i, l := range img.manifest.Layers {
		var diffID digest.Digest
		if i < len(img.config.RootFS.DiffIDs) {
			diffID = img.config.RootFS.DiffIDs[i]
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
	zr, _, err := decompress(io.TeeReader(f, blobHash))
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
