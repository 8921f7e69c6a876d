package reqid_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/reqid"
)

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	l := reqid.Logger(reqid.Logger(slog.New(slog.NewTextHandler(&buf, nil)))).With("k", "v")
	ctx := reqid.With(context.Background(), "abc")
	l.InfoContext(ctx, "in a request")
	l.Info("outside")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log %q", buf.String())
	}
	if !strings.HasSuffix(lines[0], `msg="in a request" k=v request_id=abc`) {
		t.Errorf("line with a request's context %q, want request_id once, after the logger's attributes", lines[0])
	}
	if strings.Contains(lines[1], "request_id") {
		t.Errorf("line without a request %q has a request_id", lines[1])
	}
	if got := reqid.From(context.Background()); got != "" {
		t.Errorf("From outside a request: %q", got)
	}
}
