// Package proxy is Berth's pull-through cache: repositories whose content
// comes from upstream registries and is kept in this registry's storage.
// The registry consults it through registry.WithPullThrough.
//
// Upstreams are chosen by repository prefix: with the prefix "docker.io",
// the repository docker.io/library/ubuntu is a cache of library/ubuntu at
// the upstream; an empty prefix (Distribution's single proxy.remoteurl)
// takes every repository no other prefix takes, under its own name. The
// longest matching prefix wins. On Docker Hub a one-component name is
// fetched under library/, as docker does. Each upstream has its own
// credentials and its own client (token cache, connections).
//
// What is served, and what it costs upstream:
//
//   - A manifest by digest or a blob is immutable: once cached, it is
//     served from storage and the upstream is never asked again.
//   - A tag is served from storage while the upstream confirmed it less
//     than the upstream's TTL ago (0: forever). The first request after
//     that asks the upstream with one HEAD; when the tag moved, the new
//     manifest is fetched by digest. When each tag was last confirmed is
//     kept in storage (see paths.go), so several registry processes over
//     one storage share it.
//   - A miss fetches from the upstream (GET), stores and serves. Concurrent
//     misses of one manifest or blob in one process make one upstream
//     request; several processes may each make one.
//   - When an upstream cannot be reached, cached content is still served,
//     tags past their TTL included (with a log line). What is not cached
//     fails with *UpstreamError: 404 classes when the upstream does not
//     have it or refuses the credentials, storagedriver.ErrUnavailable
//     (503) when it cannot answer.
//
// A blob transfer (blobFill) streams: one goroutine, detached from the
// requests, copies the upstream's body through a verifying reader into a
// spool file (os.TempDir() or WithSpoolDir). Every client waiting for the
// blob, and the storage upload, read that file at their own pace, waiting
// on a channel for bytes not yet there; a spool reader is an io.ReadSeeker,
// so http.ServeContent answers Range requests from it while it grows.
// Memory is one copy buffer per reader, whatever the blob's size; the file
// is unlinked at creation and goes with its last reader. Readers get the
// last byte only once the content verified, so a corrupt upstream never
// yields a complete body. The blob is published through the normal upload
// path, whose Commit verifies the digest again. The transfer is cancelled
// when every client leaves before the upstream's bytes are all in.
//
// A manifest (at most 4 MiB) is fetched whole, once, and handed to every
// waiting request; an image manifest's config blob is cached before the
// manifest is stored, as storage requires.
//
// Imports: the standard library, go-digest, and of this module
// registry/client (to speak to upstreams), registry/storage (to keep what
// it fetched) and storagedriver only; never the HTTP layer (package
// registry), which imports it.
package proxy
