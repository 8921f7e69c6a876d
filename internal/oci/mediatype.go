package oci

import (
	"strings"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Docker's media types, which registries still serve for everything docker
// pushes. The OCI ones are image-spec's v1.MediaType* constants.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayerGzip    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar"
	MediaTypeDockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// IsIndex reports whether mediaType is an image index (OCI) or a manifest
// list (Docker).
func IsIndex(mediaType string) bool {
	return mediaType == v1.MediaTypeImageIndex || mediaType == MediaTypeDockerManifestList
}

// IsImageManifest reports whether mediaType is an image manifest, OCI or
// Docker schema 2.
func IsImageManifest(mediaType string) bool {
	return mediaType == v1.MediaTypeImageManifest || mediaType == MediaTypeDockerManifest
}

// IsNondistributable reports whether a layer of mediaType may be absent
// from a registry: Docker's foreign layers and OCI's (deprecated)
// non-distributable ones, fetched from their descriptor's urls instead.
func IsNondistributable(mediaType string) bool {
	return mediaType == MediaTypeDockerForeignLayer || strings.Contains(mediaType, ".nondistributable.")
}
