// Package retention applies the retention rules of the repository policies
// (registry/policy) to a registry's storage: per repository it reads the
// tags and manifests with their push and pull times, lets the rules decide
// and deletes what they reject, following the storage's protocol so that a
// concurrent push is never lost (registry/storage, retention.go). The
// bytes are freed by the garbage collection that follows.
//
// Imports: the standard library, registry/policy and registry/storage only.
package retention
