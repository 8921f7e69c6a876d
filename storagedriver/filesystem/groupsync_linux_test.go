package filesystem

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testGroup is a group whose syncfs is f.
func testGroup(t *testing.T, f func(fd int) error) *group {
	g := newGroup(t.TempDir())
	if g == nil {
		t.Fatal("newGroup: nil")
	}
	t.Cleanup(func() { unix.Close(g.fd) })
	g.syncfs = f
	return g
}

// TestGroupSyncCoversEveryCaller has 64 goroutines each "write" (take a
// number from a clock) and then sync: every sync must return only after a
// syncfs that began after that write has ended, and the syncfs calls
// must be shared (fewer than the syncs).
func TestGroupSyncCoversEveryCaller(t *testing.T) {
	var clock, calls atomic.Int64
	var mu sync.Mutex
	var ended []int64 // the clock readings at which ended calls began
	g := testGroup(t, func(int) error {
		calls.Add(1)
		began := clock.Add(1)
		time.Sleep(200 * time.Microsecond)
		mu.Lock()
		ended = append(ended, began)
		mu.Unlock()
		return nil
	})
	const workers, each = 64, 20
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range workers {
		wg.Go(func() {
			for range each {
				wrote := clock.Add(1)
				if err := g.sync(); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				covered := false
				for _, b := range ended {
					covered = covered || b > wrote
				}
				mu.Unlock()
				if !covered {
					bad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := bad.Load(); n > 0 {
		t.Errorf("%d syncs returned before a syncfs begun after their write had ended", n)
	}
	n := calls.Load()
	t.Logf("%d syncs shared %d syncfs calls", workers*each, n)
	if n >= workers*each {
		t.Errorf("%d syncfs calls for %d syncs: none shared", n, workers*each)
	}
}

// TestGroupSyncError: a failed syncfs fails every sync that needed it,
// also one that wakes only after a later call succeeded (a write-back
// error is reported once); the syncs after it succeed again.
func TestGroupSyncError(t *testing.T) {
	var fail atomic.Bool
	release := make(chan struct{})
	inCall := make(chan struct{}, 1)
	g := testGroup(t, func(int) error {
		if fail.Load() {
			inCall <- struct{}{}
			<-release
			return syscall.EIO
		}
		return nil
	})
	fail.Store(true)
	errs := make(chan error, 2)
	go func() { errs <- g.sync() }()
	<-inCall // the failing call runs; the next sync needs a later one
	go func() { errs <- g.sync() }()
	time.Sleep(10 * time.Millisecond)
	fail.Store(false)
	close(release)
	for range 2 {
		if err := <-errs; !errors.Is(err, syscall.EIO) {
			t.Errorf("sync during a failed syncfs: %v, want EIO", err)
		}
	}
	if err := g.sync(); err != nil {
		t.Errorf("sync after the failure: %v", err)
	}
}

// TestGroupSlowTurnsOff: a syncfs slower than groupSlow turns group
// commit off for groupBackoff, doubled while the next are slow too, and
// a quick one resets the backoff.
func TestGroupSlowTurnsOff(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1e9, 0)
	var took time.Duration
	g := testGroup(t, func(int) error {
		mu.Lock()
		now = now.Add(took)
		mu.Unlock()
		return nil
	})
	g.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	advance := func(d time.Duration) {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
	}
	if g.use() != g {
		t.Fatal("off before any syncfs")
	}
	took = 2 * groupSlow
	for i, off := range []time.Duration{groupBackoff, 2 * groupBackoff, 4 * groupBackoff} {
		if err := g.sync(); err != nil {
			t.Fatal(err)
		}
		advance(off - time.Millisecond)
		if g.use() != nil {
			t.Fatalf("slow syncfs %d: on again before %v", i+1, off)
		}
		advance(time.Millisecond)
		if g.use() != g {
			t.Fatalf("slow syncfs %d: still off after %v", i+1, off)
		}
	}
	took = groupSlow / 2
	if err := g.sync(); err != nil {
		t.Fatal(err)
	}
	if g.use() != g {
		t.Fatal("off after a quick syncfs")
	}
	took = 2 * groupSlow
	if err := g.sync(); err != nil {
		t.Fatal(err)
	}
	advance(groupBackoff)
	if g.use() != g {
		t.Fatalf("a quick syncfs did not reset the backoff to %v", groupBackoff)
	}
	var nilGroup *group
	if nilGroup.use() != nil {
		t.Fatal("a nil group is on")
	}
}

// TestGroupCommitWrites drives the driver's durable writes (PutContent,
// a small writer's Commit and CommitTo, Move) with group commit on and
// off: the content is in place either way, and with it on they went
// through syncfs, two calls per write at most.
func TestGroupCommitWrites(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprintf("group=%v", on), func(t *testing.T) {
			ctx := context.Background()
			var calls atomic.Int64
			d := batchDriver(t, func(int) error { calls.Add(1); return nil })
			if !on {
				d.be.group.offUntil.Store(d.be.group.now().Add(time.Hour).UnixNano())
			}
			if err := d.PutContent(ctx, "/a/b/put", []byte("put")); err != nil {
				t.Fatal(err)
			}
			for _, to := range []string{"", "/a/c/moved-by-commitTo"} {
				w, err := d.Writer(ctx, "/a/b/written", false)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.Write([]byte("written")); err != nil {
					t.Fatal(err)
				}
				if to == "" {
					err = w.Commit(ctx)
				} else {
					err = w.(interface {
						CommitTo(context.Context, string) error
					}).CommitTo(ctx, to)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := d.Move(ctx, "/a/b/put", "/x/y/put"); err != nil {
				t.Fatal(err)
			}
			for p, want := range map[string]string{"/x/y/put": "put", "/a/b/written": "written", "/a/c/moved-by-commitTo": "written"} {
				if b, err := d.GetContent(ctx, p); err != nil || string(b) != want {
					t.Errorf("%s: %q, %v; want %q", p, b, err, want)
				}
			}
			n := calls.Load()
			switch {
			case on && (n < 4 || n > 7):
				t.Errorf("%d syncfs calls for 4 durable writes, want 4 to 7", n)
			case !on && n != 0:
				t.Errorf("%d syncfs calls with group commit off", n)
			}
		})
	}
}

// BenchmarkPutContentParallel writes new small files from 16 goroutines,
// each in a directory of its own, with group commit and without: the
// ratio of the two is what group commit saves a push storm's records and
// links.
func BenchmarkPutContentParallel(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("group=%v", on), func(b *testing.B) {
			d, err := New(filepath.Join(b.TempDir(), "root"))
			if err != nil {
				b.Fatal(err)
			}
			var calls, slow atomic.Int64
			if !on {
				d.be.group = nil
			} else {
				d.be.group.syncfs = func(fd int) error {
					t := time.Now()
					err := unix.Syncfs(fd)
					if time.Since(t) > groupSlow {
						slow.Add(1)
					}
					calls.Add(1)
					return err
				}
			}
			ctx := context.Background()
			var n atomic.Int64
			b.SetParallelism(8) // 16 on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					p := fmt.Sprintf("/r%02d/%d/link", i%16, i)
					if err := d.PutContent(ctx, p, []byte("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")); err != nil {
						b.Error(err)
						return
					}
				}
			})
			// Slow calls turned group commit off for a while (another
			// program's dirty data on the filesystem, say).
			b.ReportMetric(float64(calls.Load())/float64(b.N), "syncfs/op")
			b.ReportMetric(float64(slow.Load()), "slow-syncfs")
		})
	}
}
