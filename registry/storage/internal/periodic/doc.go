// Package periodic holds the loop behind the storage's background
// flushes (storage.Store.FlushPullsEvery, repometa.Store.FlushMetaEvery):
// one function, shared by registry/storage and registry/storage/repometa,
// which is why it is a package of its own rather than a copy in each.
//
// Imports: the standard library only (internal/archtest).
package periodic
