package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil"
)

// scrapeMetrics GETs url and returns the raw text and its samples, keyed
// by the series as written (the client library sorts the labels).
func scrapeMetrics(t *testing.T, url string) ([]byte, map[string]float64) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %.200s", url, resp.StatusCode, raw)
	}
	return raw, parseSamples(t, raw)
}

// parseSamples reads the samples of metrics in the text format, keyed by
// the series as written.
func parseSamples(t *testing.T, raw []byte) map[string]float64 {
	t.Helper()
	samples := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("scrape line %q: no value", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape line %q: %v", line, err)
		}
		samples[line[:i]] = v
	}
	return samples
}

// debugAddr is the debug listener named on the start-up line.
func debugAddr(t *testing.T, line string) string {
	t.Helper()
	m := regexp.MustCompile(`, debug listener on (127\.0\.0\.1:\d+)\n$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("start-up line %q names no debug listener", line)
	}
	return m[1]
}

// promtoolCheck runs promtool check metrics on a scrape; it skips (fails
// under CI) without promtool, so it comes last in a test.
func promtoolCheck(t *testing.T, raw []byte) {
	t.Helper()
	bin := testutil.RequireTool(t, "promtool")
	r := testutil.Cmd{Path: bin, Stdin: raw}.Exec(t, "check", "metrics")
	if r.Err != nil || len(bytes.TrimSpace(r.Stdout)) > 0 || len(bytes.TrimSpace(r.Stderr)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", r.Err, r.Output())
	}
}

type wantSeries struct {
	series string
	want   float64
}

func checkSeries(t *testing.T, samples map[string]float64, want []wantSeries) {
	t.Helper()
	for _, w := range want {
		if got := samples[w.series]; got != w.want {
			t.Errorf("%s = %v, want %v", w.series, got, w.want)
		}
	}
}

// TestServeMetrics proves http.debug.prometheus: the metrics are served on
// the debug listener at the configured path (never on the API's
// listener), and count what the process does: pull-through cache misses,
// hits and upstream errors, storage operations of the configured driver,
// upload purge runs and garbage collection runs with what they removed.
func TestServeMetrics(t *testing.T) {
	started := time.Now()
	up, _, layer := upstreamImage(t)
	dir := t.TempDir()
	file := writeFile(t, dir, "config.yml", "version: 0.1\nlog:\n  level: error\n"+
		"storage:\n  inmemory:\n  maintenance:\n    uploadpurging:\n      enabled: true\n      age: 500ms\n      interval: 50ms\n"+
		"  gc:\n    enabled: true\n    interval: 200ms\n    grace: 1ms\n"+
		"http:\n  addr: 127.0.0.1:0\n  draintimeout: 0s\n  debug:\n    addr: 127.0.0.1:0\n    prometheus:\n      enabled: true\n      path: /m\n"+
		"proxy:\n  upstreams:\n    - prefix: upstream\n      remoteurl: "+up.URL+"\n      ttl: 1h\n")
	s := startServe(t, []string{"serve", file}, nil)
	metricsURL := "http://" + debugAddr(t, s.line) + "/m"
	base := "http://" + s.addr + "/v2/"

	for _, c := range []struct {
		path string
		want int
	}{
		{"upstream/team/app/manifests/v1", 200},                              // miss: manifest, and its config blob
		{"upstream/team/app/manifests/v1", 200},                              // hit
		{"upstream/team/app/manifests/nope", 404},                            // miss, upstream error
		{"upstream/team/app/blobs/" + digest.FromBytes(layer).String(), 200}, // miss
		{"upstream/team/app/blobs/" + digest.FromBytes(layer).String(), 200}, // hit
	} {
		if code := get(t, http.DefaultClient, base+c.path); code != c.want {
			t.Fatalf("GET %s: %d, want %d", c.path, code, c.want)
		}
	}
	// An upload left open, which the purger removes once it is 500 ms
	// old. (At 1 ms, the purger could take the upload through which the
	// proxy stores a fetched blob between its start and its commit, under
	// CI's load: the manifest was then served but not cached, and counted
	// a miss again on the next GET.)
	resp, err := http.Post(base+"mine/app/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST upload: %d", resp.StatusCode)
	}
	// A blob pushed and never referenced, which the collector deletes.
	orphan := []byte("pushed, never referenced by a manifest")
	resp, err = http.Post(base+"mine/app/blobs/uploads/?digest="+digest.FromBytes(orphan).String(), "application/octet-stream", bytes.NewReader(orphan))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST the orphan: %d", resp.StatusCode)
	}
	if code := get(t, http.DefaultClient, "http://"+s.addr+"/m"); code != http.StatusNotFound {
		t.Errorf("GET /m on the API listener: %d, want 404", code)
	}

	var raw []byte
	var samples map[string]float64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		raw, samples = scrapeMetrics(t, metricsURL)
		if samples[`berth_upload_purged_objects_total{kind="upload"}`] >= 1 && samples[`berth_gc_deleted_objects_total{kind="blob"}`] >= 1 ||
			time.Now().After(deadline) {
			break
		}
	}
	checkSeries(t, samples, []wantSeries{
		{`berth_proxy_misses_total{kind="manifest"}`, 2},
		{`berth_proxy_hits_total{kind="manifest"}`, 1},
		{`berth_proxy_upstream_errors_total{kind="manifest"}`, 1},
		{`berth_proxy_misses_total{kind="blob"}`, 2}, // the config, fetched with the manifest, and the layer
		{`berth_http_requests_total{method="GET",route="manifest",status="200"}`, 2},
		{`berth_http_requests_total{method="GET",route="manifest",status="404"}`, 1},
		{`berth_http_requests_total{method="GET",route="blob",status="200"}`, 2},
		{`berth_http_requests_total{method="POST",route="blob_upload",status="202"}`, 1},
		{`berth_uploads_started_total`, 2}, // the upload left open, and the orphan's
		{`berth_uploads_completed_total`, 1},
		{`berth_upload_purged_objects_total{kind="upload"}`, 1},
		{`berth_upload_purge_runs_total{result="error"}`, 0},
		{`berth_gc_deleted_objects_total{kind="blob"}`, 1},
		{`berth_gc_deleted_objects_total{kind="layer_link"}`, 1},
		{`berth_gc_deleted_objects_total{kind="manifest"}`, 0},
		{`berth_gc_deleted_bytes_total`, float64(len(orphan))},
		{`berth_gc_runs_total{result="error"}`, 0},
	})
	for _, series := range []string{`berth_gc_last_success_timestamp_seconds`, `berth_upload_purge_last_success_timestamp_seconds`} {
		if v := samples[series]; v < float64(started.Unix()) || v > float64(time.Now().Unix()+1) {
			t.Errorf("%s = %v, want a time since the test started (%d)", series, v, started.Unix())
		}
	}
	if samples[`berth_gc_duration_seconds_count`] != samples[`berth_gc_runs_total{result="success"}`] {
		t.Errorf("gc durations observed %v, runs %v: want one per run", samples[`berth_gc_duration_seconds_count`], samples[`berth_gc_runs_total{result="success"}`])
	}
	for series := range samples {
		if strings.HasPrefix(series, "berth_scrub_") {
			t.Errorf("%s served by a process that never scrubs", series)
		}
	}
	// The second GET of the layer is a hit, or joins the first's transfer
	// when that is still storing the blob.
	if got := samples[`berth_proxy_hits_total{kind="blob"}`] + samples[`berth_proxy_joined_misses_total{kind="blob"}`]; got != 1 {
		t.Errorf("blob hits and joined misses: %v, want 1", got)
	}
	for _, series := range []string{
		`berth_upload_purge_runs_total{result="success"}`,
		`berth_upload_purge_duration_seconds_count`,
		`berth_gc_runs_total{result="success"}`,
		`berth_storage_operations_total{driver="inmemory",operation="put_content"}`,
		`berth_storage_operations_total{driver="inmemory",operation="walk"}`,
		`berth_storage_operations_total{driver="inmemory",operation="delete"}`,
		`berth_storage_operation_errors_total{class="not_found",driver="inmemory",operation="get_content"}`,
		`go_goroutines`,
	} {
		if samples[series] < 1 {
			t.Errorf("%s = %v, want at least 1", series, samples[series])
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", raw)
	}
	promtoolCheck(t, raw)
}

// TestServeMetricsAuth proves the access-check and token series: a
// request without credentials is challenged, a wrong password fails, the
// token server issues tokens, and the eleventh failed login in a row from
// one address is throttled.
func TestServeMetricsAuth(t *testing.T) {
	dir := t.TempDir()
	key := writeKey(t, dir)
	ht := htpasswdFile(t, dir, "alice", "pw")
	cfg := writeFile(t, dir, "config.yml", "version: 0.1\nlog:\n  level: error\nstorage: inmemory\n"+
		"http:\n  addr: 127.0.0.1:0\n  debug:\n    addr: 127.0.0.1:0\n    prometheus:\n      enabled: true\n"+
		"auth:\n  token:\n    realm: http://registry.invalid/auth/token\n    service: berth\n    issuer: berth-issuer\n"+
		"    server:\n      key: "+key+"\n      htpasswd: "+ht+"\n")
	s := startServe(t, []string{"serve", cfg}, nil)
	metricsURL := "http://" + debugAddr(t, s.line) + "/metrics"
	do := func(path, user, password, bearer string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+s.addr+path, nil)
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const tokenPath = "/auth/token?service=berth&scope=repository:a:pull"
	checks := []struct {
		what              string
		path, user, pw, b string
		want              int
	}{
		{"no credentials", "/v2/", "", "", "", 401},
		{"bad token", "/v2/", "", "", "not.a.token", 401},
		{"token for alice", tokenPath, "alice", "pw", "", 200},
		{"wrong password", tokenPath, "alice", "nope", "", 401},
	}
	for _, c := range checks {
		if code := do(c.path, c.user, c.pw, c.b); code != c.want {
			t.Fatalf("%s: %d, want %d", c.what, code, c.want)
		}
	}
	// Nine more failures use up the burst of ten; the next is refused.
	for range 9 {
		do(tokenPath, "alice", "nope", "")
	}
	if code := do(tokenPath, "alice", "nope", ""); code != http.StatusTooManyRequests {
		t.Fatalf("eleventh failed login: %d, want 429", code)
	}
	raw, samples := scrapeMetrics(t, metricsURL)
	checkSeries(t, samples, []wantSeries{
		{`berth_auth_requests_total{endpoint="registry",result="challenged"}`, 1},
		{`berth_auth_requests_total{endpoint="registry",result="failure"}`, 1},
		{`berth_auth_requests_total{endpoint="token",result="success"}`, 1},
		{`berth_auth_requests_total{endpoint="token",result="failure"}`, 10},
		{`berth_auth_requests_total{endpoint="token",result="throttled"}`, 1},
		{`berth_auth_tokens_issued_total`, 1},
		{`berth_http_requests_total{method="GET",route="token",status="429"}`, 1},
	})
	if t.Failed() {
		t.Logf("scrape:\n%s", raw)
	}
	promtoolCheck(t, raw)
}
