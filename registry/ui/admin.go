package ui

import (
	"net/http"

	"github.com/berth-registry/berth/registry"
)

// upstreams lists the pull-through cache's upstreams. Their credentials
// are never shown.
func (h *Handler) upstreams(w http.ResponseWriter, r *http.Request, v *viewer) error {
	return h.render(w, r, v, http.StatusOK, "upstreams", "Upstreams", h.opts.Upstreams)
}

// usage shows the storage used by each namespace the quotas cover, for
// administrators (registry:admin:*, as GET /berth/v1/usage asks).
func (h *Handler) usage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	if !v.Admin() {
		if v.User == "" && v.CanLogin {
			return pageError(http.StatusUnauthorized, "Storage usage is for administrators; log in first.")
		}
		return pageError(http.StatusForbidden, "Storage usage is for administrators (those who may delete in every repository).")
	}
	report, err := h.app.Usage(r.Context())
	if err != nil {
		return err
	}
	return h.render(w, r, v, http.StatusOK, "usage", "Storage usage", struct {
		Namespaces []registry.NamespaceUsage
	}{report})
}
