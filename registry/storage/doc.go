// Package storage is Berth's content model on top of a storagedriver.Driver:
// blobs and their links into repositories, resumable uploads, manifests and
// tags, the referrers index and the catalog.
//
// It keeps CNCF Distribution's storage layout (see paths.go), so a storage
// root written by either registry is served by the other. It verifies before
// it publishes: a blob appears under a digest only after its bytes hashed to
// that digest, and a manifest is linked only when what it references exists.
//
// Maintenance runs on the same content model: PurgeUploads (purge.go)
// removes uploads idle for an age, with the driver's stale pending writes
// (storagedriver.PendingPurger); Scrub (scrub.go) re-hashes every blob,
// checks links, manifests and tags, and rebuilds the referrers index.
// Both may run while the registry serves, on any number of nodes.
//
// Every method validates the names, tags and digests it is given and returns
// the error classes of errors.go, wrapped; other errors come from the driver.
package storage
