// Package blobio holds the byte-moving helpers of the storage package's
// blob paths: the pipelined, hashing copy of upload bodies (CopyHashed),
// the seekable reader over a driver that reads only from an offset on
// (OffsetReader), which lets http.ServeContent answer range requests on
// every driver, and the set of open files short reads share (Handles).
//
// It knows nothing of the storage layout, of stores or of drivers: its
// functions take io types. That is why it is a package of its own, under
// registry/storage/internal so that only registry/storage and its
// subpackages import it.
//
// Imports: the standard library only (internal/archtest).
package blobio
