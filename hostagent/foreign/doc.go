// Package foreign fetches foreign (Docker) and non-distributable (OCI)
// layers into the store from the URLs their descriptors name: the URL
// policy (http and https only, an optional allow-list as a registry's
// validation.manifests.urls.allow), the GET with a Range for a partial
// download, bounded redirects and a bounded wait for the response
// headers, the digest and size check (store.Ingest) and the reason
// given when no URL gives the layer. Install and verify --repair (package
// hostagent) and sync into the store (package mirror) share it, so that
// an image whose registry lacks such a layer is stored without it and a
// warning names the layer, its URLs and why, never "not found in the
// registry".
//
// Imports: the standard library, image-spec, and the agent's packages
// hostagent/store and hostagent/errdefs. Never a registry client: the
// registry fallback is the caller's.
package foreign
