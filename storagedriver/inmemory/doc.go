// Package inmemory is a storage driver that keeps everything in process
// memory. It exists for tests and for throwaway registries; nothing survives
// the process.
//
// The namespace is a tree: a directory exists while it holds at least one
// committed file and disappears with its last one, as a prefix does in an
// object store. A path cannot be both a file and a directory; writing one
// over the other fails.
//
// Writes follow the storagedriver contract exactly. Each FileWriter owns its
// own buffer: nothing it writes is visible until Commit, which replaces the
// file at the path in one step. Close parks the buffer as the path's pending
// write; Writer(ctx, path, true) takes it over, so one pending write is
// resumed by at most one writer at a time, and a second resumer gets
// ErrPathNotFound. Writer(ctx, path, false) discards the pending write but
// leaves committed content in place until its own Commit. Delete discards
// pending writes at and below the deleted path, including those of writers
// still open, whose Commit then fails with ErrPathNotFound.
//
// FileWriter.Write takes no context and never blocks; Commit and Cancel check
// theirs and, when it has ended, return its error and leave the writer open.
//
// Committed content is never mutated, so Reader and Open hand out views of it
// without copying. The Driver is safe for concurrent use; a FileWriter is
// used by one goroutine at a time.
//
// Imports: the standard library and storagedriver only.
package inmemory
