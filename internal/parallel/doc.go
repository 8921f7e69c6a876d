// Package parallel runs a function over items with bounded concurrency,
// the first error cancelling the rest (golang.org/x/sync/errgroup with
// SetLimit underneath).
//
// It imports only the standard library and golang.org/x/sync.
//
// Imports: the standard library and golang.org/x/sync/errgroup only (checked
// by internal/archtest).
package parallel
