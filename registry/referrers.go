package registry

import (
	"net/http"

	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// referrers serves GET /v2/<name>/referrers/<digest>[?artifactType=]: 200
// with an OCI index of the manifests whose subject is digest (empty when
// there are none), and OCI-Filters-Applied when filtered; 400 NAME_INVALID
// or DIGEST_INVALID.
func (a *App) referrers(w http.ResponseWriter, r *http.Request) error {
	name, d, err := repoDigest(r)
	if err != nil {
		return err
	}
	at := r.URL.Query().Get("artifactType")
	descs, err := a.store.Referrers(r.Context(), name, d, at)
	if err != nil {
		return err
	}
	if at != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	return writeJSON(w, v1.MediaTypeImageIndex, v1.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageIndex,
		Manifests: descs,
	})
}
