package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/registry"
)

var madeID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestRequestID: a usable X-Request-Id from the client is kept, anything
// else is replaced by a random one; either is echoed and is the detail of
// an error body.
func TestRequestID(t *testing.T) {
	app, _ := newApp(t)
	long := strings.Repeat("x", 128)
	tests := []struct {
		name string
		sent []string // X-Request-Id values sent
		keep bool
	}{
		{"none", nil, false},
		{"plain", []string{"abc-123"}, true},
		{"uuid", []string{"0b7b1c6e-2f6a-4c43-9a53-3b0f4f2b8f7e"}, true},
		{"punctuation", []string{"trace=1;span:2/3"}, true},
		{"at the length limit", []string{long}, true},
		{"too long", []string{long + "x"}, false},
		{"empty", []string{""}, false},
		{"space", []string{"a b"}, false},
		{"newline (forged log line)", []string{"a\nlevel=ERROR msg=forged"}, false},
		{"control character", []string{"a\x1b[31m"}, false},
		{"non-ASCII", []string{"café"}, false},
		{"two values", []string{"a", "b"}, false},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/v2/a/blobs/sha256:"+strings.Repeat("0", 64), nil)
			req.Header["X-Request-Id"] = tt.sent
			rec := httptest.NewRecorder()
			app.ServeHTTP(rec, req)
			got := rec.Header().Get("X-Request-Id")
			if tt.keep && got != tt.sent[0] {
				t.Errorf("X-Request-Id %q, want the client's %q", got, tt.sent[0])
			}
			if !tt.keep && !madeID.MatchString(got) {
				t.Errorf("X-Request-Id %q, want one made here (32 hex digits)", got)
			}
			if !tt.keep {
				if seen[got] {
					t.Errorf("made id %q twice", got)
				}
				seen[got] = true
			}
			var body struct {
				Errors []struct {
					Code   string
					Detail struct {
						RequestID string `json:"request_id"`
					}
				}
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Errors) != 1 {
				t.Fatalf("%d %s: want one error", rec.Code, rec.Body)
			}
			if e := body.Errors[0]; e.Code != "BLOB_UNKNOWN" || e.Detail.RequestID != got {
				t.Errorf("error %s, detail.request_id %q; want BLOB_UNKNOWN, %q", e.Code, e.Detail.RequestID, got)
			}
		})
	}
}

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines decodes every line logged so far.
func (l *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// find returns the lines whose request_id is id.
func find(lines []map[string]any, id string) []map[string]any {
	var out []map[string]any
	for _, m := range lines {
		if m["request_id"] == id {
			out = append(out, m)
		}
	}
	return out
}

// TestRequestLog: every line of a request, access log and error alike,
// carries its id, and the access log names the authenticated user, "-"
// for a caller that is not. A client that hangs up is logged at info
// level, a storage that times out at error level.
func TestRequestLog(t *testing.T) {
	logs := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	app := authApp(t, "rules:\n  - repositories: ['**']\n    users: [alice]\n    actions: [pull, push]\n", registry.WithLogger(logger))
	blob := "/v2/a/blobs/sha256:" + strings.Repeat("0", 64)

	do(t, app, "GET", "/v2/", nil, append(basicAuth("alice"), "X-Request-Id", "req-alice")...)
	do(t, app, "GET", "/v2/", nil, "X-Request-Id", "req-anonymous")

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(canceled, "GET", blob, nil)
	req.Header.Set("X-Request-Id", "req-hangup")
	req.SetBasicAuth("alice", "pw")
	app.ServeHTTP(httptest.NewRecorder(), req)

	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	req = httptest.NewRequestWithContext(expired, "GET", blob, nil)
	req.Header.Set("X-Request-Id", "req-timeout")
	req.SetBasicAuth("alice", "pw")
	app.ServeHTTP(httptest.NewRecorder(), req)

	lines := logs.lines(t)
	for _, tt := range []struct{ id, user string }{{"req-alice", "alice"}, {"req-anonymous", "-"}} {
		got := find(lines, tt.id)
		if len(got) != 1 || got[0]["msg"] != "request" || got[0]["user"] != tt.user {
			t.Errorf("lines of %s: %v; want one access-log line with user %q", tt.id, got, tt.user)
		}
	}
	for _, tt := range []struct{ id, level, msg string }{
		{"req-hangup", "INFO", "request canceled by the client"},
		{"req-timeout", "ERROR", "request failed"},
	} {
		got := find(lines, tt.id)
		if len(got) != 2 || got[0]["level"] != tt.level || got[0]["msg"] != tt.msg || got[1]["msg"] != "request" || got[1]["user"] != "alice" {
			t.Errorf("lines of %s: %v; want %s %q, then the access-log line naming alice", tt.id, got, tt.level, tt.msg)
		}
	}
}

// TestAccessLogDisabled: log.accesslog.disabled drops the line per
// request but not the error lines.
func TestAccessLogDisabled(t *testing.T) {
	logs := &logBuffer{}
	app, _ := newApp(t, registry.WithLogger(slog.New(slog.NewJSONHandler(logs, nil))), registry.WithAccessLog(false))
	do(t, app, "GET", "/v2/", nil)
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	app.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(expired, "GET", "/v2/a/tags/list", nil))
	lines := logs.lines(t)
	if len(lines) != 1 || lines[0]["msg"] != "request failed" {
		t.Errorf("log %v, want only the error line", lines)
	}
}
