package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/registry/config"
	"github.com/berth-registry/berth/registry/notify"
)

// eventSink is a webhook receiver that answers 500 while failing is set.
type eventSink struct {
	mu      sync.Mutex
	failing bool
	evs     []notify.Event
	auth    []string
}

func (s *eventSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var env notify.Envelope
	if r.Header.Get("Content-Type") != notify.MediaType || json.NewDecoder(r.Body).Decode(&env) != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	s.evs = append(s.evs, env.Events...)
	s.auth = append(s.auth, r.Header.Get("Authorization"))
}

// await returns the events once one matches pred.
func (s *eventSink) await(t *testing.T, what string, pred func(notify.Event) bool) []notify.Event {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		s.mu.Lock()
		evs := append([]notify.Event(nil), s.evs...)
		s.mu.Unlock()
		for _, ev := range evs {
			if pred(ev) {
				return evs
			}
		}
	}
	t.Fatalf("no %s event after 20s", what)
	return nil
}

func manifestPush(repo, tag string) func(notify.Event) bool {
	return func(ev notify.Event) bool {
		return ev.Action == "push" && ev.Target.Repository == repo && ev.Target.Tag == tag
	}
}

// TestServeNotifications starts Distribution's config-example.yml with an
// endpoint enabled (from the environment), pushes with oras as an
// htpasswd user, and checks the receiver gets the push with the user as
// actor and the request's id as in the access log. Then it stops the
// registry while a push's events wait for a failing receiver, starts
// another on the same storage, and gets them; the metrics pass promtool.
func TestServeNotifications(t *testing.T) {
	oras := testutil.Cmd{Path: testutil.RequireTool(t, "oras"), Env: []string{"HOME=" + t.TempDir()}}
	sink := &eventSink{}
	rcv := httptest.NewServer(sink)
	defer rcv.Close()
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config.yml", testutil.DistributionFile(t, "cmd/registry/config-example.yml"))
	env := []string{
		"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=" + filepath.Join(dir, "data"),
		"REGISTRY_AUTH_HTPASSWD_PATH=" + htpasswdFile(t, dir, "alice", "pw"),
		"REGISTRY_HTTP_ADDR=127.0.0.1:0",
		"REGISTRY_HTTP_DEBUG_ADDR=127.0.0.1:0",
		"REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED=true",
		"REGISTRY_NOTIFICATIONS_ENDPOINTS_0_NAME=ci",
		"REGISTRY_NOTIFICATIONS_ENDPOINTS_0_URL=" + rcv.URL + "/events",
		"REGISTRY_NOTIFICATIONS_ENDPOINTS_0_HEADERS={Authorization: [Bearer t0ken]}",
		"REGISTRY_NOTIFICATIONS_ENDPOINTS_0_BACKOFF=20ms",
		"REGISTRY_NOTIFICATIONS_ENDPOINTS_0_IGNORE_ACTIONS=[pull]",
	}
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "hello.txt"), []byte("hello, webhooks\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	push := func(addr, ref string) {
		t.Helper()
		r := oras.Exec(t, "push", "--plain-http", "-u", "alice", "-p", "pw", addr+"/"+ref, "hello.txt:text/plain")
		if r.Err != nil {
			t.Fatalf("oras push %s: %v\n%s", ref, r.Err, r.Output())
		}
	}
	oras.Dir = work

	s := startServe(t, []string{"serve", cfg}, env)
	push(s.addr, "hello:v1")
	evs := sink.await(t, "manifest push", manifestPush("hello", "v1"))
	var m notify.Event
	for _, ev := range evs {
		if ev.Actor.Name != "alice" || ev.Action != "push" || ev.Source.Addr == "" {
			t.Errorf("event %+v: want a push by alice", ev)
		}
		if manifestPush("hello", "v1")(ev) {
			m = ev
		}
	}
	if len(evs) != 3 { // the file, oras's empty config, the manifest
		t.Errorf("%d events, want 3: %+v", len(evs), evs)
	}
	if m.Target.MediaType != "application/vnd.oci.image.manifest.v1+json" || m.Target.Size == 0 ||
		m.Target.URL != "http://"+s.addr+"/v2/hello/manifests/"+m.Target.Digest.String() || m.Request.Method != "PUT" ||
		!strings.HasPrefix(m.Request.UserAgent, "oras") {
		t.Errorf("manifest push event: %+v", m)
	}
	sink.mu.Lock()
	if sink.auth[0] != "Bearer t0ken" {
		t.Errorf("Authorization sent: %q", sink.auth[0])
	}
	// A pull is ignored for this endpoint: nothing queued.
	sink.failing = true
	sink.mu.Unlock()

	// The request id of the manifest's PUT in the access log is the event's.
	re := regexp.MustCompile(`method=PUT path=/v2/hello/manifests/v1 .*request_id=(\S+)`)
	if got := re.FindStringSubmatch(s.stderr.String()); got == nil || got[1] != m.Request.ID {
		t.Errorf("access log's request id %q, event's %q", got, m.Request.ID)
	}

	// Pushed while the receiver fails; the registry stops before it
	// recovers, and the next one delivers.
	push(s.addr, "second:v1")
	metricsURL := "http://" + debugAddr(t, s.line) + "/metrics"
	// The receiver has an event before the registry has its answer.
	samples := waitSeries(t, metricsURL, `berth_notification_queue_events{endpoint="ci"}`, 3)
	if samples[`berth_notification_delivery_failures_total{endpoint="ci"}`] == 0 {
		t.Errorf("no failed delivery counted: %v", samples)
	}
	if code := s.stop(); code != exitOK {
		t.Fatalf("exit code %d", code)
	}
	sink.mu.Lock()
	sink.failing = false
	sink.mu.Unlock()
	s2 := startServe(t, []string{"serve", cfg}, env)
	evs = sink.await(t, "manifest push after the restart", manifestPush("second", "v1"))
	n := 0
	for _, ev := range evs {
		if ev.Target.Repository == "second" {
			n++
			// Queued by the first process, sent by the second: the
			// event is the same, source included.
			if ev.Source.InstanceID != m.Source.InstanceID {
				t.Errorf("event not from the first instance: %+v", ev)
			}
		}
	}
	if n < 3 {
		t.Errorf("%d events of second after the restart, want 3", n)
	}
	metricsURL = "http://" + debugAddr(t, s2.line) + "/metrics"
	waitSeries(t, metricsURL, `berth_notification_queue_events{endpoint="ci"}`, 0)
	raw, samples := scrapeMetrics(t, metricsURL)
	checkSeries(t, samples, []wantSeries{{`berth_notification_events_delivered_total{endpoint="ci"}`, 3}})
	promtoolCheck(t, raw)
}

// A disabled endpoint opens no queue; a queue directory in use by another
// process stops start-up with one line naming the key.
func TestServeNotificationsDisabledAndInUse(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "data")
	conf := func(disabled bool) string {
		return writeFile(t, dir, "config.yml", "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: "+root+"\n"+
			"http:\n  addr: 127.0.0.1:0\nnotifications:\n  endpoints:\n    - name: ci\n      url: http://127.0.0.1:1/\n"+
			"      disabled: "+map[bool]string{true: "true", false: "false"}[disabled]+"\n")
	}
	s := startServe(t, []string{"serve", conf(true)}, nil)
	if _, err := os.Stat(filepath.Join(root, "+notifications")); !os.IsNotExist(err) {
		t.Errorf("a queue with the only endpoint disabled: %v", err)
	}
	s.stop()

	startServe(t, []string{"serve", conf(false)}, nil)
	if _, err := os.Stat(filepath.Join(root, "+notifications", "lock")); err != nil {
		t.Errorf("no queue in the filesystem root: %v", err)
	}
	var stdout, stderr syncBuffer
	if code := run(t.Context(), []string{"serve", conf(false)}, nil, &stdout, &stderr); code != exitFailure {
		t.Errorf("second registry on the queue: exit %d, want %d", code, exitFailure)
	}
	if got := stderr.String(); !strings.HasPrefix(got, "registry: notifications: notification queue "+filepath.Join(root, "+notifications")+" is in use by another process") ||
		!strings.HasSuffix(got, "(notifications.queue.directory)\n") {
		t.Errorf("stderr %q", got)
	}
}

// Both of Distribution's media type filters apply; every key arrives.
func TestNotifyEndpoints(t *testing.T) {
	c, err := config.Load(strings.NewReader("version: 0.1\nstorage: inmemory\nnotifications:\n  endpoints:\n"+
		"    - name: ci\n      url: http://ci/\n      timeout: 2s\n      threshold: 3\n      backoff: 4s\n"+
		"      headers: {X-A: [b]}\n      ignoredmediatypes: [a/b]\n      ignore: {mediatypes: [c/d], actions: [pull]}\n"+
		"    - name: off\n      disabled: true\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	eps := notifyEndpoints(c.Notifications.Active())
	want := fmt.Sprintf("%+v", []notify.Endpoint{{Name: "ci", URL: "http://ci/", Headers: http.Header{"X-A": {"b"}}, Timeout: 2 * time.Second,
		Threshold: 3, Backoff: 4 * time.Second, IgnoredMediaTypes: []string{"a/b", "c/d"}, IgnoredActions: []string{"pull"}}})
	if got := fmt.Sprintf("%+v", eps); got != want {
		t.Errorf("endpoints\n got %s\nwant %s", got, want)
	}
}

// waitSeries scrapes url until series has the value want, and returns
// that scrape's samples.
func waitSeries(t *testing.T, url, series string, want float64) map[string]float64 {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, samples := scrapeMetrics(t, url)
		if samples[series] == want {
			return samples
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after 20s, want %v", series, samples[series], want)
		}
	}
}
