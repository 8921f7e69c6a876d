package filesystem_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berth-registry/berth/storagedriver"
)

// TestWriterKeepsState proves the writer's storagedriver.StateKeeper: a
// state set before Close comes back to the writer that resumes the pending
// write, stays while later writers set none, is replaced by the next one
// set, is not offered to a writer that starts the path afresh, and is not
// left on the committed file. It is an extended attribute of the pending
// write's file, so no file of its own appears beside it.
func TestWriterKeepsState(t *testing.T) {
	root := t.TempDir()
	d := newDriver(t, root)
	ctx := t.Context()
	const p = "/up/1/data"
	step := func(state string, set string) {
		t.Helper()
		w, err := d.Writer(ctx, p, true)
		if err != nil {
			t.Fatal(err)
		}
		k := w.(storagedriver.StateKeeper)
		if got := string(k.State()); got != state {
			t.Fatalf("State() = %q, want %q", got, state)
		}
		if _, err := w.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if set != "" && !k.SetState([]byte(set)) {
			t.Fatal("SetState refused")
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	w, err := d.Writer(ctx, p, false)
	if err != nil {
		t.Fatal(err)
	}
	if k := w.(storagedriver.StateKeeper); k.State() != nil || !k.SetState([]byte("one")) {
		t.Fatalf("new writer: State() = %q, or SetState refused", k.State())
	}
	if k := w.(storagedriver.StateKeeper); k.SetState(bytes.Repeat([]byte("s"), storagedriver.MaxState+1)) {
		t.Error("SetState took more than MaxState bytes")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	step("one", "")
	step("one", "two")
	step("two", "")

	pending, err := filepath.Glob(filepath.Join(root, "+pending", "up", "1", "*"))
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending files %q (%v), want the data alone", pending, err)
	}

	w, err = d.Writer(ctx, p, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, storagedriver.MaxState)
	if _, err := unix.Getxattr(filepath.Join(root, "up", "1", "data"), "user.berth.state", buf); !errors.Is(err, unix.ENODATA) {
		t.Errorf("committed file's state attribute: %v, want ENODATA", err)
	}
	if got, err := d.GetContent(ctx, p); err != nil || string(got) != "xxx" {
		t.Errorf("content %q (%v), want xxx", got, err)
	}

	// A write started afresh has no state, even over a pending one that has.
	step2 := func(appendTo bool) storagedriver.FileWriter {
		w, err := d.Writer(ctx, "/up/2/data", appendTo)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	w = step2(false)
	w.(storagedriver.StateKeeper).SetState([]byte("old"))
	w.Close()
	w = step2(false)
	defer w.Close()
	if s := w.(storagedriver.StateKeeper).State(); s != nil {
		t.Errorf("fresh writer over a pending write: State() = %q, want nil", s)
	}
}
