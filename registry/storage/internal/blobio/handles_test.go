package blobio

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// opener opens one file and counts its opens.
type opener struct {
	path  string
	mu    sync.Mutex
	opens int
	files []*os.File
}

func (o *opener) open() (io.ReadSeekCloser, error) {
	f, err := os.Open(o.path)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.opens++
	o.files = append(o.files, f)
	return f, nil
}

// closed reports whether the i-th file opened was closed (a read of a
// closed *os.File fails with os.ErrClosed).
func (o *opener) closed(i int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, err := o.files[i].ReadAt(make([]byte, 1), 0)
	return errors.Is(err, os.ErrClosed)
}

func newOpener(t *testing.T, content string) *opener {
	p := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return &opener{path: p}
}

func readAll(t *testing.T, r io.ReadSeekCloser, off int64) string {
	t.Helper()
	if _, err := r.Seek(off, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Readers of one key share one open file, each at its own offset; the
// file is closed after Forget once its last reader is done, and the
// next reader opens it again.
func TestHandlesShareAndForget(t *testing.T) {
	o := newOpener(t, "0123456789")
	h := NewHandles(4, time.Hour)
	r1, err := h.Reader("k", 10, o.open)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := h.Reader("k", 10, o.open)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, r1, 7); got != "789" {
		t.Errorf("first reader from 7: %q", got)
	}
	if got := readAll(t, r2, 2); got != "23456789" {
		t.Errorf("second reader from 2: %q", got)
	}
	if o.opens != 1 || h.Len() != 1 {
		t.Fatalf("%d opens, %d held; want 1 and 1", o.opens, h.Len())
	}
	r1.Close()
	r1.Close() // twice: gives back once
	h.Forget("k")
	if h.Len() != 0 || o.closed(0) {
		t.Fatalf("after Forget with a reader left: %d held, closed %v; want 0, open", h.Len(), o.closed(0))
	}
	if got := readAll(t, r2, 0); got != "0123456789" {
		t.Errorf("the reader left, after Forget: %q", got)
	}
	r2.Close()
	if !o.closed(0) {
		t.Fatal("the forgotten file is still open after its last reader")
	}
	r3, err := h.Reader("k", 4, o.open) // a size shorter than the file
	if err != nil {
		t.Fatal(err)
	}
	defer r3.Close()
	if got := readAll(t, r3, 0); got != "0123" || o.opens != 2 {
		t.Fatalf("after Forget: %q in %d opens, want \"0123\" in 2", got, o.opens)
	}
}

// A handle serves for its age, then is closed; at most max are held, and
// a reader beyond that gets a file of its own, closed with it.
func TestHandlesAgeAndBound(t *testing.T) {
	o := newOpener(t, "abc")
	h := NewHandles(1, 50*time.Millisecond)
	r, err := h.Reader("k", 3, o.open)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	other, err := h.Reader("other", 3, o.open)
	if err != nil {
		t.Fatal(err)
	}
	if h.Len() != 1 || o.opens != 2 {
		t.Fatalf("%d held after %d opens, want 1 after 2", h.Len(), o.opens)
	}
	other.Close()
	if !o.closed(1) {
		t.Error("the file opened beyond the bound is open after its reader closed")
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.Len() != 0 || !o.closed(0) {
		if time.Now().After(deadline) {
			t.Fatalf("a handle past its age: %d held, closed %v", h.Len(), o.closed(0))
		}
		time.Sleep(10 * time.Millisecond)
	}
	r, err = h.Reader("k", 3, o.open)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if o.opens != 3 {
		t.Fatalf("%d opens, want 3: a handle past its age is opened again", o.opens)
	}
}

// What open returns that cannot be read at offsets is handed to its one
// reader as it is; a failed open is the caller's error.
func TestHandlesOtherReaders(t *testing.T) {
	h := NewHandles(4, time.Hour)
	plain := struct {
		io.ReadSeeker
		io.Closer
	}{strings.NewReader("x"), io.NopCloser(nil)}
	r, err := h.Reader("k", 1, func() (io.ReadSeekCloser, error) { return plain, nil })
	if err != nil || r != io.ReadSeekCloser(plain) || h.Len() != 0 {
		t.Fatalf("a reader without ReadAt: %v, %v, %d held", r, err, h.Len())
	}
	boom := errors.New("boom")
	if _, err := h.Reader("k", 1, func() (io.ReadSeekCloser, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("a failed open: %v", err)
	}
}
