package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testutil"
)

// TestServeHealthChecks: Distribution's health.file, health.http and
// health.tcp checks, each against the real thing (a file created and
// removed, an HTTP server whose status flips, a TCP listener closed and
// reopened on its port), turn /readyz and /debug/health to 503 within
// interval × threshold (plus the probe's time) and back to 200.
func TestServeHealthChecks(t *testing.T) {
	dir := t.TempDir()
	maintenance := filepath.Join(dir, "maintenance")

	var status atomic.Int32
	status.Store(http.StatusOK)
	dep := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead || r.Header.Get("Authorization") != "Bearer probe" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer dep.Close()

	ln := testutil.AcceptAndClose(t, "127.0.0.1:0")
	tcpAddr := ln.Addr().String()

	const interval, threshold = 200 * time.Millisecond, 2
	cfg := writeFile(t, dir, "config.yml", fmt.Sprintf(`version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: 127.0.0.1:0
  draintimeout: 0s
  debug:
    addr: 127.0.0.1:0
health:
  file:
    - file: %s
      interval: %s
  http:
    - uri: %s/ping
      headers:
        Authorization: [Bearer probe]
      statuscode: 200
      timeout: 1s
      interval: %s
      threshold: %d
  tcp:
    - addr: %s
      timeout: 1s
      interval: %s
      threshold: %d
`, filepath.Join(dir, "data"), maintenance, interval, dep.URL, interval, threshold, tcpAddr, interval, threshold))
	s := startServe(t, []string{"serve", cfg}, nil)
	api, debug := "http://"+s.addr, "http://"+debugAddr(t, s.line)
	waitStatus(t, api+"/readyz", http.StatusOK)
	if a := getJSON(t, debug+"/debug/health"); a.code != http.StatusOK || len(a.body) != 0 {
		t.Fatalf("/debug/health while healthy: %d %v", a.code, a.body)
	}

	for _, tc := range []struct {
		key, name, err string
		threshold      int // 1: the file check has none
		down, up       func()
	}{
		{"health.file[0]", maintenance, "file exists", 1,
			func() { writeFile(t, dir, "maintenance", "") },
			func() {
				if err := os.Remove(maintenance); err != nil {
					t.Fatal(err)
				}
			}},
		{"health.http[0]", dep.URL + "/ping", "status 503, want 200", threshold,
			func() { status.Store(http.StatusServiceUnavailable) },
			func() { status.Store(http.StatusOK) }},
		{"health.tcp[0]", tcpAddr, "connection refused", threshold,
			func() { ln.Close() },
			func() { ln = testutil.AcceptAndClose(t, tcpAddr) }},
	} {
		t.Run(tc.key, func(t *testing.T) {
			start := time.Now()
			tc.down()
			a := waitStatus(t, api+"/readyz", http.StatusServiceUnavailable)
			took := time.Since(start)
			// interval × threshold, one probe's time, and the 50ms of
			// waitStatus's polling; the slack is for a loaded machine.
			bound := interval*time.Duration(tc.threshold) + time.Second
			t.Logf("/readyz 503 %v after going down (interval %v, threshold %d)", took.Round(time.Millisecond), interval, tc.threshold)
			if took > bound {
				t.Errorf("/readyz took %v to turn 503, want at most %v", took, bound)
			}
			if checks, _ := a.body["checks"].(map[string]any); len(checks) != 1 || checks[tc.key] != "failing" {
				t.Errorf("/readyz while down: %v, want only %s failing", a.body, tc.key)
			}
			d := waitStatus(t, debug+"/debug/health", http.StatusServiceUnavailable)
			if msg, _ := d.body[tc.name].(string); len(d.body) != 1 || !strings.Contains(msg, tc.err) {
				t.Errorf("/debug/health while down: %v, want %q with %q", d.body, tc.name, tc.err)
			}
			if code := get(t, http.DefaultClient, api+"/v2/"); code != http.StatusOK {
				t.Errorf("/v2/ while down: %d", code)
			}
			start = time.Now()
			tc.up()
			waitStatus(t, api+"/readyz", http.StatusOK)
			t.Logf("/readyz 200 %v after coming back", time.Since(start).Round(time.Millisecond))
			waitStatus(t, debug+"/debug/health", http.StatusOK)
		})
	}
	if code := s.stop(); code != exitOK {
		t.Errorf("exit code %d; stderr: %s", code, s.stderr)
	}
}
