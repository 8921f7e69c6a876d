// Package store is the host agent's image store: an OCI image layout
// (oci-layout, index.json, blobs/sha256) that skopeo and umoci read as
// oci:<dir>:<tag>, with the additions listed in store.go.
//
// It holds the layout and its primitives, with an exported API:
//   - index.json: ReadIndex, WriteIndex, UpdateIndex (under the store lock)
//     and the index entries (NewEntry, SetEntry, EntryName, IsDigestOf);
//   - blobs: HasBlob, OpenBlob, ReadBlob, PutBlob, Publish;
//   - ingest and resume: Ingest downloads a blob through a FetchFunc (the
//     caller's opener: this package never speaks to a registry), hashing
//     it while it streams, resuming a partial download, publishing it only
//     when digest and size match;
//   - leases (NewLease), the store lock (Lock, LockFileWait, TryLockFile);
//   - publications (publish.go): a Publication adds the blobs of an
//     operation that makes an image (a commit, an OS image install),
//     leased until the index names them, and takes them back when it
//     fails;
//   - sources.json: the repositories a blob is known to live in;
//   - verify and prune primitives: References, Mark, Sweep, DropUnused,
//     DeleteBlobs, PruneIngest, CheckBlobFile.
//
// Every method is safe for concurrent use by goroutines and by processes
// sharing one root: the store lock (flock on <root>/lock) is held only
// while index.json or sources.json change and while blobs are deleted,
// never during a transfer.
//
// Imports: the standard library, image-spec, go-digest, and the leaf
// packages internal/oci and internal/iox. Never the registry client or the
// server; images as the agent shows them, containers and resolution of
// user references stay in package hostagent.
package store
