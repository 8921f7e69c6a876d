// Package manifest reads the manifests the storage accepts: it decodes and
// validates a payload (Parse: OCI and Docker schema 2 image manifests and
// indexes, their descriptors' digests, sizes and embedded data), names a
// stored payload's media type (MediaTypeOf) and describes a manifest for
// the referrers API (ReferrerDescriptor).
//
// Its functions are pure: bytes in, a Doc or an error out, nothing read
// from or written to storage. That is why it is a package of its own:
// the store's put path, the collector's mark, scrub and the node's
// manifest cache all read manifests through it, and none of it needs a
// store. What a manifest's references must satisfy in a repository
// (storage.Validation) stays with the store, which looks them up.
//
// Imports: the standard library, go-digest, image-spec, and of this module
// internal/oci and registry/storage/internal/check only (internal/archtest).
package manifest
