package storagedriver

import "context"

// Volatile returns a context under which a PutContent need not be durable
// when it returns: the content is atomically visible to every reader (old
// or new content, never a torn file) but may be lost, or left at its
// previous content, by a crash of the machine. Drivers whose writes are
// durable anyway (object stores) ignore it; the filesystem driver skips its
// fsyncs.
//
// It is for records whose loss a crash may cause without harm: one whose
// readers only need to see it while the writer runs (the garbage
// collector's handshake), one that goes with data that is not durable
// either (an upload not yet committed), or one whose readers fall back to
// something durable when it is missing or unreadable.
func Volatile(ctx context.Context) context.Context {
	return context.WithValue(ctx, volatileKey{}, true)
}

// IsVolatile reports whether ctx came from Volatile.
func IsVolatile(ctx context.Context) bool {
	v, _ := ctx.Value(volatileKey{}).(bool)
	return v
}

type volatileKey struct{}

// A Relocator is a FileWriter that can commit its content to another path
// than the one it was opened for, durably and at once, instead of a Commit
// followed by a Move (a second rename and directory sync on a filesystem, a
// copy in an object store). After CommitTo the writer is done, as after
// Commit. errors.ErrUnsupported when this writer cannot (a wrapper around one
// that is no Relocator): the caller then commits and moves.
type Relocator interface {
	CommitTo(ctx context.Context, dst string) error
}

// A RelocatorWith is a Relocator that can also publish files its driver
// staged (Stager) in the same durable step as its commit, shown after its
// content: on the filesystem with the redo log, one record and one flush
// where a commit and a Publish cost two. The staged files are then
// published, and their Publish does nothing more. errors.ErrUnsupported,
// with nothing done, when it cannot: the caller commits and publishes.
type RelocatorWith interface {
	CommitToWith(ctx context.Context, dst string, staged ...Staged) error
}
