// Package memcache is the node's in-memory cache of what a manifest GET
// reads (registry/storage's doc.go, "The manifest cache"): manifests by
// digest, which tag named which manifest, and the used records garbage
// collection's rely reads. One Cache may serve several stores of one
// process (the app's and its collector's), so that what either changes,
// the other forgets.
//
// It holds entries and bounds them, and decides nothing: when an entry may
// be trusted (the stamps, the trust window, the order of forgets and
// writes) is the store's protocol, in registry/storage's cache.go. That is
// the cut: the cache is plain data structures under locks, the store the
// argument for using them. storage.MemCache wraps a Cache for the store's
// callers, who only make one and read its sizes.
//
// Imports: the standard library, go-digest and
// registry/storage/internal/manifest only (internal/archtest).
package memcache
