package mirror

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// TestLogImageWarnings: an image stored without a foreign layer logs, after
// its "image copied" line, one WARN line per warning, with the image's
// attributes.
func TestLogImageWarnings(t *testing.T) {
	var buf bytes.Buffer
	d := &Daemon{log: slog.New(slog.NewJSONHandler(&buf, nil))}
	d.logImage(t.Context(), Image{Rule: "win", Source: "reg/win:1", Destination: "local:reg/win:1", Action: "copied",
		Warnings: []string{"foreign layer sha256:aa of reg/win:1 not stored (URLs http://x/l): no URL"}})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log:\n%s", buf.String())
	}
	var w map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &w); err != nil {
		t.Fatal(err)
	}
	msg, _ := w["warning"].(string)
	if w["level"] != "WARN" || w["rule"] != "win" || w["source"] != "reg/win:1" || !strings.Contains(msg, "sha256:aa") {
		t.Errorf("warning line: %s", lines[1])
	}
}
