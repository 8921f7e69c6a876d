// Package storagedriver defines the small interface every storage backend of
// Berth implements, and the errors it reports.
//
// Paths are absolute, slash-separated and made of segments of
// [A-Za-z0-9._-]; "." and ".." segments are refused (ErrInvalidPath). "/" is
// the root and is valid only for List, Walk and Stat. A driver maps paths
// onto its own namespace (a directory, a bucket prefix, a map) and never lets
// a path reach outside it. Each driver puts a Base (base.go) before its
// backend, which checks every path and context before the backend sees them.
//
// Content written through a FileWriter is durable and visible at its path only
// after Commit. Close without Commit keeps what was written so far so that a
// later Writer(ctx, path, true) can resume it, possibly in another process.
//
// Imports: the standard library only. Every driver imports it; it imports no
// driver and nothing of the registry (internal/archtest).
package storagedriver
