package main

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"

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
