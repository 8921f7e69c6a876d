package main

import (
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"testing"
	"time"
)

// TestGCPercentFor: the percent tuneGC sets makes Go's next target
// max(live × 1.5, serveGCMinHeap), or up to 1% of the live heap more
// (the percent is rounded up).
func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, live := range []uint64{1, 100 << 10, 1 * mib, 2 * mib, 2*mib + 1, 5 * mib / 2, 8 * mib / 3, 3 * mib, 100 * mib} {
		p := gcPercentFor(live)
		if p < serveGCPercent || p > 100 {
			t.Fatalf("live %d: percent %d, outside [%d, 100]", live, p, serveGCPercent)
		}
		goal := max(live+live*uint64(p)/100, serveGCMinHeap*uint64(p)/100) // Go's, at p
		want := max(live+live*serveGCPercent/100, serveGCMinHeap)
		if goal < want || goal > want+live/100 {
			t.Errorf("live %d: percent %d, target %d, want %d", live, p, goal, want)
		}
	}
}

// TestTuneGC: after a collection, the collector's percent follows the
// live heap: serveGCPercent with 8 MiB live, 100 with little.
func TestTuneGC(t *testing.T) {
	if _, ok := os.LookupEnv("GOGC"); ok {
		t.Skip("GOGC is set: tuneGC leaves the collector alone")
	}
	tuneGC()
	gogc := []rtmetrics.Sample{{Name: "/gc/gogc:percent"}}
	waitFor := func(want uint64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; {
			runtime.GC()
			time.Sleep(time.Millisecond) // the finalizer goroutine's turn
			if rtmetrics.Read(gogc); gogc[0].Value.Uint64() == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("GOGC %d, want %d", gogc[0].Value.Uint64(), want)
			}
		}
	}
	live := make([]*[1 << 10]byte, 8<<10) // 8 MiB, in pieces that hold no pointer
	for i := range live {
		live[i] = new([1 << 10]byte)
	}
	waitFor(serveGCPercent)
	runtime.KeepAlive(live)
	live = nil
	waitFor(100)
}
