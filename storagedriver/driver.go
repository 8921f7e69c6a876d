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

// SizedOpener is an optional capability of a driver whose Open asks the
// backend for the file's size (S3: a HEAD before the first GET). OpenSized
// opens path, whose size the caller already knows (a blob's, from its
// descriptor), without that request: a missing file shows as
// ErrPathNotFound at the first Read instead. A wrapper (observed) may
// offer it over any driver and answer errors.ErrUnsupported when the
// driver has neither it nor Opener; callers then read with Reader.
type SizedOpener interface {
	OpenSized(ctx context.Context, path string, size int64) (io.ReadSeekCloser, error)
}

// FileStatter is an optional capability of drivers whose Stat of a
// missing path costs a second request to learn whether it is a directory
// (S3: a HEAD, then a listing). StatFile describes the file at path only:
// ErrPathNotFound when there is no file there, directory or not. Callers
// that stat records, links or blobs, which are always files, use it
// through the function StatFile.
type FileStatter interface {
	StatFile(ctx context.Context, path string) (FileInfo, error)
}

// StatFile describes the file at path with d's StatFile when d has one,
// else with its Stat, a directory then reported as ErrPathNotFound too.
func StatFile(ctx context.Context, d Driver, path string) (FileInfo, error) {
	if f, ok := d.(FileStatter); ok {
		return f.StatFile(ctx, path)
	}
	fi, err := d.Stat(ctx, path)
	if err == nil && fi.IsDir {
		return FileInfo{}, PathNotFound(path)
	}
	return fi, err
}

// RangeExpecter is an optional capability of a file from Open or
// OpenSized whose reads are requests to a backend (S3). ExpectRange says
// that reads starting at start will stop at end (exclusive), as those of
// an HTTP range request do, so that the backend request asks for those
// bytes only and its connection can serve the next one. Reads past end
// still work, at the cost of another request.
type RangeExpecter interface {
	ExpectRange(start, end int64)
}

// Creator is an optional capability: a writer for content that one caller
// writes and commits (or cancels) in one go, never closed and resumed.
// Unlike Writer's, several may be open at one path at once without
// disturbing each other or a pending write there; each is invisible until
// its Commit, and the last Commit wins. Close without Commit discards what
// was written. It lets content whose final path is known before its first
// byte (a blob pushed in one request with its digest) be written there
// directly, instead of being written elsewhere and moved (a copy on S3). A
// wrapper (observed) may answer errors.ErrUnsupported when the driver it
// wraps lacks it.
type Creator interface {
	Create(ctx context.Context, path string) (FileWriter, error)
}

// StateKeeper is an optional capability of a FileWriter: a few bytes of
// the caller's (at most MaxState), recorded by Close together with the
// pending write, atomically with it, and given back by the writer that
// resumes it. The registry keeps an upload's hash state there, which
// saves storing it as a file of its own after every chunk.
type StateKeeper interface {
	// SetState asks that the next Close record b with the pending write.
	// It returns false, and nothing is recorded, when this writer cannot
	// (a wrapper over a writer without the capability).
	SetState(b []byte) bool
	// State is what the Close of the write this writer resumed recorded
	// with it, or nil.
	State() []byte
}

// MaxState is the most a StateKeeper records.
const MaxState = 512

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

// PendingStarter is an optional capability of a driver that keeps pending
// writes apart (a PendingPurger): StartPending makes an empty pending
// write at path, the one Writer(path, false) and Close would leave, for a
// fresh path: one that has no pending write and that nobody else writes
// (an upload's new random id). The filesystem driver creates the file,
// one call, where the Writer checks for an earlier write to discard and
// goes through a file of its own that Close renames. It answers an error
// that is fs.ErrExist when path has a pending write after all, and
// errors.ErrUnsupported when it cannot (a wrapper over a driver without
// it): the caller then takes the Writer.
type PendingStarter interface {
	StartPending(ctx context.Context, path string) error
}

// PendingActivity is an optional capability of a driver that keeps the
// pending write of a path where no path reaches (a PendingPurger): when
// the write at path was last active (its last Close, or a part uploaded
// since), so that a caller judging whether the write is idle (the upload
// purger) sees activity that leaves no file behind. ok is false when
// there is no pending write at path. A wrapper (observed) answers false
// for a driver without it.
type PendingActivity interface {
	PendingActivity(ctx context.Context, path string) (last time.Time, ok bool, err error)
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
