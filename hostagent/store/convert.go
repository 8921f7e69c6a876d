package store

import (
	"encoding/json"
	"fmt"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/internal/oci"
)

// ToOCI rewrites a Docker image manifest as an OCI one, the way skopeo copy
// to an oci: destination does: only media types change, so config and
// layers keep their digests, and the manifest gets a new one. skopeo and
// umoci refuse Docker manifests in an OCI layout, so the index names only
// OCI manifests; the registry's digest is kept in the index entry and its
// bytes beside (Original). An OCI manifest is returned unchanged.
func ToOCI(mediaType string, payload []byte) (newType string, newPayload []byte, err error) {
	if mediaType != oci.MediaTypeDockerManifest {
		return mediaType, payload, nil
	}
	var m v1.Manifest
	if err := json.Unmarshal(payload, &m); err != nil {
		return "", nil, fmt.Errorf("docker manifest: %v: %w", err, errdefs.ErrInvalid)
	}
	m.MediaType = v1.MediaTypeImageManifest
	if m.Config.MediaType == oci.MediaTypeDockerConfig {
		m.Config.MediaType = v1.MediaTypeImageConfig
	}
	for i, l := range m.Layers {
		switch l.MediaType {
		case oci.MediaTypeDockerLayerGzip:
			m.Layers[i].MediaType = v1.MediaTypeImageLayerGzip
		case oci.MediaTypeDockerLayer:
			m.Layers[i].MediaType = v1.MediaTypeImageLayer
		case oci.MediaTypeDockerForeignLayer:
			m.Layers[i].MediaType = v1.MediaTypeImageLayerNonDistributableGzip //nolint:staticcheck // what Docker's foreign layers are
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return "", nil, err
	}
	return v1.MediaTypeImageManifest, out, nil
}

// Original returns the registry's own bytes of the manifest the index
// entry e names, which the store keeps beside the OCI form it converted
// them to (push sends them, so the digest and signatures of it survive),
// with their media type. ok is false when e has none, or the store lacks
// them (an image installed by an older agent).
func (s *Store) Original(e v1.Descriptor) (raw []byte, mediaType string, ok bool) {
	src := digest.Digest(e.Annotations[AnnotationSourceDigest])
	if src.Validate() != nil || src == e.Digest {
		return nil, "", false
	}
	raw, err := s.ReadBlob(src)
	if err != nil {
		return nil, "", false
	}
	mediaType, ok = OriginalOf(e.Digest, raw)
	return raw, mediaType, ok
}

// OriginalOf reports whether raw is an image manifest whose OCI form
// (ToOCI) is the manifest stored as d, and its media type: what load
// checks before it keeps an archive's claim of a registry's bytes.
func OriginalOf(d digest.Digest, raw []byte) (mediaType string, ok bool) {
	var head struct {
		MediaType string `json:"mediaType"`
	}
	if json.Unmarshal(raw, &head) != nil || !oci.IsImageManifest(head.MediaType) {
		return "", false
	}
	_, converted, err := ToOCI(head.MediaType, raw)
	if err != nil || digest.FromBytes(converted) != d {
		return "", false
	}
	return head.MediaType, true
}
