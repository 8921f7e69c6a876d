package storage

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// TestGCLease: one node holds the lease; another cannot take it until it
// is released or expires (its node died).
func TestGCLease(t *testing.T) {
	ctx := context.Background()
	drv := inmemory.New()
	a, b := New(drv), New(drv)
	if ok, err := a.acquireLease(ctx, "a", time.Minute); !ok || err != nil {
		t.Fatalf("a: %v %v", ok, err)
	}
	if ok, err := b.acquireLease(ctx, "b", time.Minute); ok || err != nil {
		t.Fatalf("b took a held lease: %v %v", ok, err)
	}
	if ok, _ := a.acquireLease(ctx, "a", time.Minute); !ok {
		t.Fatal("a could not renew")
	}
	if err := a.releaseLease(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.acquireLease(ctx, "b", time.Minute); !ok {
		t.Fatal("b could not take a released lease")
	}
	// b dies: a minute later its lease has expired.
	a.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if ok, _ := a.acquireLease(ctx, "a", time.Minute); !ok {
		t.Fatal("a could not take an expired lease")
	}
}

// TestGCLoop: two nodes loop on one storage; runs happen, and the lease is
// released after each.
func TestGCLoop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	drv := inmemory.New()
	var runs atomic.Int32
	done := make(chan struct{}, 2)
	for _, node := range []string{"a", "b"} {
		go func() {
			New(drv).GCLoop(ctx, node, 20*time.Millisecond, GCOptions{}, func(r *GCReport, err error) {
				if err != nil {
					t.Errorf("run: %v", err)
				}
				runs.Add(1)
			})
			done <- struct{}{}
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runs.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	<-done
	if runs.Load() < 4 {
		t.Fatalf("%d runs in 5s", runs.Load())
	}
	if h, err := New(drv).leaseHolder(context.Background()); h != "" || err != nil {
		t.Errorf("lease still held by %q after the loops ended (%v)", h, err)
	}
}
