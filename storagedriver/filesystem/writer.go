package filesystem

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-registry/berth/storagedriver"
)

// Writer opens a writer at p. With appendTo true it takes over the pending
// write at p (ErrPathNotFound when there is none); with false it discards
// that pending write and starts empty. Content committed at p stays readable
// until Commit replaces it.
func (d *Driver) Writer(ctx context.Context, p string, appendTo bool) (storagedriver.FileWriter, error) {
	if err := storagedriver.CheckArgs(ctx, p); err != nil {
		return nil, err
	}
	pend := d.pendingPath(p)
	if appendTo {
		w, err := d.resume(p, pend)
		if err != nil {
			return nil, err // not a FileWriter holding a nil *writer
		}
		return w, nil
	}
	if fi, err := os.Lstat(pend); err == nil && !fi.IsDir() {
		if err := os.Remove(pend); err != nil && !notExist(err) {
			return nil, err
		}
	}
	dir := filepath.Dir(pend)
	var err error
	for range retries {
		var f *os.File
		var tmp string
		if err = os.MkdirAll(dir, 0o777); err == nil {
			f, tmp, err = createTemp(dir, sessionTemp)
		}
		if err == nil {
			return &writer{d: d, path: p, pend: pend, tmp: tmp, f: f}, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			break // not a race with a Cancel or Commit pruning the directories
		}
	}
	return nil, err
}

// resume claims the pending write at pend by renaming it to a name of its
// own, so that no other writer can continue it at the same time.
func (d *Driver) resume(p, pend string) (*writer, error) {
	notFound := fmt.Errorf("pending write %w", storagedriver.PathNotFound(p))
	if fi, err := os.Lstat(pend); err != nil || fi.IsDir() {
		if err == nil || notExist(err) {
			return nil, notFound
		}
		return nil, err
	}
	tmp := filepath.Join(filepath.Dir(pend), sessionTemp+randSuffix())
	if err := os.Rename(pend, tmp); err != nil {
		if notExist(err) {
			return nil, notFound
		}
		return nil, err
	}
	// The claimed write is active from now on: PurgePending, which goes by
	// modification time, must not take it for a write abandoned long ago
	// before its first Write.
	now := time.Now()
	if err := os.Chtimes(tmp, now, now); err != nil && notExist(err) {
		return nil, notFound
	}
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		if notExist(err) { // deleted as soon as claimed
			return nil, notFound
		}
		_ = os.Rename(tmp, pend) // give it back
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		_ = os.Rename(tmp, pend)
		return nil, err
	}
	return &writer{d: d, path: p, pend: pend, tmp: tmp, f: f, size: fi.Size()}, nil
}

type writer struct {
	d    *Driver
	path string // the storage path
	pend string // where the write is parked between sessions
	tmp  string // this session's file
	f    *os.File
	size int64
	done bool
}

func (w *writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("write to %s: %w", w.path, fs.ErrClosed)
	}
	n, err := w.f.Write(p)
	w.size += int64(n)
	return n, err
}

func (w *writer) Size() int64 { return w.size }

// Close parks the file as the pending write of the path, replacing any parked
// meanwhile. It does not fsync: only Commit makes content durable.
func (w *writer) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	err := w.f.Close()
	if err == nil {
		err = os.Rename(w.tmp, w.pend)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // discarded by a Delete meanwhile
		}
	}
	if err != nil {
		_ = os.Remove(w.tmp)
	}
	return err
}

func (w *writer) Cancel(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.done {
		return fmt.Errorf("cancel %s: %w", w.path, fs.ErrClosed)
	}
	w.done = true
	w.f.Close()
	if err := os.Remove(w.tmp); err != nil && !notExist(err) {
		return err
	}
	w.d.prune(filepath.Dir(w.tmp), w.d.pending)
	return nil
}

// Commit fsyncs the file, renames it to the path and fsyncs the directory.
// When the rename fails the writer stays open, so it can still be closed
// (kept pending) or cancelled.
func (w *writer) Commit(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.done {
		return fmt.Errorf("commit %s: %w", w.path, fs.ErrClosed)
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	dst := w.d.full(w.path)
	dir := filepath.Dir(dst)
	for i := 0; ; i++ {
		err := w.d.mkdirs(dir)
		if err == nil {
			err = os.Rename(w.tmp, dst)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || i == retries {
			return err
		}
		if _, serr := os.Lstat(w.tmp); notExist(serr) {
			w.done = true
			w.f.Close()
			w.d.prune(dir, w.d.root) // what mkdirs made for nothing
			return fmt.Errorf("write deleted before commit: %w", storagedriver.PathNotFound(w.path))
		}
	}
	w.done = true
	err := w.f.Close()
	w.d.prune(filepath.Dir(w.tmp), w.d.pending)
	if serr := syncDir(dir); err == nil {
		err = serr
	}
	return err
}
