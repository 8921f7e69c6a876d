// Package walk reads the storage layout's trees through a driver: every
// file and directory below a key (Tree, with the driver's Walk when it has
// one, else by listing), every file (Files), the repositories below a
// directory of the repositories tree (Repositories) and whether one
// repository exists (RepositoryExists), and reading the digests back out
// of the keys a walk finds (DigestAt, BlobDigestAt).
//
// It is a package of its own because the collector, scrub, the repository
// index, usage and the upload purger all walk the same trees and none of
// them needs a store for it: what these functions take is the driver.
//
// Imports: the standard library, go-digest, storagedriver and
// registry/storage/internal/{layout,check} only (internal/archtest).
package walk
