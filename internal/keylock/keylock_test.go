package keylock

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLockExcludes: holders of one key never overlap, other keys do not
// wait for it, and once everyone is done no entry is left.
func TestLockExcludes(t *testing.T) {
	var k Map
	var inside, most atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			unlock, err := k.Lock(context.Background(), "a")
			if err != nil {
				t.Error(err)
				return
			}
			if n := inside.Add(1); n > most.Load() {
				most.Store(n)
			}
			time.Sleep(100 * time.Microsecond)
			inside.Add(-1)
			unlock()
		})
	}
	unlockA, err := k.Lock(context.Background(), "b")
	if err != nil {
		t.Fatal(err)
	}
	unlockA()
	wg.Wait()
	if most.Load() != 1 {
		t.Errorf("%d holders of one key at once, want 1", most.Load())
	}
	if n := k.Len(); n != 0 {
		t.Errorf("%d entries left after every unlock, want 0", n)
	}
}

// TestLockContext: a waiter whose context ends gives up with its error and
// leaves no entry behind once the holder unlocks.
func TestLockContext(t *testing.T) {
	var k Map
	unlock, err := k.Lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := k.Lock(ctx, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock of a held key with an ending context: %v, want DeadlineExceeded", err)
	}
	unlock()
	if n := k.Len(); n != 0 {
		t.Errorf("%d entries left, want 0", n)
	}
	again, err := k.Lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	again()
}
