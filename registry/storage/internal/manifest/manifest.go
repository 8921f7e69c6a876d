package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/registry/storage/internal/check"
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

// MaxSize caps a manifest's payload.
const MaxSize = 4 << 20

// Doc is the union of the fields Berth reads from the manifest types
// it accepts.
type Doc struct {
	SchemaVersion *int              `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *v1.Descriptor    `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Manifests     []v1.Descriptor   `json:"manifests"`
	Subject       *v1.Descriptor    `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

// IsIndex reports whether m is an image index or a manifest list.
func (m *Doc) IsIndex() bool {
	return m.MediaType == MediaTypeOCIIndex || m.MediaType == MediaTypeDockerList
}

// Parse decodes and validates payload. contentType is the request's
// Content-Type; when the payload names its media type the two must agree.
func Parse(payload []byte, contentType string) (*Doc, error) {
	var m Doc
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", check.ErrManifestInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON document", check.ErrManifestInvalid)
	}
	if m.SchemaVersion == nil || *m.SchemaVersion != 2 {
		return nil, fmt.Errorf("%w: schemaVersion must be 2", check.ErrManifestInvalid)
	}
	contentType = strings.TrimSpace(strings.Split(contentType, ";")[0])
	if m.MediaType == "" {
		m.MediaType = detectMediaType(&m, contentType)
	} else if contentType != "" && contentType != m.MediaType && KnownMediaType(contentType) {
		return nil, fmt.Errorf("%w: Content-Type %q does not match mediaType %q", check.ErrManifestInvalid, contentType, m.MediaType)
	}
	switch m.MediaType {
	case MediaTypeOCIManifest, MediaTypeDockerManifest:
		if m.Config == nil {
			return nil, fmt.Errorf("%w: %s without config", check.ErrManifestInvalid, m.MediaType)
		}
		if m.Manifests != nil {
			return nil, fmt.Errorf("%w: an image manifest has no manifests field", check.ErrManifestInvalid)
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
			return nil, fmt.Errorf("%w: an index has no config or layers", check.ErrManifestInvalid)
		}
		for i, c := range m.Manifests {
			if err := checkDescriptor(c, fmt.Sprintf("manifests[%d]", i)); err != nil {
				return nil, err
			}
		}
	case "":
		return nil, fmt.Errorf("%w: cannot tell the manifest's media type", check.ErrManifestInvalid)
	default:
		return nil, fmt.Errorf("%w: unsupported manifest media type %q", check.ErrManifestInvalid, m.MediaType)
	}
	if m.Subject != nil {
		if err := checkDescriptor(*m.Subject, "subject"); err != nil {
			return nil, err
		}
	}
	return &m, nil
}

// KnownMediaType reports whether mt is a manifest media type Berth stores.
func KnownMediaType(mt string) bool {
	switch mt {
	case MediaTypeOCIManifest, MediaTypeOCIIndex, MediaTypeDockerManifest, MediaTypeDockerList:
		return true
	}
	return false
}

// detectMediaType names a payload without a mediaType field the way
// Distribution does: by its structure, trusting a Content-Type of the same kind.
func detectMediaType(m *Doc, contentType string) string {
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
	if err := check.Digest(d.Digest); err != nil {
		return fmt.Errorf("%w: %s: %v", check.ErrManifestInvalid, field, err)
	}
	if d.Size < 0 {
		return fmt.Errorf("%w: %s: negative size", check.ErrManifestInvalid, field)
	}
	if d.Data != nil {
		if int64(len(d.Data)) != d.Size || d.Digest.Algorithm().FromBytes(d.Data) != d.Digest {
			return fmt.Errorf("%w: %s: data does not match digest and size", check.ErrManifestInvalid, field)
		}
	}
	return nil
}

// Nondistributable tells whether a layer may be absent from the registry.
func Nondistributable(l v1.Descriptor) bool {
	return strings.Contains(l.MediaType, ".nondistributable.") || l.MediaType == mediaTypeDockerForeign
}

// MediaTypeOf reads the media type of a stored manifest.
func MediaTypeOf(payload []byte) string {
	var m Doc
	if json.Unmarshal(payload, &m) != nil {
		return ""
	}
	if m.MediaType == "" {
		return detectMediaType(&m, "")
	}
	return m.MediaType
}

// ReferrerDescriptor describes the manifest with digest d for the referrers
// API: its artifact type falls back to the config's media type.
func ReferrerDescriptor(m *Doc, d digest.Digest, size int64) v1.Descriptor {
	at := m.ArtifactType
	if at == "" && m.Config != nil && !m.IsIndex() {
		at = m.Config.MediaType
	}
	return v1.Descriptor{MediaType: m.MediaType, Digest: d, Size: size, ArtifactType: at, Annotations: m.Annotations}
}
