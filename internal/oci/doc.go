// Package oci holds the spec primitives that the host agent and the
// registry share, so that each is written once: the repository-name and tag
// grammar (name.go), the image reference grammar REGISTRY/REPO:TAG@DIGEST
// with Docker's defaults (reference.go), media-type constants of OCI and
// Docker with one spelling (mediatype.go), the digests a content store can
// hold (digest.go), platform parsing, matching and choice (platform.go),
// the ordering of version strings (version.go), and atomic file replacement
// with directory fsync (file.go).
//
// It is a leaf: it may import only the standard library, image-spec,
// go-digest and yaml, never another package of this module.
package oci
