// Package oci holds the spec primitives that the host agent (and, in time,
// the registry) share, so that each is written once: media-type constants
// of OCI and Docker with one spelling (mediatype.go), the digests a content
// store can hold (digest.go), platform parsing, matching and choice
// (platform.go), the ordering of version strings (version.go), and atomic
// file replacement with directory fsync (file.go).
//
// It is a leaf: it may import only the standard library, image-spec,
// go-digest and yaml, never another package of this module.
//
// Copies that the registry side still keeps and will switch to this package:
// registry/storage/manifestparse.go and registry/client/manifest.go (Docker
// media types), registry/request.go parsePlatform, and
// storagedriver/filesystem/fsutil.go syncDir.
package oci
