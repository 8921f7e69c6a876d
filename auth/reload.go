package auth

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// maxFileSize bounds the htpasswd and policy files.
const maxFileSize = 16 << 20

// watchedFile is a configuration file parsed into a T, re-read when its
// modification time, size or inode change. Every use stats the file (a
// few microseconds), so an edit applies to the next request. When the new
// content cannot be read or parsed the previous value stays in force and
// the error is logged once per change.
type watchedFile[T any] struct {
	path  string
	parse func([]byte) (T, error)
	log   *slog.Logger

	mu  sync.Mutex // serialises reloads
	cur atomic.Pointer[loadedFile[T]]
}

type loadedFile[T any] struct {
	val   T
	stamp fileStamp
}

// fileStamp identifies one version of a file.
type fileStamp struct {
	mod   time.Time
	size  int64
	inode uint64
}

// watchFile reads and parses path once: an error here is a start-up error.
func watchFile[T any](path string, parse func([]byte) (T, error), log *slog.Logger) (*watchedFile[T], error) {
	w := &watchedFile[T]{path: path, parse: parse, log: log}
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

func (w *watchedFile[T]) read() (T, error) {
	var zero T
	f, err := os.Open(w.path)
	if err != nil {
		return zero, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return zero, fmt.Errorf("%s: %w", w.path, err)
	}
	if len(b) > maxFileSize {
		return zero, fmt.Errorf("%s: larger than %d bytes", w.path, maxFileSize)
	}
	v, err := w.parse(b)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", w.path, err)
	}
	return v, nil
}

// get returns the current value, reloading the file first if it changed.
func (w *watchedFile[T]) get() T {
	cur := w.cur.Load()
	st, err := stampOf(w.path)
	if err == nil && st == cur.stamp {
		return cur.val
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	cur = w.cur.Load()
	if err != nil {
		// Gone or unreadable: keep what we have, say so once.
		if cur.stamp != (fileStamp{}) {
			w.log.Error("cannot stat file; keeping its previous content", "path", w.path, "err", err)
			w.cur.Store(&loadedFile[T]{val: cur.val})
		}
		return cur.val
	}
	if st == cur.stamp {
		return cur.val
	}
	v, err := w.read()
	if err != nil {
		w.log.Error("cannot reload file; keeping its previous content", "path", w.path, "err", err)
		w.cur.Store(&loadedFile[T]{val: cur.val, stamp: st})
		return cur.val
	}
	w.log.Info("reloaded file", "path", w.path)
	w.cur.Store(&loadedFile[T]{val: v, stamp: st})
	return v
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	if !fi.Mode().IsRegular() {
		return fileStamp{}, fmt.Errorf("%s: not a regular file", path)
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size(), inode: inodeOf(fi)}, nil
}
