// Package lease is garbage collection's lease (/berth/v1/gc/lease), which
// lets one node of several collect at a time (storage.Store.GCLoop). It is
// for efficiency only: two collectors at once are safe (registry/storage's
// doc.go), they only repeat each other's work. A lease is a small JSON
// object in storage, renewed while its node collects; when its node dies
// it expires after its TTL, judged by the object's mtime.
//
// It is a package of its own because it needs nothing of the store but
// the driver and a clock, and the collector nothing of it: GCLoop takes
// the lease around a run.
//
// Imports: the standard library, storagedriver and
// registry/storage/internal/layout only (internal/archtest).
package lease
