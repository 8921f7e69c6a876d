package conformance_test

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/metrics"
	"github.com/berth-registry/berth/registry/notify"
	"github.com/berth-registry/berth/storagedriver/filesystem"
	"github.com/berth-registry/berth/storagedriver/observed"
)

// TestMetricsAfterConformance runs the conformance suite against a
// registry with metrics on (filesystem driver, wrapped to count its
// operations), a blob descriptor cache in a real Redis and a webhook
// receiver, then pushes and pulls an image with crane, and checks the
// scrape: promtool check metrics accepts it, and the series move as the
// workload says they must (one upload completed per blob pushed, blob GETs
// answered 200 and from the cache, storage operations counted, nothing
// left in flight, every event queued delivered).
func TestMetricsAfterConformance(t *testing.T) {
	t.Parallel()
	bin := suiteBinary(t)
	promtool := testutil.RequireTool(t, "promtool")
	crane := client(t, testutil.RequireTool(t, "crane"))

	m, err := metrics.New()
	must(t, err)
	fsd, err := filesystem.New(t.TempDir())
	must(t, err)
	cache := redisCache(t, m)
	var received atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { received.Add(1) }))
	t.Cleanup(hook.Close)
	q, err := notify.Open(notify.Options{Dir: t.TempDir(), Observer: m,
		Endpoints: []notify.Endpoint{{Name: "conformance", URL: hook.URL}}})
	must(t, err)
	t.Cleanup(func() { q.Close() })
	srv := registrytest.Start(t, observed.Wrap(fsd, m), append(suiteOptions(), registry.WithMetrics(m), registry.WithNotifier(q, true),
		registry.WithBlobDescriptorCache(cache))...)
	scrapeSrv := httptest.NewServer(m.Handler())
	t.Cleanup(scrapeSrv.Close)

	runSuite(t, bin, srv.Host, "filesystem, redis blob descriptor cache")
	if t.Failed() {
		return
	}
	before := scrape(t, scrapeSrv.URL)

	img := newTestImage(t, "metrics")
	layout := filepath.Join(crane.Dir, "layout")
	img.writeLayout(t, layout, "v1")
	ref := srv.Host + "/metrics/image:v1"
	crane.Run(t, "push", "--insecure", layout, ref)
	crane.Run(t, "pull", "--insecure", "--format", "oci", ref, filepath.Join(crane.Dir, "pulled"))
	img.requireLayoutEqual(t, filepath.Join(crane.Dir, "pulled"), "")

	// Wait for the receiver to have every event (deliveries are async).
	const pending = `berth_notification_queue_events{endpoint="conformance"}`
	for deadline := time.Now().Add(30 * time.Second); scrape(t, scrapeSrv.URL)[pending] != 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s still %v after 30s", pending, scrape(t, scrapeSrv.URL)[pending])
		}
	}
	raw := httpGet(t, scrapeSrv.URL)
	check := testutil.Cmd{Path: promtool, Stdin: raw}.Exec(t, "check", "metrics")
	if check.Err != nil || len(bytes.TrimSpace(check.Stdout)) > 0 || len(bytes.TrimSpace(check.Stderr)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", check.Err, check.Output())
	}
	after := parseMetrics(t, raw)
	delta := func(series string) float64 { return after[series] - before[series] }

	var pushed int64
	for _, b := range img.blobs {
		pushed += int64(len(b))
	}
	n := float64(len(img.blobs))
	for _, c := range []struct {
		what      string
		got, want float64
		atLeast   bool
	}{
		{"uploads started by the push", delta("berth_uploads_started_total"), n, false},
		{"uploads completed by the push", delta("berth_uploads_completed_total"), n, false},
		{"uploads failed during the push", delta("berth_uploads_failed_total"), 0, false},
		{"upload bytes of the push", delta("berth_upload_bytes_total"), float64(pushed), false},
		{"manifest PUT 201 of the push", delta(`berth_http_requests_total{method="PUT",route="manifest",status="201"}`), 1, false},
		{"blob GET 200 of the pull", delta(`berth_http_requests_total{method="GET",route="blob",status="200"}`), n, true},
		{"response bytes of blob GETs", delta(`berth_http_response_bytes_total{method="GET",route="blob"}`), float64(pushed), true},
		{"request bytes of upload chunks", delta(`berth_http_request_bytes_total{method="PATCH",route="blob_upload_chunk"}`) +
			delta(`berth_http_request_bytes_total{method="PUT",route="blob_upload_chunk"}`) +
			delta(`berth_http_request_bytes_total{method="POST",route="blob_upload"}`), float64(pushed), false},
		{"filesystem commits of the push", delta(`berth_storage_operations_total{driver="filesystem",operation="writer_commit"}`), n, true},
		{"filesystem opens of the pull (sendfile path)", delta(`berth_storage_operations_total{driver="filesystem",operation="open"}`), n, true},
		{"blob requests over the whole run", after[`berth_http_requests_total{method="GET",route="blob",status="200"}`], 1, true},
		{"uploads completed over the whole run", after["berth_uploads_completed_total"], n + 1, true},
		{"blobs of the pull answered from the cache (the push filled it)", delta(`berth_content_served_total{kind="blob",source="cache"}`), n, true},
		{"redis cache failures", sumMatching(after, `berth_blob_descriptor_cache_errors_total{`), 0, false},
		{"events queued and delivered", after[`berth_notification_events_delivered_total{endpoint="conformance"}`],
			after[`berth_notification_events_queued_total{endpoint="conformance"}`], false},
		{"events received (at least once)", float64(received.Load()), after[`berth_notification_events_queued_total{endpoint="conformance"}`], true},
		{"events of the crane push (blobs, manifest)", delta(`berth_notification_events_queued_total{endpoint="conformance"}`), n + 1, true},
		{"storage operations that failed for an outage", after[`berth_storage_operation_errors_total{class="unavailable",driver="filesystem",operation="stat"}`], 0, false},
		// Every observation of the histogram is a counted request.
		{"blob GET durations observed", delta(`berth_http_request_duration_seconds_count{method="GET",route="blob"}`),
			sumMatching(after, `berth_http_requests_total{method="GET",route="blob",`) - sumMatching(before, `berth_http_requests_total{method="GET",route="blob",`), false},
	} {
		if (c.atLeast && c.got < c.want) || (!c.atLeast && c.got != c.want) {
			op := "="
			if c.atLeast {
				op = ">="
			}
			t.Errorf("%s: %v, want %s %v", c.what, c.got, op, c.want)
		}
	}
	for series, v := range after {
		if strings.HasPrefix(series, "berth_http_requests_in_flight{") && v != 0 {
			t.Errorf("%s = %v with no request in flight", series, v)
		}
		if strings.HasPrefix(series, "berth_http_requests_total{") && !strings.Contains(series, `route="`) {
			t.Errorf("%s has no route label", series)
		}
	}
	if t.Failed() {
		t.Logf("scrape after the workload:\n%s", testutil.Tail(raw, 16<<10))
	}
}

// scrape GETs the metrics (httpGet, in the text format) and parses them.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	return parseMetrics(t, httpGet(t, url))
}

// parseMetrics reads the samples of a text-format scrape, keyed by the
// series as written (name and labels, which the client library sorts).
func parseMetrics(t *testing.T, b []byte) map[string]float64 {
	t.Helper()
	samples := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("scrape line %q: no value", line)
		}
		samples[line[:i]] = v
	}
	return samples
}

// sumMatching adds the samples whose series starts with prefix.
func sumMatching(samples map[string]float64, prefix string) float64 {
	var sum float64
	for s, v := range samples {
		if strings.HasPrefix(s, prefix) {
			sum += v
		}
	}
	return sum
}
