// Package layout says where everything lives in a storage root: CNCF
// Distribution's tree under /docker/registry/v2 and Berth's records under
// /berth/v1 (the map is in paths.go). Its functions are pure: they build
// keys from names, tags and digests already validated by the store, and
// read or write nothing.
//
// It is a package of its own so that the code that walks or repairs the
// layout can be cut from the store without exporting the store's
// internals: what every part of registry/storage shares is the layout,
// and here it costs exported functions visible only under
// registry/storage (this is an internal package). Records owned by one
// part alone keep their paths there (the repository index's in package
// repoindex, the metadata records' in package repometa, the pull and push
// times' in package times).
//
// Imports: the standard library and go-digest only (internal/archtest).
package layout
