package registry_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/metrics"
)

// TestMetricsLabels proves the HTTP series are labelled by route name and
// a bounded method, never by a path or a client's method string (a client
// could otherwise create series without end), and that the upload
// counters follow the outcome of each upload request.
func TestMetricsLabels(t *testing.T) {
	m, err := metrics.New()
	if err != nil {
		t.Fatal(err)
	}
	app, _ := newApp(t, registry.WithMetrics(m))
	blob := []byte("a blob")
	d := digest.FromBytes(blob)
	for _, c := range []struct {
		method, target string
		body           []byte
		want           int
	}{
		{"GET", "/v2/", nil, 200},
		{"GET", "/v2/some/secret-path/x", nil, 404},
		{"BREW", "/v2/", nil, 405},
		{"POST", "/v2/a/blobs/uploads/?digest=" + d.String(), blob, 201},                      // started, completed
		{"POST", "/v2/a/blobs/uploads/?digest=" + digest.FromString("x").String(), blob, 400}, // started, failed
		{"POST", "/v2/b/blobs/uploads/?mount=" + d.String() + "&from=a", nil, 201},            // mounted
		{"GET", "/v2/a/blobs/" + d.String(), nil, 200},
	} {
		if rec := do(t, app, c.method, c.target, c.body); rec.Code != c.want {
			t.Fatalf("%s %s: %d, want %d: %s", c.method, c.target, rec.Code, c.want, rec.Body)
		}
	}
	// One upload started and cancelled.
	rec := do(t, app, "POST", "/v2/a/blobs/uploads/", nil)
	if rec.Code != 202 {
		t.Fatalf("POST upload: %d", rec.Code)
	}
	if rec := do(t, app, "DELETE", rec.Header().Get("Location"), nil); rec.Code != 204 {
		t.Fatalf("DELETE upload: %d", rec.Code)
	}

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(raw)
	for _, want := range []string{
		`berth_http_requests_total{method="GET",route="base",status="200"} 1`,
		`berth_http_requests_total{method="GET",route="not_found",status="404"} 1`,
		`berth_http_requests_total{method="other",route="method_not_allowed",status="405"} 1`,
		`berth_http_requests_total{method="POST",route="blob_upload",status="201"} 2`,
		`berth_http_requests_total{method="DELETE",route="blob_upload_chunk",status="204"} 1`,
		`berth_http_response_bytes_total{method="GET",route="blob"} 6`,
		`berth_uploads_started_total 3`,
		`berth_uploads_completed_total 1`,
		`berth_uploads_failed_total 1`,
		`berth_uploads_cancelled_total 1`,
		`berth_blob_mounts_total 1`,
		`berth_upload_bytes_total 12`,
	} {
		if !strings.Contains(text, "\n"+want+"\n") {
			t.Errorf("scrape lacks %s", want)
		}
	}
	for _, bad := range []string{"secret-path", "BREW", `name="`} {
		if strings.Contains(text, bad) {
			t.Errorf("scrape contains %q, which must not become a label", bad)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", text)
	}
}
