package notify

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type countObserver struct {
	nopObserver
	syncs, dropped atomic.Int64
	depth          atomic.Int64
}

func (c *countObserver) QueueSynced(int)                  { c.syncs.Add(1) }
func (c *countObserver) EventsDropped(_, _ string, n int) { c.dropped.Add(int64(n)) }
func (c *countObserver) QueueDepth(_ string, n int)       { c.depth.Store(int64(n)) }

// Concurrent Notify calls share fsyncs: those that arrive while a commit
// syncs are all written and synced by the next one.
func TestGroupCommit(t *testing.T) {
	obs := &countObserver{}
	dead := Endpoint{Name: "dead", URL: "http://127.0.0.1:1/", Backoff: time.Hour, Threshold: 1}
	q, err := Open(Options{Dir: t.TempDir(), Endpoints: []Endpoint{dead}, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	// Hold the committer inside its first commit.
	seg := q.segs[0]
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	q.commitHook = func() { once.Do(func() { close(held); <-release }) }
	first := make(chan error, 1)
	go func() { first <- q.Notify(t.Context(), Event{Action: ActionPush, Target: Target{Repository: "x"}}) }()
	<-held
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ev := Event{Action: ActionPush, Target: Target{Repository: "r", Tag: string(rune('a' + i%26))}}
			if err := q.Notify(t.Context(), ev); err != nil {
				t.Error(err)
			}
		})
	}
	for len(q.in) < n {
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if got := obs.syncs.Load(); got != 2 {
		t.Errorf("%d fsyncs for %d+1 events arriving together, want 2", got, n)
	}
	if seg.size == 0 {
		t.Error("nothing written")
	}
}

// Past MaxBytes, the oldest segments are dropped with their events,
// counted, and the directory stays within the bound plus one segment.
func TestQueueFull(t *testing.T) {
	obs := &countObserver{}
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer rc.Close()
	ep := Endpoint{Name: "down", URL: rc.URL, Backoff: time.Hour, Threshold: 1}
	dir := t.TempDir()
	const maxBytes = 32 << 10
	q, err := Open(Options{Dir: dir, MaxBytes: maxBytes, Endpoints: []Endpoint{ep}, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	for i := range n {
		ev := Event{Action: ActionPush, Target: Target{Repository: "r", URL: "http://registry.example/v2/r/manifests/x"}}
		ev.Target.Size = int64(i)
		if err := q.Notify(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	var size int64
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	for _, s := range segs {
		fi, _ := os.Stat(s)
		size += fi.Size()
	}
	if size > maxBytes+q.segBytes {
		t.Errorf("queue holds %d bytes, bound %d + a segment of %d", size, maxBytes, q.segBytes)
	}
	dropped, depth := obs.dropped.Load(), obs.depth.Load()
	if dropped == 0 || dropped+depth != n {
		t.Errorf("dropped %d, pending %d, want a sum of %d with drops", dropped, depth, n)
	}
	// What is left is the newest events, the oldest first.
	q.mu.Lock()
	refs := q.eps[0].repos["r"].refs
	q.mu.Unlock()
	if int64(len(refs)) != depth || refs[len(refs)-1].seq != n {
		t.Errorf("%d left, last %d; want %d, last %d", len(refs), refs[len(refs)-1].seq, depth, n)
	}
	q.Close()
}

// FuzzOpen replays a segment of arbitrary bytes: Open never fails or
// panics on its content, cuts it after its last whole frame, and queues
// only records whose CRC holds.
func FuzzOpen(f *testing.F) {
	rec := []byte(`{"repo":"r","endpoints":["e"],"event":{"id":"x"}}`)
	f.Add(appendFrame(nil, 1, rec))
	f.Add(appendFrame(appendFrame(nil, 1, rec), 2, []byte(`{"repo":`)))
	f.Add(append(appendFrame(nil, 7, rec), 0, 0, 0, 9, 1, 2))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(segmentPath(dir, 1), data, 0o600); err != nil {
			t.Fatal(err)
		}
		ep := Endpoint{Name: "e", URL: "http://127.0.0.1:1/", Backoff: time.Hour, Threshold: 1}
		q, err := Open(Options{Dir: dir, Endpoints: []Endpoint{ep}})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		q.mu.Lock()
		size, depth := q.segs[0].size, q.eps[0].depth
		q.mu.Unlock()
		q.Close()
		if fi, err := os.Stat(segmentPath(dir, 1)); err == nil && fi.Size() != size {
			t.Errorf("segment of %d bytes left, %d whole", fi.Size(), size)
		}
		if size > int64(len(data)) || (depth > 0 && size == 0) {
			t.Errorf("size %d of %d bytes, %d queued", size, len(data), depth)
		}
	})
}
