package watchfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// MaxSize bounds a watched file.
const MaxSize = 16 << 20

// File is a configuration file parsed into a T, re-read when its
// modification time, size, inode, mode or owner change. Every use stats the file (a
// few microseconds), so an edit applies to the next request.
//
// When the new content does not parse, the previous value stays in force
// (an edit with a typo must not lock everyone out) and the error is logged
// once per change. When the file is gone, not a regular file or cannot be
// read, there is no value: Get fails until the file is back, and callers
// refuse everything (fail closed). Keeping the last content instead would
// leave every removed user logged in and every removed rule in force after
// an administrator deletes the file to shut access off.
type File[T any] struct {
	path string
	// unavailable says what callers do while the file cannot be read, for
	// the log ("every login is refused").
	unavailable string
	parse       func([]byte) (T, error)
	log         *slog.Logger

	mu  sync.Mutex // serialises reloads
	cur atomic.Pointer[loadedFile[T]]
	// static marks a File made by Static: no file behind it.
	static bool
}

// Static returns a File that always holds v and reads no file, for a value
// that comes from elsewhere (a test, or a section inline in config.yml).
func Static[T any](v T) *File[T] {
	w := &File[T]{static: true}
	w.cur.Store(&loadedFile[T]{val: v})
	return w
}

type loadedFile[T any] struct {
	val   T
	stamp fileStamp
	// err is set while the file cannot be read (val is then the zero
	// value), or when it came back with content that does not parse and
	// no earlier content may stand in.
	err error
}

// fileStamp identifies one version of a file. Mode and owner are in it
// because a chmod or chown changes whether the file can be read without
// touching its modification time.
type fileStamp struct {
	mod   time.Time
	size  int64
	inode uint64
	mode  fs.FileMode
	owner uint64
}

// errUnreadable marks the errors of reading a file (as opposed to parsing
// its content).
var errUnreadable = errors.New("cannot read the file")

// Open reads and parses path once: an error here is a start-up error.
func Open[T any](path, unavailable string, parse func([]byte) (T, error), log *slog.Logger) (*File[T], error) {
	w := &File[T]{path: path, unavailable: unavailable, parse: parse, log: log}
	st, err := stampOf(path)
	if err != nil {
		return nil, err
	}
	v, err := w.read()
	if err != nil {
		return nil, err
	}
	w.cur.Store(&loadedFile[T]{val: v, stamp: st})
	return w, nil
}

// read reads and parses the file; errors of reading wrap errUnreadable.
func (w *File[T]) read() (T, error) {
	var zero T
	f, err := os.Open(w.path)
	if err != nil {
		return zero, fmt.Errorf("%w: %w", errUnreadable, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return zero, fmt.Errorf("%w: %s: %w", errUnreadable, w.path, err)
	}
	if len(b) > MaxSize {
		return zero, fmt.Errorf("%s: larger than %d bytes", w.path, MaxSize)
	}
	v, err := w.parse(b)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", w.path, err)
	}
	return v, nil
}

// Get returns the current value, reloading the file first if it changed.
// It returns an error, and no value, while the file is missing, not a
// regular file or unreadable.
func (w *File[T]) Get() (T, error) {
	cur := w.cur.Load()
	if w.static {
		return cur.val, nil
	}
	st, err := stampOf(w.path)
	if err == nil && st == cur.stamp {
		return cur.val, cur.err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	cur = w.cur.Load()
	if err == nil && st == cur.stamp {
		return cur.val, cur.err
	}
	unreadable := err != nil // stat failed: gone, or not a regular file
	var v T
	if err == nil {
		v, err = w.read()
		unreadable = errors.Is(err, errUnreadable)
	}
	switch {
	case err == nil:
		if cur.err != nil {
			w.log.Warn("file is back; in force again", "path", w.path)
		} else {
			w.log.Info("reloaded file", "path", w.path)
		}
		w.cur.Store(&loadedFile[T]{val: v, stamp: st})
		return v, nil
	case unreadable:
		// No stamp: whether the file can be read may change with no change
		// to it (a parent directory's permissions, a transient I/O error),
		// so it is retried on every use.
		if cur.err == nil || cur.err.Error() != err.Error() {
			w.log.Error("cannot read file; "+w.unavailable+" until it is back", "path", w.path, "err", err)
		}
		var zero T
		w.cur.Store(&loadedFile[T]{val: zero, err: err})
		return zero, err
	case cur.err != nil:
		// Back but broken: nothing earlier may stand in.
		w.log.Error("file is back but does not parse; "+w.unavailable+" until it is fixed", "path", w.path, "err", err)
		w.cur.Store(&loadedFile[T]{val: cur.val, stamp: st, err: err})
		return cur.val, err
	default:
		w.log.Error("cannot reload file; keeping its previous content", "path", w.path, "err", err)
		w.cur.Store(&loadedFile[T]{val: cur.val, stamp: st})
		return cur.val, nil
	}
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	if !fi.Mode().IsRegular() {
		return fileStamp{}, fmt.Errorf("%s: not a regular file", path)
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size(), inode: inodeOf(fi), mode: fi.Mode(), owner: ownerOf(fi)}, nil
}
