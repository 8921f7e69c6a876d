package registry_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/metrics"
	"github.com/berth-registry/berth/registry/notify"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// noReadAt is a driver whose opened files do not read at offsets. A blob
// GET through an App over it never takes serveRange (it needs an
// io.ReaderAt) and answers every range with http.ServeContent, as all
// did before: the reference TestBlobFastRangeAgrees compares with.
type noReadAt struct{ storagedriver.Driver }

func (d noReadAt) Open(ctx context.Context, p string) (io.ReadSeekCloser, error) {
	rc, err := d.Driver.(storagedriver.Opener).Open(ctx, p)
	if err != nil {
		return nil, err
	}
	return struct{ io.ReadSeekCloser }{rc}, nil
}

// events records the events of a notifier, without their ids and times.
type events struct {
	mu  sync.Mutex
	got []notify.Event
}

func (e *events) Notify(_ context.Context, evs ...notify.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range evs {
		ev.ID, ev.Timestamp = "", time.Time{}
		e.got = append(e.got, ev)
	}
	return nil
}

// watched is an App with what it reports besides its answers: the
// access log, the metrics and the events.
type watched struct {
	app     *registry.App
	log     bytes.Buffer
	metrics *metrics.Metrics
	events  events
}

func newWatched(t *testing.T, drv storagedriver.Driver) *watched {
	t.Helper()
	o := &watched{}
	m, err := metrics.New()
	if err != nil {
		t.Fatal(err)
	}
	o.metrics = m
	policy := "rules:\n  - repositories: ['team/**']\n    users: [alice]\n    actions: [pull, push]\n"
	o.app, err = registry.New(t.Context(), drv, registry.WithDelete(true), registry.WithAuth(basicAuthorizer(t, policy)),
		registry.WithMetrics(m), registry.WithNotifier(&o.events, false), registry.WithHeaders(http.Header{"X-Extra": {"1"}}),
		registry.WithLogger(slog.New(slog.NewTextHandler(&o.log, nil))))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// volatile matches what differs between two runs of one request in an
// access log line: its time and duration.
var volatile = regexp.MustCompile(`(time|duration)=\S+`)

// report is what o reported besides the answers: the access log without
// durations, the request counters and sizes of the metrics, the events.
func (o *watched) report(t *testing.T) string {
	t.Helper()
	rec := httptest.NewRecorder()
	o.metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	var counted []string
	for l := range strings.Lines(rec.Body.String()) {
		if !strings.HasPrefix(l, "#") && (strings.Contains(l, "http_requests_total") || strings.Contains(l, "http_response_bytes_total") ||
			strings.Contains(l, "auth")) {
			counted = append(counted, l)
		}
	}
	o.events.mu.Lock()
	defer o.events.mu.Unlock()
	return fmt.Sprintf("log:\n%s\nmetrics:\n%s\nevents: %+v", volatile.ReplaceAllString(o.log.String(), "$1=X"),
		strings.Join(counted, ""), o.events.got)
}

// TestBlobFastRangeAgrees holds that a blob GET or HEAD answers exactly
// as http.ServeContent did, whether serveRange takes it or not: status,
// every header, body, and what the request leaves in the access log, the
// metrics and the events, for Range headers of every kind (valid, cut at
// the end, unsatisfiable, malformed, several), with and without
// preconditions, for a caller allowed, refused and unknown, on a blob,
// an empty blob and a missing one.
func TestBlobFastRangeAgrees(t *testing.T) {
	drv, err := filesystem.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	plain, err := registry.New(t.Context(), drv)
	if err != nil {
		t.Fatal(err)
	}
	blob := make([]byte, 600<<10) // longer than a short range
	for i := range blob {
		blob[i] = byte(i * 7 / 3)
	}
	d := pushBlob(t, plain, "team/a", blob)
	empty := pushBlob(t, plain, "team/a", nil)
	fast, ref := newWatched(t, drv), newWatched(t, noReadAt{drv})

	n := len(blob)
	ranges := slices.Concat(rangeCases(n), [][]string{
		{"Range", "bytes=0-4095"},
		{"Range", fmt.Sprintf("bytes=%d-%d", n-1, n-1)},
		{"Range", fmt.Sprintf("bytes=%d-%d", n-1, n)},
		{"Range", fmt.Sprintf("bytes=%d-%d", n+5, n+1)},
		{"Range", "bytes=0-262143"},    // the longest short range
		{"Range", "bytes=7-262150"},    // one byte longer
		{"Range", "bytes=1000-200000"}, // several buffers
		{"Range", "bytes= 10-19"},
		{"Range", "bytes=10-19 "},
		{"Range", "bytes=10 -19"},
		{"Range", "bytes=+10-19"},
		{"Range", "bytes=-10-19"},
		{"Range", "bytes=010-019"},
		{"Range", "bytes=10-19,"},
		{"Range", "bytes=10-19,30-39"},
		{"Range", "bytes=10-19,999999999-9999999999"},
		{"Range", "Bytes=10-19"},
		{"Range", "bytes 10-19"},
		{"Range", "items=10-19"},
		{"Range", "bytes=10-0x20"},
		{"Range", "bytes=-0"},
		{"Range", "bytes=0-"},
		{"Range", "bytes="},
		{"Range", ""},
		{"Range", "bytes=99999999999999999999-1"},
		{"Range", "bytes=0-99999999999999999999"},
		{"Range", "bytes=9223372036854775807-9223372036854775807"},
		{"Range", "bytes=10-19", "If-None-Match", `"` + d.String() + `"`},
		{"Range", "bytes=10-19", "If-None-Match", `"sha256:other"`},
		{"Range", "bytes=10-19", "If-None-Match", "*"},
		{"Range", "bytes=10-19", "If-Match", `"sha256:other"`},
		{"Range", "bytes=10-19", "If-Match", `"` + d.String() + `"`},
		{"Range", "bytes=10-19", "If-Range", `"` + d.String() + `"`},
		{"Range", "bytes=10-19", "If-Modified-Since", "Sat, 05 Dec 2026 00:00:00 GMT"},
		{"Range", "bytes=10-19", "If-Unmodified-Since", "Sat, 05 Dec 2026 00:00:00 GMT"},
		{"Range", "bytes=10-19", "Accept-Encoding", "gzip"},
	})
	callers := [][]string{basicAuth("alice"), basicAuth("bob"), nil, {"Authorization", "Basic YWxpY2U6bm8="}}
	paths := []string{"/v2/team/a/blobs/" + d.String(), "/v2/team/a/blobs/" + empty.String(),
		"/v2/team/b/blobs/" + d.String(), "/v2/team/a/blobs/sha256:00", "/v2/Team/a/blobs/" + d.String()}
	i := 0
	for _, path := range paths {
		for _, method := range []string{"GET", "HEAD"} {
			for c, caller := range callers {
				for r, hdr := range ranges {
					if c > 0 && r > 4 {
						break // a refusal does not depend on the range
					}
					i++
					h := slices.Concat(caller, hdr, []string{registry.RequestIDHeader, fmt.Sprint("req-", i)})
					for range 2 { // the second through the file the first left open
						got, want := do(t, fast.app, method, path, nil, h...), do(t, ref.app, method, path, nil, h...)
						compareAnswers(t, fmt.Sprint(method, " ", path, " ", h), got, want)
					}
				}
			}
		}
	}
	// Two Range headers: ServeContent reads the first, and so does the
	// fast route.
	for _, second := range []string{"bytes=30-39", "junk"} {
		req := func() *http.Request {
			r := httptest.NewRequest("GET", paths[0], nil)
			r.Header.Set("Authorization", basicAuth("alice")[1])
			r.Header["Range"] = []string{"bytes=10-19", second}
			r.Header.Set(registry.RequestIDHeader, "two-ranges")
			return r
		}
		got, want := httptest.NewRecorder(), httptest.NewRecorder()
		fast.app.ServeHTTP(got, req())
		ref.app.ServeHTTP(want, req())
		compareAnswers(t, "two Range headers", got, want)
	}
	g, w := strings.Split(fast.report(t), "\n"), strings.Split(ref.report(t), "\n")
	for i := range max(len(g), len(w)) {
		if i >= len(g) || i >= len(w) || g[i] != w[i] {
			t.Fatalf("the fast route reported, from line %d:\n%s\nServeContent's:\n%s", i+1,
				strings.Join(g[i:min(i+3, len(g))], "\n"), strings.Join(w[i:min(i+3, len(w))], "\n"))
		}
	}
	if !strings.Contains(fast.report(t), "user=alice") {
		t.Fatalf("no access log line with the user:\n%s", fast.report(t))
	}
}

// compareAnswers fails unless got and want have the same status, headers
// (a multipart boundary aside) and body.
func compareAnswers(t *testing.T, what string, got, want *httptest.ResponseRecorder) {
	t.Helper()
	gb, wb := unbound(got), unbound(want)
	gh, wh := got.Header().Clone(), want.Header().Clone()
	for _, h := range []http.Header{gh, wh} {
		if ct := h.Get("Content-Type"); strings.HasPrefix(ct, "multipart/byteranges; boundary=") {
			h.Set("Content-Type", "multipart/byteranges; boundary=BOUNDARY")
			h.Del("Content-Length") // the boundary's length may differ
		}
	}
	if got.Code != want.Code || gb != wb || !maps.EqualFunc(gh, wh, slices.Equal) {
		t.Fatalf("%s:\n%d %v %d bytes\nServeContent's:\n%d %v %d bytes", what, got.Code, gh, len(gb), want.Code, wh, len(wb))
	}
}
