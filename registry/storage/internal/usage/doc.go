// Package usage measures what the repositories of a namespace hold
// (Namespace: every distinct blob linked into them, counted once at its
// size, and their numbers of tags) and the sizes of blobs (BlobSize, with
// a BlobSizes memory shared between runs), for the registry's quotas and
// usage API.
//
// It is a package of its own because it reads the layout through the
// driver and nothing of the store: a walk of the namespace's links, then
// the blobs' sizes, by listing the blob store where that costs fewer
// requests than a Stat of each. registry/storage keeps Usage, BlobSizes,
// BlobSize and NamespaceUsage under their names, delegating here.
//
// Imports: the standard library, go-digest, storagedriver and
// registry/storage/internal/{layout,check,walk} only (internal/archtest).
package usage
