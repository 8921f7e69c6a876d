package inmemory

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/berth-registry/berth/storagedriver"
)

// Writer opens a writer at p. With appendTo true it takes over the pending
// write at p (ErrPathNotFound when there is none); with false it discards that
// pending write and starts empty.
func (d *driver) Writer(ctx context.Context, p string, appendTo bool) (storagedriver.FileWriter, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	buf, ok := d.pending[p]
	if appendTo && !ok {
		return nil, fmt.Errorf("pending write %w", storagedriver.PathNotFound(p))
	}
	delete(d.pending, p)
	if !appendTo {
		buf = nil
	}
	w := &writer{d: d, path: p, buf: buf}
	d.open[w] = struct{}{}
	return w, nil
}

type writer struct {
	d    *driver
	path string
	buf  []byte
	// done is set by Commit, Cancel and Close; discarded by Delete (under
	// d.mu).
	done      bool
	discarded bool
}

func (w *writer) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("write to %s: %w", w.path, fs.ErrClosed)
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *writer) Size() int64 { return int64(len(w.buf)) }

// Close parks the buffer as the pending write at the path, replacing any
// parked meanwhile.
func (w *writer) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	if w.discarded {
		return nil
	}
	delete(w.d.open, w)
	if w.buf == nil {
		w.buf = []byte{}
	}
	w.d.pending[w.path] = w.buf
	w.buf = nil
	return nil
}

func (w *writer) Cancel(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.done {
		return fmt.Errorf("cancel %s: %w", w.path, fs.ErrClosed)
	}
	w.done = true
	w.buf = nil
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	delete(w.d.open, w)
	return nil
}

func (w *writer) Commit(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.done {
		return fmt.Errorf("commit %s: %w", w.path, fs.ErrClosed)
	}
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	if w.discarded {
		w.done = true
		return fmt.Errorf("write deleted before commit: %w", storagedriver.PathNotFound(w.path))
	}
	if w.buf == nil {
		w.buf = []byte{}
	}
	if err := w.d.put(w.path, w.buf); err != nil {
		return err
	}
	w.done = true
	w.buf = nil
	delete(w.d.open, w)
	return nil
}
