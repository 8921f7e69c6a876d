package drivertest

import (
	"errors"
	"testing"
	"time"

	"github.com/berth-registry/berth/storagedriver"
)

var purgeTests = []test{
	{"PurgePendingTouchesOnlyPending", testPurgePending},
}

// testPurgePending: a cutoff in the past purges nothing; one in the future
// takes the parked write (a dry run only counts it), leaves committed
// content alone, and a second purge finds nothing.
func testPurgePending(t *testing.T, d storagedriver.Driver) {
	pp, ok := d.(storagedriver.PendingPurger)
	if !ok {
		t.Skip("driver does not implement PendingPurger")
	}
	ctx := t.Context()
	putString(t, d, "/a/put", "put")
	w := newWriter(t, d, "/a/committed", false)
	write(t, w, "committed")
	commit(t, w)
	w = newWriter(t, d, "/a/parked", false)
	write(t, w, "parked")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	resumable := func(want bool) {
		t.Helper()
		w, err := d.Writer(ctx, "/a/parked", true)
		switch {
		case want && err != nil:
			t.Fatalf("resuming the parked write: %v", err)
		case !want && !errors.Is(err, storagedriver.ErrPathNotFound):
			t.Fatalf("resuming the purged write: %v, want ErrPathNotFound", err)
		case err == nil:
			w.Close()
		}
	}
	purge := func(olderThan time.Time, dryRun bool, wantN int, wantBytes int64) {
		t.Helper()
		n, b, err := pp.PurgePending(ctx, olderThan, dryRun)
		if err != nil || n != wantN || b != wantBytes {
			t.Fatalf("PurgePending(%v, dryRun %v) = %d, %d, %v; want %d, %d", olderThan, dryRun, n, b, err, wantN, wantBytes)
		}
	}
	purge(time.Now().Add(-time.Hour), false, 0, 0)
	resumable(true)
	future := time.Now().Add(time.Minute)
	purge(future, true, 1, 6)
	resumable(true)
	purge(future, false, 1, 6)
	resumable(false)
	purge(future, false, 0, 0)
	wantContent(t, d, "/a/put", "put")
	wantContent(t, d, "/a/committed", "committed")
	wantList(t, d, "/a", "/a/committed", "/a/put")
}
