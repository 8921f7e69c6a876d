// Package registry serves the OCI Distribution API v1.1 over a storage
// driver. New builds the http.Handler; every route is in routes().
//
// Imports: the standard library, gorilla/mux, image-spec, go-digest, and
// of this module registry/storage (and blobcache), storagedriver, auth,
// registry/health, registry/metrics, registry/notify, registry/policy,
// internal/oci and internal/reqid. Never the host agent, a command, or a
// storage driver's implementation (it is handed a storagedriver.Driver).
package registry
