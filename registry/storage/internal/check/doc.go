// Package check holds the error classes of registry/storage and the checks
// of what a request names (repository names, tags, digests, upload ids)
// that return them.
//
// It is a package of its own because it is what every other part of the
// storage shares and nothing of it needs a store: the manifest parser
// (registry/storage/internal/manifest), the repository index and the
// upload purger answer in these classes too. registry/storage re-exports
// every class and check under its old name (errors.go), so its callers
// and the HTTP layer's mapping to OCI error codes see one value per class.
//
// Imports: the standard library, go-digest and internal/oci only
// (internal/archtest).
package check
