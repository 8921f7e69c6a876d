package hostagent_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/hostagent"
	"github.com/berth-registry/berth/internal/testutil/hatest"
	"github.com/berth-registry/berth/registry/client"
)

// TestSyncDaemon: an interval rule runs at start and again on schedule
// (picking up a new tag), a reload adds a rule (run once: it has no
// schedule), and a drain lets the copy in flight finish before Run
// returns.
func TestSyncDaemon(t *testing.T) {
	ctx := t.Context()
	up := hatest.StartCountedBerth(t)
	down := hatest.StartCountedBerth(t)
	c := client.New()
	hatest.Push(t, ctx, c, up.Host+"/team/app:1", testImage(t, "daemon", "1", 1<<10))
	a := syncAgent(t, nil)
	rule := `  - {name: app, source: "%[1]s/team/app", destination: "%[2]s/mirror/app", schedule: 1s}` + "\n"
	cfg := parseSyncYAML(t, "rules:\n"+rule, up.Host, down.Host)
	logs := &logLines{}
	d, err := a.NewSyncDaemon(cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	drain := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, drain) }()

	copied := func(rule string, n float64) func(map[string]any) bool {
		return func(r map[string]any) bool {
			img, _ := r["images"].(map[string]any)
			return r["msg"] == "sync run" && r["rule"] == rule && img["copied"] == n
		}
	}
	first := logs.wait(t, 1, copied("app", 1))
	if first["level"] != "INFO" || first["next"] == nil || first["blobs"].(map[string]any)["copied"] != 3.0 {
		t.Errorf("first run's line: %v", first)
	}
	hatest.Push(t, ctx, c, up.Host+"/team/app:2", testImage(t, "daemon", "2", 1<<10))
	logs.wait(t, 2, copied("app", 1))
	logs.wait(t, 1, func(r map[string]any) bool {
		return r["msg"] == "image copied" && strings.HasSuffix(r["source"].(string), ":2")
	})

	err = d.Reload(parseSyncYAML(t, "rules:\n"+rule+`  - {name: other, source: "%[1]s/team/app", destination: "%[2]s/other/app"}`+"\n", up.Host, down.Host))
	if err != nil {
		t.Fatal(err)
	}
	logs.wait(t, 1, func(r map[string]any) bool { return r["msg"] == "config reloaded" && r["rules"] == 2.0 })
	logs.wait(t, 1, copied("other", 2))
	if err := d.Reload(&hostagent.SyncConfig{}); err == nil {
		t.Error("Reload took a config without rules")
	}

	// Drain while a slow copy is in flight: it completes, then Run ends.
	up.SlowBlobs(20 * time.Millisecond)
	big := testImage(t, "daemon", "3", 600<<10)
	hatest.Push(t, ctx, c, up.Host+"/team/app:3", big)
	up.Reset()
	for deadline := time.Now().Add(30 * time.Second); up.Count("GET blob") == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the daemon never started copying app:3")
		}
	}
	close(drain)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after drain: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return after drain")
	}
	if got := headDigest(t, c, down.Host+"/mirror/app:3"); got != big.Digest {
		t.Errorf("the copy in flight at drain did not finish: mirror/app:3 is %q", got)
	}
	logs.wait(t, 1, func(r map[string]any) bool { return r["msg"] == "sync daemon stopped" })
	for _, r := range logs.records(t) {
		if r["level"] == "WARN" || r["level"] == "ERROR" {
			t.Errorf("unexpected log line: %v", r)
		}
	}
}

// logLines collects JSON log lines, safe for concurrent writers.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logLines) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// wait waits until n lines match and returns the nth.
func (l *logLines) wait(t *testing.T, n int, match func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		seen := 0
		for _, r := range l.records(t) {
			if match(r) {
				if seen++; seen == n {
					return r
				}
			}
		}
		if time.Now().After(deadline) {
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Fatalf("no %d matching log line(s) after 30s; the log:\n%s", n, l.buf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
