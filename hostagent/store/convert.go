package store

import (
	"encoding/json"
	"fmt"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/internal/oci"
)

// ToOCI rewrites a Docker image manifest as an OCI one, the way skopeo copy
// to an oci: destination does: only media types change, so config and
// layers keep their digests, and the manifest gets a new one. skopeo and
// umoci refuse Docker manifests in an OCI layout, so the store keeps only
// OCI manifests; the registry's digest is kept in the index entry. An OCI
// manifest is returned unchanged.
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
