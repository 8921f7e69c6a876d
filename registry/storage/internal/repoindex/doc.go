// Package repoindex is the repository index that serves the catalog
// (registry/storage's doc.go, "The repository index"): one marker per
// repository under /berth/v1/catalog/names, a generation rewritten after
// every change so that a node may serve the catalog from its last
// listing, and the complete stamp of a root that was walked once. It
// keeps the index complete when another registry writes the root (Ready,
// Sync) and answers the catalog (Catalog, Repositories, Snapshot).
//
// It is a package of its own because it needs nothing of the store but
// the driver, a clock and the walks of the layout: the store tells it what
// it wrote (Add after a link, RemoveIfGone after a delete), scrub asks it
// to compare and repair (SyncWith), and the catalog reads it. The store's
// public methods (Catalog, SyncIndex, ...) delegate to the Index it holds.
//
// Imports: the standard library, storagedriver and
// registry/storage/internal/{layout,check,walk} only (internal/archtest).
package repoindex
