// Package drivertest is the conformance suite every storagedriver.Driver
// passes: inmemory, filesystem, S3 and any wrapper around a driver. A backend
// is done when Run passes with -race.
//
//	func TestSuite(t *testing.T) {
//		drivertest.Run(t, func(t *testing.T) storagedriver.Driver {
//			return inmemory.New()
//		})
//	}
//
// newDriver must return an empty driver on every call (for S3, a fresh bucket
// or prefix) and register its own cleanup with t.Cleanup. The suite assumes
// nothing of the backend beyond the contract in package storagedriver, so
// that what passes against one backend holds against all. Where that
// contract is silent the suite pins the one behaviour every backend can offer
// and callers may rely on:
//
//   - Pending writes are invisible: not at their path, not in List, Walk or
//     Stat of a parent, and Cancel leaves no trace.
//   - Writer(ctx, p, true) resumes only a pending write, never committed
//     content. Writer(ctx, p, false) leaves committed content readable until
//     its Commit replaces it.
//   - A directory exists while it holds a committed file: one emptied by
//     Delete or Move is gone, as a prefix is in an object store.
//   - Move moves files, not directories.
//   - Delete of a directory discards the pending writes below it, those
//     of writers still open included: their Commit fails with
//     ErrPathNotFound and their Close records nothing.
//   - Walk visits in byte-wise order of paths where a directory sorts as its
//     path followed by "/" (the order of an object store's flat listing):
//     "/a-c", "/a.c", "/a", "/a/x", "/a0". Parents come before children.
//   - Commit and Cancel with an ended context return its error and publish
//     nothing.
//   - After Commit, Cancel or Close, Write, Commit and Cancel fail and Close
//     is a no-op.
//
// Large writes stream generated data and compare hashes, so the suite's own
// memory stays flat whatever the backend does. testing.Short shrinks the
// large write from 64 MiB to 8 MiB.
package drivertest
