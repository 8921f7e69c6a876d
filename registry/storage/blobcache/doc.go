// Package blobcache is the blob descriptor cache of Distribution's
// storage.cache.blobdescriptor: what the storage said about a blob (its
// size) and about a repository's links to blobs, kept in memory on each
// node (inmemory) or in a Redis shared by the nodes (redis), so that a blob
// HEAD or GET needs fewer storage requests.
//
// The cache knows nothing of garbage collection: every entry carries the
// time the storage confirmed it (Verified, on the clock of the node that
// wrote it), and the store trusts an entry only while it is younger than a
// window that collection cannot reach into (registry/storage's doc.go has
// the argument). Deletions (collection, DELETE of a blob or a manifest,
// scrub repairs) forget the entries they make wrong; with Redis every node
// sees that at once.
//
// A cache that fails (Redis down) never fails a request: Cache turns every
// backend error into a miss, counts it (Observer) and logs it at most once
// a minute.
//
// Imports: the standard library, go-digest and go-redis only; nothing of
// registry/storage, which imports it.
package blobcache
