package storage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/berth-registry/berth/internal/oci"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Manifest media types Berth stores.
const (
	MediaTypeOCIManifest    = v1.MediaTypeImageManifest
	MediaTypeOCIIndex       = v1.MediaTypeImageIndex
	MediaTypeDockerManifest = oci.MediaTypeDockerManifest
	MediaTypeDockerList     = oci.MediaTypeDockerManifestList
	mediaTypeDockerForeign  = oci.MediaTypeDockerForeignLayer
)

// MaxManifestSize caps a manifest's payload.
const MaxManifestSize = 4 << 20

// manifestDoc is the union of the fields Berth reads from the manifest types
// it accepts.
type manifestDoc struct {
	SchemaVersion *int              `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *v1.Descriptor    `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Manifests     []v1.Descriptor   `json:"manifests"`
	Subject       *v1.Descriptor    `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

func (m *manifestDoc) isIndex() bool {
	return m.MediaType == MediaTypeOCIIndex || m.MediaType == MediaTypeDockerList
}

// parseManifest decodes and validates payload. contentType is the request's
// Content-Type; when the payload names its media type the two must agree.
func parseManifest(payload []byte, contentType string) (*manifestDoc, error) {
	var m manifestDoc
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrManifestInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON document", ErrManifestInvalid)
	}
	if m.SchemaVersion == nil || *m.SchemaVersion != 2 {
		return nil, fmt.Errorf("%w: schemaVersion must be 2", ErrManifestInvalid)
	}
	contentType = strings.TrimSpace(strings.Split(contentType, ";")[0])
	if m.MediaType == "" {
		m.MediaType = detectMediaType(&m, contentType)
	} else if contentType != "" && contentType != m.MediaType && knownMediaType(contentType) {
		return nil, fmt.Errorf("%w: Content-Type %q does not match mediaType %q", ErrManifestInvalid, contentType, m.MediaType)
	}
	switch m.MediaType {
	case MediaTypeOCIManifest, MediaTypeDockerManifest:
		if m.Config == nil {
			return nil, fmt.Errorf("%w: %s without config", ErrManifestInvalid, m.MediaType)
		}
		if m.Manifests != nil {
			return nil, fmt.Errorf("%w: an image manifest has no manifests field", ErrManifestInvalid)
		}
		if err := checkDescriptor(*m.Config, "config"); err != nil {
			return nil, err
		}
		for i, l := range m.Layers {
			if err := checkDescriptor(l, fmt.Sprintf("layers[%d]", i)); err != nil {
				return nil, err
			}
		}
	case MediaTypeOCIIndex, MediaTypeDockerList:
		if m.Config != nil || m.Layers != nil {
			return nil, fmt.Errorf("%w: an index has no config or layers", ErrManifestInvalid)
		}
		for i, c := range m.Manifests {
			if err := checkDescriptor(c, fmt.Sprintf("manifests[%d]", i)); err != nil {
				return nil, err
			}
		}
	case "":
		return nil, fmt.Errorf("%w: cannot tell the manifest's media type", ErrManifestInvalid)
	default:
		return nil, fmt.Errorf("%w: unsupported manifest media type %q", ErrManifestInvalid, m.MediaType)
	}
	if m.Subject != nil {
		if err := checkDescriptor(*m.Subject, "subject"); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

func knownMediaType(mt string) bool {
	switch mt {
	case MediaTypeOCIManifest, MediaTypeOCIIndex, MediaTypeDockerManifest, MediaTypeDockerList:
		return true
	}
	return false
}

// detectMediaType names a payload without a mediaType field the way
// Distribution does: by its structure, trusting a Content-Type of the same kind.
func detectMediaType(m *manifestDoc, contentType string) string {
	switch {
	case m.Config != nil && m.Manifests == nil:
		if contentType == MediaTypeDockerManifest {
			return contentType
		}
		return MediaTypeOCIManifest
	case m.Manifests != nil && m.Config == nil:
		if contentType == MediaTypeDockerList {
			return contentType
		}
		return MediaTypeOCIIndex
	}
	return ""
}

func checkDescriptor(d v1.Descriptor, field string) error {
	if err := CheckDigest(d.Digest); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrManifestInvalid, field, err)
	}
	if d.Size < 0 {
		return fmt.Errorf("%w: %s: negative size", ErrManifestInvalid, field)
	}
	if d.Data != nil {
		if int64(len(d.Data)) != d.Size || d.Digest.Algorithm().FromBytes(d.Data) != d.Digest {
			return fmt.Errorf("%w: %s: data does not match digest and size", ErrManifestInvalid, field)
		}
	}
	return nil
}

// nondistributable tells whether a layer may be absent from the registry.
func nondistributable(l v1.Descriptor) bool {
	return strings.Contains(l.MediaType, ".nondistributable.") || l.MediaType == mediaTypeDockerForeign
}

// mediaTypeOf reads the media type of a stored manifest.
func mediaTypeOf(payload []byte) string {
	var m manifestDoc
	if json.Unmarshal(payload, &m) != nil {
		return ""
	}
	if m.MediaType == "" {
		return detectMediaType(&m, "")
	}
	return m.MediaType
}

// referrerDescriptor describes the manifest with digest d for the referrers
// API: its artifact type falls back to the config's media type.
func referrerDescriptor(m *manifestDoc, d digest.Digest, size int64) v1.Descriptor {
	at := m.ArtifactType
	if at == "" && m.Config != nil && !m.isIndex() {
		at = m.Config.MediaType
	}
	return v1.Descriptor{MediaType: m.MediaType, Digest: d, Size: size, ArtifactType: at, Annotations: m.Annotations}
}
