// Package repometa keeps the repository metadata records the web UI lists
// and searches (RepoInfo, RepoInfos, Search): one record per repository
// under /berth/v1/catalog/meta, a node's copy of those it read in memory,
// and the summaries of manifests they are made of (DescribeManifest). See
// repometa.go for how the copy and the records are kept in step,
// repometa_intern.go for what keeps the copy small (one description per
// manifest, shared by every tag; pushes noted and merged on the next read),
// and repometa_notes.go for pushes into repositories the node has no copy
// of (written into the stored records, never read into memory).
//
// Why a package of its own: the records are derived data. They are read
// and rebuilt through the store's public API (Tags, GetManifest, OpenBlob)
// and the driver (storage.Store.Driver), and the store's request paths
// never call into them: the HTTP layer tells the records of pushes and
// deletes (NoteManifestPut, NoteDeleted, NoteRepositoryDeleted) after the
// store answered. So the cut costs the store two exported methods only,
// IndexSnapshot (the repository index's shared sorted listing, whose
// identity RepoInfos compares to reuse its last answer) and TagPushed
// (when a tag was pushed, which retention reads too). The other
// candidate, the maintenance code (garbage collection, scrub, retention's
// pruning), works inside the store's protocol with collectors and caches
// and would need dozens of its internals exported.
//
// A Store embeds the *storage.Store it was made from, so its holder (the
// registry's App, which gives it to the web UI) calls both through one
// value; make one per storage.Store and share it, as its copy is what
// FlushMeta writes.
//
// Imports: the standard library, go-digest, image-spec, and of this module
// registry/storage, registry/storage/internal/periodic, storagedriver and
// internal/oci only; never the HTTP layer (package registry) nor the web
// UI (internal/archtest).
package repometa
