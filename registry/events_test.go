package registry_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/notify"
)

// hook is a webhook receiver: it keeps the events it accepts and, while
// gate is open, holds every delivery (held gets each one first).
type hook struct {
	srv  *httptest.Server
	mu   sync.Mutex
	evs  []notify.Event
	gate chan struct{} // nil: accept at once
	held chan struct{}
}

func newHook(t *testing.T, hold bool) *hook {
	h := &hook{held: make(chan struct{}, 16)}
	if hold {
		h.gate = make(chan struct{})
	}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var env notify.Envelope
		if err := json.NewDecoder(r.Body).Decode(&env); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if h.gate != nil {
			select {
			case h.held <- struct{}{}:
			default: // a retry after the client's timeout: held was told
			}
			select {
			case <-h.gate:
			case <-r.Context().Done():
				return
			}
		}
		h.mu.Lock()
		h.evs = append(h.evs, env.Events...)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// wait returns the events accepted once there are n.
func (h *hook) wait(t *testing.T, n int) []notify.Event {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		h.mu.Lock()
		evs := append([]notify.Event(nil), h.evs...)
		h.mu.Unlock()
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events after 20s, want %d: %+v", len(evs), n, evs)
		}
	}
}

func openQueue(t *testing.T, url string) *notify.Queue {
	t.Helper()
	q, err := notify.Open(notify.Options{Dir: t.TempDir(), Endpoints: []notify.Endpoint{{Name: "hook", URL: url}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// describe is an event's action, repository and target in short.
func describe(ev notify.Event) string {
	tg := ev.Target
	s := fmt.Sprintf("%s %s", ev.Action, tg.Repository)
	if tg.MediaType != "" {
		s += " " + tg.MediaType
	}
	if tg.Tag != "" {
		s += " tag=" + tg.Tag
	}
	if tg.Digest != "" {
		s += " " + tg.Digest.Encoded()[:8]
	}
	if tg.FromRepository != "" {
		s += " from=" + tg.FromRepository
	}
	return s
}

// The API's events: what Distribution sends, in the order of the
// requests, with the request's id, the content's URL and size.
func TestNotificationsOfTheAPI(t *testing.T) {
	h := newHook(t, false)
	app, _ := newApp(t, registry.WithNotifier(openQueue(t, h.srv.URL), true))
	md, m := pushImage(t, app, "team/app", "v1", "")
	var doc struct {
		Config struct{ Digest digest.Digest }
		Layers []struct{ Digest digest.Digest }
	}
	if err := json.Unmarshal(m, &doc); err != nil {
		t.Fatal(err)
	}
	cd, ld := doc.Config.Digest, doc.Layers[0].Digest

	steps := []struct {
		method, path string
		want         int
	}{
		{"GET", "/v2/team/app/manifests/v1", 200},
		{"HEAD", "/v2/team/app/manifests/v1", 200},         // no event
		{"HEAD", "/v2/team/app/blobs/" + ld.String(), 200}, // no event
		{"GET", "/v2/team/app/manifests/v1/nope", 404},     // no event
		{"GET", "/v2/team/app/blobs/" + ld.String(), 200},  // pull
		{"POST", "/v2/other/blobs/uploads/?mount=" + ld.String() + "&from=team/app", 201},
		{"PUT", "/v2/team/app/manifests/" + md.String() + "?tag=v2&tag=v3", 201},
		{"DELETE", "/v2/team/app/manifests/v2", 202},
		{"DELETE", "/v2/team/app/manifests/" + md.String(), 202},
		{"DELETE", "/v2/team/app/blobs/" + ld.String(), 202},
	}
	for i, s := range steps {
		var body []byte
		if s.method == "PUT" {
			body = m
		}
		rec := do(t, app, s.method, s.path, body, "X-Request-Id", fmt.Sprintf("step-%d", i), "User-Agent", "events-test/1",
			"Content-Type", "application/vnd.oci.image.manifest.v1+json")
		if rec.Code != s.want {
			t.Fatalf("%s %s: %d %s", s.method, s.path, rec.Code, rec.Body)
		}
	}
	const manifestType = "application/vnd.oci.image.manifest.v1+json"
	want := []string{
		"push team/app application/octet-stream " + cd.Encoded()[:8],
		"push team/app application/octet-stream " + ld.Encoded()[:8],
		"push team/app " + manifestType + " tag=v1 " + md.Encoded()[:8],
		"pull team/app " + manifestType + " tag=v1 " + md.Encoded()[:8],
		"pull team/app application/octet-stream " + ld.Encoded()[:8],
		"mount other application/octet-stream " + ld.Encoded()[:8] + " from=team/app",
		"push team/app " + manifestType + " tag=v2 " + md.Encoded()[:8],
		"push team/app " + manifestType + " tag=v3 " + md.Encoded()[:8],
		"delete team/app tag=v2",
		"delete team/app " + md.Encoded()[:8],
		"delete team/app " + ld.Encoded()[:8],
	}
	evs := h.wait(t, len(want))
	var got []string
	for _, ev := range evs {
		if ev.Target.Repository == "team/app" {
			got = append(got, describe(ev))
		}
	}
	for _, ev := range evs {
		if ev.Target.Repository == "other" {
			got = append(got[:5:5], append([]string{describe(ev)}, got[5:]...)...)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	ids := map[string]bool{}
	for _, ev := range evs {
		if ids[ev.ID] || ev.Source.InstanceID == "" || ev.Timestamp.IsZero() || ev.Actor.Name != "" {
			t.Errorf("event id, source, timestamp or actor: %+v", ev)
		}
		ids[ev.ID] = true
		switch ev.Request.ID {
		case "step-0":
			tg := ev.Target
			if tg.Size != int64(len(m)) || tg.Length != tg.Size || tg.URL != "http://example.com/v2/team/app/manifests/"+md.String() ||
				len(tg.References) != 2 || tg.References[0].Digest != cd || tg.References[1].Digest != ld ||
				ev.Request.Method != "GET" || ev.Request.UserAgent != "events-test/1" || ev.Request.Host != "example.com" {
				t.Errorf("manifest pull event: %+v", ev)
			}
		case "step-5":
			if ev.Target.URL != "http://example.com/v2/other/blobs/"+ld.String() || ev.Request.Method != "POST" {
				t.Errorf("mount event: %+v", ev)
			}
		}
	}
}

// A receiver that hangs never delays the API: pushes and pulls are
// answered while it provably holds a delivery, and their events arrive
// once it lets go.
func TestNotificationsReceiverHangs(t *testing.T) {
	h := newHook(t, true)
	app, _ := newApp(t, registry.WithNotifier(openQueue(t, h.srv.URL), false))
	pushImage(t, app, "a", "v1", "")
	<-h.held // the first push's delivery is held
	for i := range 5 {
		pushImage(t, app, fmt.Sprintf("b%d", i), "v1", "")
		if rec := do(t, app, "GET", "/v2/a/manifests/v1", nil); rec.Code != 200 {
			t.Fatalf("pull: %d", rec.Code)
		}
	}
	select {
	case <-h.gate:
		t.Fatal("the receiver let go before the requests were answered")
	default:
	}
	close(h.gate)
	h.wait(t, 3+5*3+5)
}

// When the events cannot be queued, the change stands but the request
// fails with 503, for the client to retry.
func TestNotificationsQueueFailure(t *testing.T) {
	h := newHook(t, false)
	q := openQueue(t, h.srv.URL)
	app, _ := newApp(t, registry.WithNotifier(q, false))
	pushImage(t, app, "a", "v1", "")
	q.Close()
	rec := do(t, app, "DELETE", "/v2/a/manifests/v1", nil)
	if rec.Code != http.StatusServiceUnavailable || errorCode(t, rec) != "UNAVAILABLE" {
		t.Fatalf("delete with the queue closed: %d %s", rec.Code, rec.Body)
	}
	if rec := do(t, app, "GET", "/v2/a/manifests/v1", nil); rec.Code != http.StatusNotFound {
		t.Errorf("the tag's delete did not stand: %d", rec.Code)
	}
	if rec := do(t, app, "GET", "/v2/a/tags/list", nil); rec.Code != http.StatusOK {
		t.Errorf("a pull with the queue closed: %d %s", rec.Code, rec.Body)
	}
}

// Event URLs follow http.prefix and http.host, as Location headers do.
func TestNotificationURLs(t *testing.T) {
	for _, c := range []struct {
		opts []registry.Option
		want string
	}{
		{[]registry.Option{registry.WithPrefix("/r/")}, "http://example.com/r/v2/a/blobs/"},
		{[]registry.Option{registry.WithPrefix("/r"), registry.WithBaseURL("https://registry.example")}, "https://registry.example/r/v2/a/blobs/"},
	} {
		h := newHook(t, false)
		app, _ := newApp(t, append(c.opts, registry.WithNotifier(openQueue(t, h.srv.URL), false))...)
		content := []byte("blob")
		d := digest.FromBytes(content)
		if rec := do(t, app, "POST", "/r/v2/a/blobs/uploads/?digest="+d.String(), content); rec.Code != http.StatusCreated {
			t.Fatalf("push: %d %s", rec.Code, rec.Body)
		}
		if got := h.wait(t, 1)[0].Target.URL; got != c.want+d.String() {
			t.Errorf("url %q, want %q", got, c.want+d.String())
		}
	}
}
