package health_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-registry/berth/registry/health"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// waitFor polls cond until it holds; the deadline only guards against a
// hang, it asserts no timing.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after 20s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// get answers req from h and decodes its JSON body into v.
func get(t *testing.T, h http.HandlerFunc, method string, v any) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest(method, "/", nil))
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if v != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("body %q: %v", rec.Body, err)
		}
	}
	return rec.Code
}

// TestStorageCheckFilesystem: a filesystem whose root is replaced by a
// file fails the check, which turns unhealthy only after threshold probes
// in a row, and healthy again when the directory is back; /readyz and
// /debug/health follow it.
func TestStorageCheckFilesystem(t *testing.T) {
	for _, readOnly := range []bool{false, true} {
		name := "writable"
		if readOnly {
			name = "read-only"
		}
		t.Run(name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "data")
			drv, err := filesystem.New(root)
			if err != nil {
				t.Fatal(err)
			}
			check := health.NewStorageCheck(drv, "Node 1.example", 3, readOnly, slog.New(slog.NewTextHandler(io.Discard, nil)))
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { check.Run(ctx, 5*time.Millisecond); close(done) }()
			defer func() { cancel(); <-done }()
			ready := health.Checks{"storage": check}
			debug := health.Checks{"storagedriver_filesystem": check}

			var body map[string]any
			if code := get(t, ready.Ready, "GET", &body); code != http.StatusOK || body["status"] != "ready" {
				t.Errorf("/readyz healthy: %d %v", code, body)
			}
			probe := filepath.Join(root, "berth", "v1", "health", "node-1-example")
			if !readOnly {
				waitFor(t, "written "+probe, func() bool { _, err := os.Stat(probe); return err == nil })
			}

			moved := root + ".away"
			if err := os.Rename(root, moved); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(root, []byte("not a directory"), 0o644); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "unhealthy", func() bool { return check.Err() != nil })
			body = nil
			if code := get(t, ready.Ready, "GET", &body); code != http.StatusServiceUnavailable ||
				body["status"] != "unavailable" || body["checks"].(map[string]any)["storage"] != "failing" {
				t.Errorf("/readyz unhealthy: %d %v", code, body)
			}
			var status map[string]string
			if code := get(t, debug.Status, "GET", &status); code != http.StatusServiceUnavailable ||
				len(status) != 1 || status["storagedriver_filesystem"] != check.Err().Error() {
				t.Errorf("/debug/health unhealthy: %d %v", code, status)
			}

			if err := os.Remove(root); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(moved, root); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "healthy again", func() bool { return check.Err() == nil })
			status = nil
			if code := get(t, debug.Status, "GET", &status); code != http.StatusOK || len(status) != 0 {
				t.Errorf("/debug/health healthy: %d %v", code, status)
			}
			if _, err := os.Stat(probe); readOnly && err == nil {
				t.Errorf("read-only check wrote %s", probe)
			}
		})
	}
}

// failing is a check that always fails.
type failing struct{}

func (failing) Err() error { return os.ErrPermission }

// passing is a check that passes.
type passing struct{}

func (passing) Err() error { return nil }

// TestStatusShape pins Distribution's /debug/health answer: a JSON object
// of failing checks, 200 when empty, 503 otherwise; only GET (and HEAD).
func TestStatusShape(t *testing.T) {
	tests := []struct {
		name   string
		checks health.Checks
		method string
		code   int
		body   string
	}{
		{"no checks", health.Checks{}, "GET", 200, "{}"},
		{"passing", health.Checks{"a": passing{}}, "GET", 200, "{}"},
		{"one failing", health.Checks{"a": passing{}, "b": failing{}}, "GET", 503, `{"b":"permission denied"}`},
		{"HEAD", health.Checks{"b": failing{}}, "HEAD", 503, ""},
		{"POST", health.Checks{}, "POST", 404, "404 page not found\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.checks.Status(rec, httptest.NewRequest(tt.method, "/debug/health", nil))
			if rec.Code != tt.code || rec.Body.String() != tt.body {
				t.Errorf("%d %q, want %d %q", rec.Code, rec.Body, tt.code, tt.body)
			}
		})
	}
}

// TestThreshold: the check stays healthy until threshold probes in a row
// fail; one success resets the count.
func TestThreshold(t *testing.T) {
	root := filepath.Join(t.TempDir(), "data")
	drv, err := filesystem.New(root)
	if err != nil {
		t.Fatal(err)
	}
	check := health.NewStorageCheck(drv, "n", 1000000, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { check.Run(ctx, time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()
	if err := os.Rename(root, root+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(root, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // tens of failed probes, far below the threshold
	if err := check.Err(); err != nil {
		t.Errorf("unhealthy below the threshold: %v", err)
	}
}
