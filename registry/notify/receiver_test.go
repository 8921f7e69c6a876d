package notify_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/registry/notify"
)

// receiver is a webhook endpoint that records what it accepts. Its
// behaviour per request is decide's answer: a status, or block until the
// request is cancelled or release is closed (0), or record the event then
// block (-1: the receiver processed it but its answer never arrives).
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	accepted []notify.Event // in the order accepted
	senders  []string       // the X-Sender header of each accepted request
	attempts int
	headers  []http.Header
	decide   func(ev notify.Event, attempt int) int // 0, -1: block
	release  chan struct{}
	blocked  chan notify.Event // a request that blocks is sent here first
}

func newReceiver(t *testing.T, decide func(ev notify.Event, attempt int) int) *receiver {
	rc := &receiver{decide: decide, release: make(chan struct{}), blocked: make(chan notify.Event, 64)}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(func() {
		rc.mu.Lock()
		select {
		case <-rc.release:
		default:
			close(rc.release)
		}
		rc.mu.Unlock()
		rc.Close()
	})
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var env notify.Envelope
	if err := json.Unmarshal(b, &env); err != nil || len(env.Events) != 1 || r.Header.Get("Content-Type") != notify.MediaType {
		http.Error(w, "bad envelope", http.StatusBadRequest)
		return
	}
	ev := env.Events[0]
	rc.mu.Lock()
	rc.attempts++
	n := rc.attempts
	rc.headers = append(rc.headers, r.Header.Clone())
	status := http.StatusAccepted
	if rc.decide != nil {
		status = rc.decide(ev, n)
	}
	rc.mu.Unlock()
	if status == -1 {
		rc.accept(ev, r)
	}
	if status <= 0 {
		rc.blocked <- ev
		select {
		case <-rc.release:
			status = http.StatusAccepted
		case <-r.Context().Done():
			return
		}
	}
	if status < 300 && status != -1 {
		rc.accept(ev, r)
	}
	w.WriteHeader(status)
}

func (rc *receiver) accept(ev notify.Event, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.accepted = append(rc.accepted, ev)
	rc.senders = append(rc.senders, r.Header.Get("X-Sender"))
}

// unblock lets blocked requests, and those that would block, succeed.
func (rc *receiver) unblock() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	select {
	case <-rc.release:
	default:
		close(rc.release)
	}
}

func (rc *receiver) got() []notify.Event {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]notify.Event(nil), rc.accepted...)
}

// gotWithSenders is got with the X-Sender header of each.
func (rc *receiver) gotWithSenders() ([]notify.Event, []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]notify.Event(nil), rc.accepted...), append([]string(nil), rc.senders...)
}

// waitDistinct waits until the receiver accepted n distinct event ids.
func (rc *receiver) waitDistinct(t *testing.T, n int) []notify.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := rc.got()
		ids := map[string]bool{}
		for _, ev := range got {
			ids[ev.ID] = true
		}
		if len(ids) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver accepted %d distinct events after 30s, want %d", len(ids), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
