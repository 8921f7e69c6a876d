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
package storagedriver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Driver is the storage backend contract. Every method that can block takes a
// context first and returns promptly with its error once the context ends.
type Driver interface {
	// Name is a short identifier such as "filesystem", used in logs.
	Name() string

	// GetContent returns the whole content at path. It is meant for small
	// objects (links, manifests); ErrPathNotFound when absent.
	GetContent(ctx context.Context, path string) ([]byte, error)

	// PutContent stores content at path atomically: a reader sees the old
	// content or the new, never a mix. Parents are created as needed.
	PutContent(ctx context.Context, path string, content []byte) error

	// Reader streams the content at path from offset. ErrPathNotFound when
	// absent; ErrInvalidOffset when offset is negative or past the end.
	Reader(ctx context.Context, path string, offset int64) (io.ReadCloser, error)

	// Writer opens a resumable writer at path. With append false any content
	// or pending write there is discarded; with append true the writer
	// continues a pending write (ErrPathNotFound when there is none).
	Writer(ctx context.Context, path string, append bool) (FileWriter, error)

	// Stat describes path, a file or a directory (a prefix holding files).
	Stat(ctx context.Context, path string) (FileInfo, error)

	// List returns the full paths of the direct children of path, sorted
	// byte-wise. ErrPathNotFound when path does not exist.
	List(ctx context.Context, path string) ([]string, error)

	// Move renames src to dst, replacing dst if it exists, creating dst's
	// parents. Afterwards src is gone. ErrPathNotFound when src is absent.
	Move(ctx context.Context, src, dst string) error

	// Delete removes path and everything below it. ErrPathNotFound when
	// nothing is there.
	Delete(ctx context.Context, path string) error
}

// FileWriter writes one file. Exactly one of Commit, Cancel or Close ends its
// write; Close may always be called afterwards and is then a no-op.
type FileWriter interface {
	io.Writer
	// Size is the number of bytes written so far, including those of the
	// write this one resumed.
	Size() int64
	// Close ends this session of writing but keeps the content pending so
	// that Writer(path, true) can resume it.
	Close() error
	// Cancel discards everything written, including resumed content.
	Cancel(ctx context.Context) error
	// Commit makes the content durable and visible at the path.
	Commit(ctx context.Context) error
}

// FileInfo describes a file or directory.
type FileInfo struct {
	Path    string
	Size    int64
	ModTime time.Time
	IsDir   bool
}

// WalkFunc is called for every file and directory below the walked path, in
// byte-wise order, parents before children. Returning ErrSkipDir for a
// directory skips its contents; any other error stops the walk and is
// returned by Walk.
type WalkFunc func(fi FileInfo) error

// Walker is an optional capability: a driver that can walk a tree faster than
// repeated List calls.
type Walker interface {
	Walk(ctx context.Context, path string, fn WalkFunc) error
}

// Opener is an optional capability: random access to a stored file. The
// filesystem driver returns an *os.File so that HTTP serving can use
// sendfile.
type Opener interface {
	Open(ctx context.Context, path string) (io.ReadSeekCloser, error)
}

// Redirector is an optional capability: a URL from which a client can fetch
// the content at path directly (for example a presigned S3 URL). An empty URL
// with a nil error means "serve it yourself".
type Redirector interface {
	RedirectURL(ctx context.Context, method, path string) (string, error)
}

// PendingPurger is an optional capability of a driver that keeps pending
// writes (closed but uncommitted, or left by a process that died) in an area
// of its own, which no path reaches and which only the driver can clean:
// the filesystem driver's +pending tree, the S3 driver's ~pending tails and
// multipart uploads. PurgePending discards the pending writes whose last
// activity (a write, a Close, an uploaded part) is before olderThan, and
// returns how many it discarded (or, with dryRun, would discard) and their
// bytes. A write active since olderThan is never touched. It is safe to run
// in several processes at once and to repeat; what another purge removed
// first is not counted where the backend can tell (S3 cannot: a delete of
// a key already gone succeeds, so two racing purges may both count it).
type PendingPurger interface {
	PurgePending(ctx context.Context, olderThan time.Time, dryRun bool) (n int, bytes int64, err error)
}

// Error classes. Drivers wrap them with the path, e.g.
// fmt.Errorf("%s: %w", path, storagedriver.ErrPathNotFound); callers test with
// errors.Is.
var (
	ErrPathNotFound  = errors.New("path not found")
	ErrInvalidPath   = errors.New("invalid path")
	ErrInvalidOffset = errors.New("invalid offset")
	ErrSkipDir       = errors.New("skip this directory")
	// ErrUnavailable marks a backend that could not be reached (timeouts,
	// refused connections); the registry answers 503.
	ErrUnavailable = errors.New("storage unavailable")
)

// PathNotFound returns ErrPathNotFound wrapped with path.
func PathNotFound(path string) error { return fmt.Errorf("%s: %w", path, ErrPathNotFound) }

// CheckPath reports ErrInvalidPath unless p is a valid file path: absolute,
// no empty, "." or ".." segment, only [A-Za-z0-9._-] characters.
func CheckPath(p string) error {
	if p == "/" || !validPath(p) {
		return fmt.Errorf("%q: %w", p, ErrInvalidPath)
	}
	return nil
}

// CheckArgs is what every driver method checks first: a valid file path
// (CheckPath) and a live context.
func CheckArgs(ctx context.Context, p string) error {
	if err := CheckPath(p); err != nil {
		return err
	}
	return ctx.Err()
}

// CheckDirArgs is CheckArgs for methods that also accept the root "/".
func CheckDirArgs(ctx context.Context, p string) error {
	if err := CheckDir(p); err != nil {
		return err
	}
	return ctx.Err()
}

// CheckDir is CheckPath that also accepts the root "/".
func CheckDir(p string) error {
	if p == "/" {
		return nil
	}
	return CheckPath(p)
}

func validPath(p string) bool {
	if len(p) < 2 || p[0] != '/' || p[len(p)-1] == '/' {
		return false
	}
	segStart := 1
	for i := 1; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			seg := p[segStart:i]
			if seg == "" || seg == "." || seg == ".." {
				return false
			}
			segStart = i + 1
			continue
		}
		c := p[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}
