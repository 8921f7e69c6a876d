package storage

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/storagedriver/inmemory"
)

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
	if h, err := New(drv).gcLease().Holder(context.Background()); h != "" || err != nil {
		t.Errorf("lease still held by %q after the loops ended (%v)", h, err)
	}
}
