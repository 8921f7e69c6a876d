//go:build unix

package filesystem

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// TestResumeWaitsForABorrowedLock: a process forked while a writer had its
// pending write open keeps a copy of the descriptor, and with it the flock,
// until it execs. A resume in that moment must wait for the lock, not
// report the upload gone (the conformance suite saw a PATCH answered 202
// and the PUT after it 404 BLOB_UPLOAD_UNKNOWN while tests forked clients).
func TestResumeWaitsForABorrowedLock(t *testing.T) {
	d, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	w, err := d.Writer(ctx, "/up/1/data", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("chunk")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	// The "forked child": another open file description holding the lock
	// for a moment.
	f, err := os.OpenFile(d.be.pendingPath("/up/1/data"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		f.Close()
	}()

	w, err = d.Writer(ctx, "/up/1/data", true)
	if err != nil {
		t.Fatalf("Writer(append) while a forked copy briefly holds the lock: %v, want the pending write", err)
	}
	defer w.Close()
	if w.Size() != 5 {
		t.Errorf("resumed at %d, want 5", w.Size())
	}
}
