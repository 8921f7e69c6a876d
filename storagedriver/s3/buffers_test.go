package s3_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/berth-registry/berth/storagedriver/s3"
)

// TestPartsWithoutBackgroundSlot proves the writer's fallback when every
// background upload slot of the driver is taken by other writers: it
// uploads each part itself and fills the same buffer again, and the
// committed object is exactly the bytes written, neither blocking nor
// mixing parts up.
func TestPartsWithoutBackgroundSlot(t *testing.T) {
	_, _, ds := nodes(t, 1)
	d, ctx := ds[0], t.Context()
	release := s3.TakeBackgroundSlots(d, s3.PartBuffers)
	defer release()
	want := noise(7, 3*s3.MinChunkSize+4321)
	w, err := d.Writer(ctx, "/sync/data", false)
	if err != nil {
		t.Fatal(err)
	}
	for b := want; len(b) > 0; {
		n := min(len(b), 100<<10)
		if _, err := w.Write(b[:n]); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if got := read(t, d, "/sync/data"); !bytes.Equal(got, want) {
		t.Fatalf("committed %d bytes, not the %d written", len(got), len(want))
	}
}

// TestConcurrentWritersShareSlots runs more concurrent multi-part writers
// than the driver has background slots, so that some parts go in the
// background and others are uploaded by their writer, and checks every
// object.
func TestConcurrentWritersShareSlots(t *testing.T) {
	_, _, ds := nodes(t, 1)
	d, ctx := ds[0], t.Context()
	const writers = 2*s3.PartBuffers + 1
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			p := fmt.Sprintf("/many/%d", i)
			w, err := d.Writer(ctx, p, false)
			if err != nil {
				errs <- err
				return
			}
			if _, err := w.Write(noise(uint64(100+i), 2*s3.MinChunkSize+i)); err != nil {
				errs <- err
				return
			}
			errs <- w.Commit(ctx)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range writers {
		if got := read(t, d, fmt.Sprintf("/many/%d", i)); !bytes.Equal(got, noise(uint64(100+i), 2*s3.MinChunkSize+i)) {
			t.Errorf("writer %d: committed %d bytes, not the ones written", i, len(got))
		}
	}
}
