package blobio

import (
	"io"
	"sync"
	"time"
)

// File is what Handles keeps open: content read at offsets, by any number
// of readers at once (an *os.File: pread).
type File interface {
	io.ReaderAt
	io.Closer
}

// Handles keeps files of immutable content open, by key, so that short
// reads of them (a 4 KiB range of a blob) do not each open, stat, seek
// and close a file. A handle serves the readers that ask for it within
// age of its opening, then leaves the set and is closed once its last
// reader is done; so is one that Forget drops. At most max are held;
// beyond that a file is opened for its one reader.
//
// What a handle reads is what the file held when it was opened: the
// caller keys it by something that names the content (a digest), and
// decides on its own, per read, whether the content may be read at all.
type Handles struct {
	max int
	age time.Duration

	mu   sync.Mutex
	held map[string]*handle
	gen  uint64 // advanced by every Forget
}

type handle struct {
	f     File
	refs  int  // readers, plus one while in the set
	gone  bool // out of the set
	timer *time.Timer
}

// NewHandles returns a set of at most max handles, each used for age
// after its opening.
func NewHandles(max int, age time.Duration) *Handles {
	return &Handles{max: max, age: age, held: map[string]*handle{}}
}

// Reader returns a reader of the first size bytes of the file under key:
// through the held handle, else through a handle of the file open opens
// (kept for the next readers when there is room). What open returns that
// is no File is returned as it is, to its one reader. Close the reader
// when done.
func (h *Handles) Reader(key string, size int64, open func() (io.ReadSeekCloser, error)) (io.ReadSeekCloser, error) {
	h.mu.Lock()
	if e, ok := h.held[key]; ok {
		e.refs++
		h.mu.Unlock()
		return h.reader(e, size), nil
	}
	gen := h.gen
	h.mu.Unlock()
	rc, err := open()
	if err != nil {
		return nil, err
	}
	f, ok := rc.(File)
	if !ok {
		return rc, nil
	}
	e := &handle{f: f, refs: 1, gone: true}
	h.mu.Lock()
	defer h.mu.Unlock()
	// A Forget since the lookup may have been about this file: its handle
	// serves its one reader only.
	if _, taken := h.held[key]; !taken && h.gen == gen && len(h.held) < h.max {
		e.refs, e.gone = 2, false
		h.held[key] = e
		e.timer = time.AfterFunc(h.age, func() { h.drop(key, e) })
	}
	return h.reader(e, size), nil
}

// Forget drops the handle of key: the next reader opens the file again.
// Call it after the file was deleted or replaced.
func (h *Handles) Forget(key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen++
	if e, ok := h.held[key]; ok {
		h.dropLocked(key, e)
	}
}

// Len returns how many handles are held.
func (h *Handles) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.held)
}

func (h *Handles) drop(key string, e *handle) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropLocked(key, e)
}

// dropLocked takes e out of the set (if it is still key's) and releases
// the set's reference.
func (h *Handles) dropLocked(key string, e *handle) {
	if e.gone || h.held[key] != e {
		return
	}
	e.gone = true
	e.timer.Stop()
	delete(h.held, key)
	h.releaseLocked(e)
}

func (h *Handles) releaseLocked(e *handle) {
	if e.refs--; e.refs == 0 {
		_ = e.f.Close() // read only: nothing to lose
	}
}

func (h *Handles) reader(e *handle, size int64) io.ReadSeekCloser {
	return &handleReader{SectionReader: io.NewSectionReader(e.f, 0, size), h: h, e: e}
}

// handleReader reads a handle's file at offsets of its own and gives the
// handle back on Close.
type handleReader struct {
	*io.SectionReader
	h    *Handles
	e    *handle
	once sync.Once
}

func (r *handleReader) Close() error {
	r.once.Do(func() {
		r.h.mu.Lock()
		defer r.h.mu.Unlock()
		r.h.releaseLocked(r.e)
	})
	return nil
}
