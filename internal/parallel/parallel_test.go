package parallel

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

func TestEachBoundsAndCompletes(t *testing.T) {
	var running, peak, done atomic.Int32
	items := make([]int, 50)
	err := Each(t.Context(), 3, items, func(ctx context.Context, _ int) error {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		defer running.Add(-1)
		done.Add(1)
		return nil
	})
	if err != nil || done.Load() != 50 || peak.Load() > 3 {
		t.Fatalf("err %v, done %d, peak %d; want nil, 50, <= 3", err, done.Load(), peak.Load())
	}
}

func TestEachFirstErrorCancels(t *testing.T) {
	boom := errors.New("boom")
	var started atomic.Int32
	items := make([]int, 100)
	err := Each(t.Context(), 1, items, func(ctx context.Context, i int) error {
		started.Add(1)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err %v, want boom", err)
	}
	if n := started.Load(); n > 2 {
		t.Errorf("%d items started after the first failed with one job at a time", n)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Each(ctx, 2, items, func(context.Context, int) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("with an ended ctx: %v, want context.Canceled", err)
	}
}
