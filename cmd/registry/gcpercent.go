package main

import (
	"os"
	"runtime/debug"
)

// serveGCPercent is the Go collector's target for registry serve when the
// GOGC variable is not set: a collection when the heap has grown by half
// of what the last one found live, not by all of it. The registry's live
// heap is small (caches of a few MiB, buffers of the requests in flight),
// so collections stay cheap, and the peak heap, which at Go's default of
// 100 is twice the live one, shrinks by a quarter. GOGC, when set, wins.
const serveGCPercent = 50

// tuneGC applies serveGCPercent unless GOGC is set.
func tuneGC() {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(serveGCPercent)
	}
}
