package observed_test

import (
	"errors"
	"runtime"
	"testing"

	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/inmemory"
	"github.com/berth-registry/berth/storagedriver/observed"
)

// TestStamp proves that the wrapper stamps through a driver that can,
// reported as a PutContent, and answers errors.ErrUnsupported, reporting
// nothing, over one that cannot.
func TestStamp(t *testing.T) {
	ctx := t.Context()
	c := &counter{}
	d := observed.Wrap(inmemory.New(), c).(storagedriver.Stamper)
	if _, err := d.Stamp(ctx, "/r"); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Stamp over inmemory: %v, want ErrUnsupported", err)
	}
	if len(c.ops) != 0 {
		t.Fatalf("reported: %v", c.ops)
	}
	if runtime.GOOS != "linux" {
		return
	}
	w := observed.Wrap(fsDriver(t), c)
	m, err := w.(storagedriver.Stamper).Stamp(ctx, "/gc/r")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := w.Stat(ctx, "/gc/r")
	if err != nil || !fi.ModTime.Equal(m) {
		t.Fatalf("Stat after Stamp: %v, %v; Stamp said %v", fi.ModTime, err, m)
	}
	if c.ops["filesystem put_content"] != 1 {
		t.Fatalf("reported: %v, want one put_content", c.ops)
	}
}

// TestStartPending proves that the wrapper starts a pending write through
// a driver that can, reported as a Writer, and answers
// errors.ErrUnsupported, reporting nothing, over one that cannot.
func TestStartPending(t *testing.T) {
	ctx := t.Context()
	c := &counter{}
	d := observed.Wrap(inmemory.New(), c).(storagedriver.PendingStarter)
	if err := d.StartPending(ctx, "/u/1"); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("StartPending over inmemory: %v, want ErrUnsupported", err)
	}
	if len(c.ops) != 0 {
		t.Fatalf("reported: %v", c.ops)
	}
	w := observed.Wrap(fsDriver(t), c)
	if err := w.(storagedriver.PendingStarter).StartPending(ctx, "/u/1"); err != nil {
		t.Fatal(err)
	}
	fw, err := w.Writer(ctx, "/u/1", true)
	if err != nil {
		t.Fatalf("resume the started write: %v", err)
	}
	fw.Close()
	if c.ops["filesystem writer"] != 2 {
		t.Fatalf("reported: %v, want two writer", c.ops)
	}
}
