package main

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strings"
	"sync"

	"github.com/berth-registry/berth/internal/exepages"
	"github.com/berth-registry/berth/registry/config"
	"github.com/berth-registry/berth/registry/metrics"
)

// debugServer is the http.debug listener: Go's runtime profiles
// (goroutines, heap, CPU, execution traces) under /debug/pprof/, on an
// address of its own so that the API's listener never serves them, as in
// Distribution. The handlers go on a mux of this server's own: importing
// net/http/pprof also registers them on http.DefaultServeMux, which Berth
// never serves.
type debugServer struct {
	srv  *http.Server
	ln   net.Listener
	errc chan error
}

// startDebug listens on addr and serves the profiles, health at
// /debug/health where Distribution serves it, and m's metrics when prom is
// enabled, until close.
func startDebug(addr string, prom config.Prometheus, m *metrics.Metrics, logger *slog.Logger, health http.HandlerFunc) (*debugServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // and every named profile below it
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/health", health)
	if prom.Enabled && m != nil {
		mux.Handle(prom.MetricsPath(), m.Handler())
	}
	d := &debugServer{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: readHeaderTimeout,
			IdleTimeout:       idleTimeout,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		},
		ln:   ln,
		errc: make(chan error, 1),
	}
	go func() { d.errc <- d.srv.Serve(ln) }()
	return d, nil
}

// close stops the listener and its connections at once: a profile being
// taken is not worth delaying a shutdown for.
func (d *debugServer) close() {
	if d == nil {
		return
	}
	d.srv.Close()
	_ = <-d.errc // Serve's, after Close: http.ErrServerClosed
}

// note is the start-up line's mention of the listener.
func (d *debugServer) note(configured string) string {
	if d == nil {
		return ""
	}
	return ", debug listener on " + shownAddr(configured, d.ln)
}

// The runtime settings of registry serve, beside its debug listener: the
// heap profile, the collector's target and the start-up pages.

// releaseStartupPages drops the pages of the executable (and its shared
// libraries) that start-up mapped (exepages): package initialisation and
// the set-up above run once, and on Linux each page they touched mapped its
// 64 KiB neighbourhood, 5 to 6 MiB of the resident set that serving never
// uses again (an idle registry: 22.6 -> 13.4 MiB).
func releaseStartupPages(logger *slog.Logger) {
	if n, err := exepages.Release(); err != nil {
		logger.Debug("start-up pages of the executable not released", "err", err)
	} else if n > 0 {
		logger.Debug("start-up pages of the executable released", "mapped", n)
	}
}

// serveGCPercent is the Go collector's target for registry serve when the
// GOGC variable is not set: a collection when the heap has grown by about
// a third of what the last one found live, not by all of it. The
// registry's live heap is small (caches of a few MiB, buffers of the
// requests in flight), so collections stay cheap, and the peak heap, which
// at Go's default of 100 is twice the live one, shrinks by a third. At 35
// rather than 50 regbench's peak RSS fell by 1.5 MiB (31.8 to 30.3) with
// no loss on any workload against the ceiling of the same run (manifest
// GET 0.98 of it in both, range GETs 0.87 and 0.88). GOGC, when set, wins.
const serveGCPercent = 35

// serveGCMinHeap is the least heap target tuneGC lets the collector
// aim at: Go's own minimum at its default GOGC of 100. Go's minimum
// scales with GOGC, and at 35 it is 1.4 MiB: with a live heap of 1 MiB,
// as under regbench's range workload, a collection for every 0.4 MiB
// allocated, where at 2 MiB a collection a MiB already took about a
// tenth of the CPU of a 4 KiB range GET. Above a live heap of 3 MiB,
// serveGCPercent alone decides.
const serveGCMinHeap = 4 << 20

var gcTuned sync.Once

// tuneGC applies serveGCPercent unless GOGC is set, with serveGCMinHeap
// as the least target: after every collection it sets the percent that
// makes the next target max(live × 1.5, serveGCMinHeap), never above
// Go's default of 100 (whose own minimum is serveGCMinHeap).
func tuneGC() {
	if _, ok := os.LookupEnv("GOGC"); ok {
		return
	}
	gcTuned.Do(func() {
		live := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}}
		current := serveGCPercent
		debug.SetGCPercent(current)
		var adjust func()
		adjust = func() {
			rtmetrics.Read(live)
			p := serveGCPercent
			if v := live[0].Value; v.Kind() == rtmetrics.KindUint64 && v.Uint64() > 0 {
				p = gcPercentFor(v.Uint64())
			}
			if p != current {
				debug.SetGCPercent(p)
				current = p
			}
			afterNextGC(adjust)
		}
		afterNextGC(adjust)
	})
}

// gcPercentFor is the percent that makes the collector's next target
// max(live × (1 + serveGCPercent/100), serveGCMinHeap), within
// [serveGCPercent, 100]: at p <= 100 Go's target is max(live × (1 +
// p/100), serveGCMinHeap × p/100), so p = serveGCMinHeap/live - 1 gives
// serveGCMinHeap (a percent rounded up: a little above it).
func gcPercentFor(live uint64) int {
	if live >= serveGCMinHeap/2 {
		return max(int((serveGCMinHeap*100+live-1)/live)-100, serveGCPercent) // rounded up
	}
	return 100
}

// gcMark is an object whose finalizer runs after the collection that
// finds it unreachable. It holds a pointer, so that it is never one of
// the tiny allocations Go packs together (whose finalizers may not run).
type gcMark struct{ _ *int }

// afterNextGC runs f on the finalizer goroutine after the next
// collection.
func afterNextGC(f func()) {
	runtime.SetFinalizer(&gcMark{}, func(*gcMark) { f() })
}

// tuneProfiling turns the runtime's heap profile off when no debug
// listener (http.debug.addr) is configured, as nothing can read it then.
// Left on, every sampled allocation site keeps a record (its call stack and
// counts) for the life of the process, and their hash table's pages are
// touched at random: 2.3 MiB of the peak RSS of a catalog of 3,000
// repositories (regbench -workloads catalog -scale 0.3). GODEBUG's
// memprofilerate, when set, wins, as GOGC does in tuneGC.
func tuneProfiling(debugAddr string) {
	if debugAddr == "" && !strings.Contains(os.Getenv("GODEBUG"), "memprofilerate=") {
		runtime.MemProfileRate = 0
	}
}
