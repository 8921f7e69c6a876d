package filesystem_test

import (
	"errors"
	"testing"

	"github.com/berth-registry/berth/internal/testutil/drivertest"
	"github.com/berth-registry/berth/storagedriver"
)

// TestPendingWritesNested: the registry keeps an upload's data as the
// pending write of _uploads/<id>, where an earlier version kept it as that
// of _uploads/<id>/data, and the hash states of either as committed files
// below _uploads/<id>/. So a pending write of a path may meet pending
// writes below it (a directory in +pending) or stand above a path that is
// deleted: the directory is no pending write of the path, a file above
// holds none of the path's, and deleting the path discards the pending
// writes at it and below it, whichever kind.
func TestPendingWritesNested(t *testing.T) {
	d := newDriver(t, t.TempDir())
	ctx := t.Context()
	drivertest.Park(t, d, "/u/legacy/data", []byte("below"))
	if _, err := d.Writer(ctx, "/u/legacy", true); !errors.Is(err, storagedriver.ErrPathNotFound) {
		t.Errorf("resuming a path with pending writes below it: %v, want ErrPathNotFound", err)
	}
	if n := pendingSize(t, d, "/u/legacy/data"); n != 5 {
		t.Errorf("the pending write below: %d bytes, want 5", n)
	}

	drivertest.Park(t, d, "/u/new", []byte("pending"))
	if err := d.PutContent(ctx, "/u/new/hashstates/10", []byte("state")); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, "/u/new/hashstates/10"); err != nil {
		t.Errorf("deleting a path below a pending write: %v", err)
	}
	if n := pendingSize(t, d, "/u/new"); n != 7 {
		t.Errorf("the pending write above the deleted path: %d bytes, want 7", n)
	}
	for _, p := range []string{"/u/legacy", "/u/new"} {
		if err := d.Delete(ctx, p); !errors.Is(err, storagedriver.ErrPathNotFound) {
			t.Errorf("delete %s: %v, want ErrPathNotFound (nothing committed)", p, err)
		}
	}
	for _, p := range []string{"/u/legacy/data", "/u/new"} {
		if _, err := d.Writer(ctx, p, true); !errors.Is(err, storagedriver.ErrPathNotFound) {
			t.Errorf("%s after the delete: %v, want ErrPathNotFound", p, err)
		}
	}
}

// pendingSize resumes the pending write of p, and parks it again as it was:
// its size.
func pendingSize(t *testing.T, d storagedriver.Driver, p string) int64 {
	t.Helper()
	w, err := d.Writer(t.Context(), p, true)
	if err != nil {
		t.Fatalf("resume %s: %v", p, err)
	}
	defer w.Close()
	return w.Size()
}
