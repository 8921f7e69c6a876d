// Package times keeps the push and pull times retention reads
// (registry/policy): the records' layout under /berth/v1/repositories,
// reading and writing them, and a node's log of the pulls it has not
// written yet.
//
// A push time is recorded when a tag is written (a record naming the
// digest and the time, by the store's clock) and when a manifest is put
// (the time, or the record of the tags put with it, the same bytes, which
// counts when it names the manifest); content without a record (written
// by Distribution or an older Berth) counts as pushed at its link's mtime.
//
// A pull costs no storage write: the store notes it in memory
// (PullLog.Record), and a flush (every storage.PullFlushInterval on a
// serving node) writes one record per manifest pulled since, keeping the
// later time when another node wrote one (merged by max). A stored
// last-pulled time is therefore late by at most the flush interval, and a
// node that crashes loses at most the pulls of its last interval.
//
// It is a package of its own because none of it needs a store: the
// records are plain files written through the driver, and the log is a
// map under a lock. The store records pushes on its write paths, and its
// retention side (Inventory, Pruner) reads and deletes the records.
//
// Imports: the standard library, go-digest, storagedriver and
// registry/storage/internal/layout only (internal/archtest).
package times
