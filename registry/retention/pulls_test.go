package retention_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/storagedriver/filesystem"
	"github.com/berth-registry/berth/storagedriver/observed"
)

// writes counts the storage operations that change something.
type writes struct{ n atomic.Int64 }

func (w *writes) StorageOp(_, op string, _ time.Duration, _ error) {
	switch op {
	case observed.OpPutContent, observed.OpWriter, observed.OpWriterCommit, observed.OpMove, observed.OpDelete:
		w.n.Add(1)
	}
}

// Pulls on two nodes reach the storage only when the nodes flush, merged
// by the latest time; "not pushed or pulled for 90d" then keeps what was
// pulled recently on either node.
func TestLastPulledTwoNodes(t *testing.T) {
	fs, err := filesystem.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w := &writes{}
	drv := observed.Wrap(fs, w)
	nodes, apps := startNodes(t, storage.DefaultGCGrace, drv, drv)
	a, b := nodes[0], nodes[1]
	s := newScenario(t)
	for _, tag := range []string{"app-w", "app-x", "app-y", "app-z"} {
		s.pushImage(a, "team/app", tag, nil, day(0))
	}
	// Warm up: the first pull of each image on each node relies on its
	// blobs (garbage collection's used records, at most one write per
	// blob per half grace); pulls after that write nothing.
	for _, n := range nodes {
		for _, tag := range []string{"app-w", "app-x", "app-y"} {
			s.pull(n, "team/app", tag, day(1))
		}
	}
	flush(t, apps)
	before := w.n.Load()
	for i := range 1000 {
		switch i % 4 {
		case 0:
			s.pull(a, "team/app", "app-x", day(150))
		case 1:
			s.pull(b, "team/app", "app-x", day(120))
		case 2:
			s.pull(a, "team/app", "app-y", day(100))
		case 3:
			s.pull(b, "team/app", "app-y", day(195))
		}
	}
	if got := w.n.Load() - before; got != 0 {
		t.Errorf("1000 pulls made %d storage writes, want 0", got)
	}
	store := storage.New(drv)
	x := s.tags["app-x"]
	if got, err := store.LastPulled(t.Context(), "team/app", x); err != nil || got != day(1) {
		t.Errorf("before the flush, LastPulled(app-x) = %v, %v; want day 1 (the warm-up's flush)", got, err)
	}
	before = w.n.Load()
	flush(t, apps)
	if got := w.n.Load() - before; got < 1 || got > 4 {
		t.Errorf("flushing two nodes' pulls of two manifests made %d writes, want 1 to 4", got)
	}
	for tag, want := range map[string]time.Time{"app-x": day(150), "app-y": day(195), "app-w": day(1), "app-z": {}} {
		if got, err := store.LastPulled(t.Context(), "team/app", s.tags[tag]); err != nil || !got.Equal(want) {
			t.Errorf("LastPulled(%s) = %v, %v; want %v", tag, got, err, want)
		}
	}
	// The flush loop of a node writes on its own too.
	ctx, stop := context.WithCancel(t.Context())
	loop := storage.New(drv, storage.WithClock(func() time.Time { return day(199) }))
	done := make(chan struct{})
	go func() { loop.FlushPullsEvery(ctx, 20*time.Millisecond, func(err error) { t.Error(err) }); close(done) }()
	loop.RecordPull("team/app", s.tags["app-w"])
	deadline := time.Now().Add(10 * time.Second)
	for got, _ := store.LastPulled(t.Context(), "team/app", s.tags["app-w"]); !got.Equal(day(199)); got, _ = store.LastPulled(t.Context(), "team/app", s.tags["app-w"]) {
		if time.Now().After(deadline) {
			t.Fatalf("the flush loop did not write app-w's pull: LastPulled = %v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done

	// app-w was pulled on day 199 now, app-x on day 150, app-y on day 195:
	// within 90 days of day 200. app-z was pushed on day 0 and never pulled.
	out, _ := run(t, drv, true)
	tags, _ := deletions(out)
	if !slices.Equal(tags, []string{"app-z"}) {
		t.Errorf("dry run deletes tags %v, want [app-z]:\n%s", tags, out)
	}
}
