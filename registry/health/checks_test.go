package health_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/registry/health"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// run polls c every interval until the test ends.
func run(t *testing.T, c *health.Poller, interval time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { c.Run(ctx, interval); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// healthy and unhealthy wait for c's verdict.
func healthy(t *testing.T, c health.Check) {
	t.Helper()
	waitFor(t, "healthy", func() bool { return c.Err() == nil })
}

func unhealthy(t *testing.T, c health.Check, want string) {
	t.Helper()
	waitFor(t, "unhealthy", func() bool { return c.Err() != nil })
	if err := c.Err(); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q, want it to contain %q", err, want)
	}
}

// TestFileCheck: unhealthy while the file exists, from the first probe
// that sees it (no threshold, as in Distribution), healthy once removed; a
// relative path is resolved as Distribution does.
func TestFileCheck(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	c := health.NewFileCheck("maintenance", discard)
	run(t, c, 5*time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	if err := c.Err(); err != nil {
		t.Fatalf("no file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "maintenance"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	unhealthy(t, c, filepath.Join(dir, "maintenance")+": file exists")
	if err := os.Remove(filepath.Join(dir, "maintenance")); err != nil {
		t.Fatal(err)
	}
	healthy(t, c)

	// A path that cannot be stat'ed fails the check too.
	if os.Geteuid() != 0 {
		locked := filepath.Join(dir, "locked")
		if err := os.Mkdir(locked, 0o000); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(locked, 0o755) })
		c := health.NewFileCheck(filepath.Join(locked, "x"), discard)
		run(t, c, 5*time.Millisecond)
		unhealthy(t, c, "permission denied")
	}
}

// TestHTTPCheck: a HEAD request with the configured headers must get the
// expected status; threshold failures in a row turn the check unhealthy
// and one success heals it. A server that hangs fails by the timeout.
func TestHTTPCheck(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusNoContent)
	var hang atomic.Bool
	var bad atomic.Int32 // requests without the right method or headers
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead || r.Header.Get("X-Probe") != "berth" || r.Host != "svc.internal" {
			bad.Add(1)
		}
		if hang.Load() {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()

	headers := http.Header{"X-Probe": {"berth"}, "Host": {"svc.internal"}}
	c := health.NewHTTPCheck(srv.URL+"/ping", headers, http.StatusNoContent, 200*time.Millisecond, 3, discard)
	run(t, c, 5*time.Millisecond)
	time.Sleep(30 * time.Millisecond)
	healthy(t, c)

	status.Store(http.StatusServiceUnavailable)
	unhealthy(t, c, "status 503, want 204")
	status.Store(http.StatusNoContent)
	healthy(t, c)

	hang.Store(true)
	unhealthy(t, c, "context deadline exceeded")
	hang.Store(false)
	healthy(t, c)
	if n := bad.Load(); n != 0 {
		t.Errorf("%d probes were not HEAD with the configured headers", n)
	}

	if got := health.RedactedURI("http://probe:secret@svc.internal/ping"); got != "http://probe:xxxxx@svc.internal/ping" {
		t.Errorf("RedactedURI = %q", got)
	}

	// statuscode 0 means 200.
	c200 := health.NewHTTPCheck(srv.URL, headers, 0, time.Second, 1, discard)
	run(t, c200, 5*time.Millisecond)
	unhealthy(t, c200, "status 204, want 200")
}

// TestHTTPCheckThreshold: failures fewer than the threshold leave the
// check healthy.
func TestHTTPCheckThreshold(t *testing.T) {
	var failures atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every other probe fails: never threshold (2) in a row.
		if failures.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	c := health.NewHTTPCheck(srv.URL, nil, 200, time.Second, 2, discard)
	run(t, c, 2*time.Millisecond)
	waitFor(t, "20 probes", func() bool { return failures.Load() >= 20 })
	if err := c.Err(); err != nil {
		t.Errorf("unhealthy with failures alternating under threshold 2: %v", err)
	}
}

// TestTCPCheck: a real listener closed turns the check unhealthy, reopened
// on the same port healthy again.
func TestTCPCheck(t *testing.T) {
	ln := testutil.AcceptAndClose(t, "127.0.0.1:0")
	addr := ln.Addr().String()
	c := health.NewTCPCheck(addr, time.Second, 2, discard)
	run(t, c, 5*time.Millisecond)
	time.Sleep(30 * time.Millisecond)
	healthy(t, c)

	ln.Close()
	unhealthy(t, c, "connection refused")
	testutil.AcceptAndClose(t, addr)
	healthy(t, c)
}
