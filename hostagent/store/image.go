package store

import (
	"encoding/json"
	"fmt"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/internal/oci"
)

// LocalImage is an image manifest of the store with its config.
type LocalImage struct {
	Entry     v1.Descriptor // the index entry that named it
	Desc      v1.Descriptor // the image manifest (a child, for an index entry)
	Manifest  v1.Manifest
	Config    v1.Image
	ConfigRaw []byte
	// Absent are the foreign layers of Manifest.Layers that are not in
	// the store (see IsForeign).
	Absent []v1.Descriptor
}

// IsForeign reports whether the layer d is foreign (Docker) or
// non-distributable (OCI) with URLs to fetch it from: such a layer may be
// absent from the store, when install could not fetch it, and its image
// is still installed.
func IsForeign(d v1.Descriptor) bool {
	return oci.IsNondistributable(d.MediaType) && len(d.URLs) > 0
}

// AbsentForeign returns the foreign layers of layers that the store lacks.
func (s *Store) AbsentForeign(layers []v1.Descriptor) []v1.Descriptor {
	var out []v1.Descriptor
	for _, l := range layers {
		if IsForeign(l) && !s.HasBlob(l.Digest, l.Size) {
			out = append(out, l)
		}
	}
	return out
}

// ImageOf reads the image manifest desc, or picks one from the index desc
// for platform (os/arch[/variant]; "" is the host's), with its config, and
// checks that its layers are in the store, but for foreign layers, which
// may be absent (listed in Absent).
func (s *Store) ImageOf(desc v1.Descriptor, platform string) (LocalImage, error) {
	raw, err := s.ReadBlob(desc.Digest)
	if err != nil {
		return LocalImage{}, err
	}
	if oci.IsIndex(desc.MediaType) {
		want, err := ParsePlatform(platform)
		if err != nil {
			return LocalImage{}, err
		}
		var idx v1.Index
		if err := json.Unmarshal(raw, &idx); err != nil {
			return LocalImage{}, fmt.Errorf("index %s: %v: %w", desc.Digest, err, errdefs.ErrCorrupt)
		}
		child, err := oci.ChoosePlatform(idx, want)
		if err != nil {
			return LocalImage{}, err
		}
		return s.ImageOf(child, "")
	}
	if !oci.IsImageManifest(desc.MediaType) {
		return LocalImage{}, fmt.Errorf("%s is not an image manifest: %w", desc.MediaType, errdefs.ErrInvalid)
	}
	img := LocalImage{Entry: desc, Desc: desc}
	if err := json.Unmarshal(raw, &img.Manifest); err != nil {
		return LocalImage{}, fmt.Errorf("manifest %s: %v: %w", desc.Digest, err, errdefs.ErrCorrupt)
	}
	if img.ConfigRaw, err = s.ReadBlob(img.Manifest.Config.Digest); err != nil {
		return LocalImage{}, fmt.Errorf("config: %w", err)
	}
	if err := json.Unmarshal(img.ConfigRaw, &img.Config); err != nil {
		return LocalImage{}, fmt.Errorf("config %s: %v: %w", img.Manifest.Config.Digest, err, errdefs.ErrCorrupt)
	}
	for _, l := range img.Manifest.Layers {
		if IsForeign(l) && !s.HasBlob(l.Digest, l.Size) {
			img.Absent = append(img.Absent, l)
			continue
		}
		if !s.HasBlob(l.Digest, l.Size) {
			return LocalImage{}, fmt.Errorf("layer %s missing from the store (install the image again): %w", l.Digest, errdefs.ErrCorrupt)
		}
	}
	return img, nil
}

// ParsePlatform reads os/arch[/variant], e.g. linux/arm64 or linux/arm/v7.
// The empty string means the host's platform. Errors wrap
// errdefs.ErrInvalid.
func ParsePlatform(s string) (v1.Platform, error) {
	if s == "" {
		return oci.HostPlatform(), nil
	}
	p, err := oci.ParsePlatform(s)
	if err != nil {
		return v1.Platform{}, fmt.Errorf("%w: %w", err, errdefs.ErrInvalid)
	}
	return p, nil
}
