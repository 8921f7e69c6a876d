package notify_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/registry/notify"
)

func open(t *testing.T, dir string, eps ...notify.Endpoint) *notify.Queue {
	t.Helper()
	q, err := notify.Open(notify.Options{Dir: dir, Endpoints: eps, Source: notify.SourceRecord{Addr: "test:5000"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func endpoint(name, url string) notify.Endpoint {
	return notify.Endpoint{Name: name, URL: url, Threshold: 2, Backoff: 5 * 1e6, Timeout: 5 * 1e9}
}

// event i of repo, numbered in its tag.
func event(repo string, i int) notify.Event {
	return notify.Event{Action: notify.ActionPush, Target: notify.Target{Repository: repo, Tag: strconv.Itoa(i)}}
}

// push queues n events in each repo, one goroutine per repo, each waiting
// for its previous event to be queued, as requests in order would.
func push(t *testing.T, q *notify.Queue, repos []string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for _, repo := range repos {
		wg.Go(func() {
			for i := range n {
				if err := q.Notify(t.Context(), event(repo, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// byRepo returns each repository's event numbers in the order received,
// and how many were duplicates (an id received before).
func byRepo(t *testing.T, got []notify.Event) (map[string][]int, int) {
	t.Helper()
	seen := map[string]bool{}
	order := map[string][]int{}
	dups := 0
	for _, ev := range got {
		if seen[ev.ID] {
			dups++
			continue
		}
		seen[ev.ID] = true
		i, err := strconv.Atoi(ev.Target.Tag)
		if err != nil {
			t.Fatalf("event %+v", ev)
		}
		order[ev.Target.Repository] = append(order[ev.Target.Repository], i)
	}
	return order, dups
}

// requireInOrder checks that every repo got 0..n-1, in that order.
func requireInOrder(t *testing.T, order map[string][]int, repos []string, n int) {
	t.Helper()
	for _, repo := range repos {
		got := order[repo]
		if len(got) != n {
			t.Errorf("%s: %d events, want %d", repo, len(got), n)
		}
		for i, v := range got {
			if v != i {
				t.Errorf("%s: event %d arrived in place %d: %v", repo, v, i, got)
				break
			}
		}
	}
}

// A receiver that fails for a while then recovers gets every event, each
// once, in order per repository.
func TestReceiverFailsThenRecovers(t *testing.T) {
	rc := newReceiver(t, func(_ notify.Event, attempt int) int {
		if attempt <= 15 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	q := open(t, t.TempDir(), endpoint("ci", rc.URL))
	repos := []string{"a", "b/c", "d"}
	push(t, q, repos, 30)
	got := rc.waitDistinct(t, 90)
	order, dups := byRepo(t, got)
	requireInOrder(t, order, repos, 30)
	if dups != 0 {
		t.Errorf("%d duplicates without a restart", dups)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.attempts <= 90 {
		t.Errorf("%d attempts: the receiver's failures were not retried", rc.attempts)
	}
}

// A repository whose events fail does not hold back another's.
func TestRepositoriesIndependent(t *testing.T) {
	rc := newReceiver(t, func(ev notify.Event, _ int) int {
		if ev.Target.Repository == "stuck" {
			return 0 // blocks until unblock
		}
		return http.StatusOK
	})
	q := open(t, t.TempDir(), endpoint("ci", rc.URL))
	push(t, q, []string{"stuck", "free"}, 10)
	<-rc.blocked // stuck's first event is held by the receiver
	order, _ := byRepo(t, rc.waitDistinct(t, 10))
	if len(order["stuck"]) != 0 {
		t.Fatalf("stuck got %v while its first delivery hangs", order["stuck"])
	}
	requireInOrder(t, order, []string{"free"}, 10)
	rc.unblock()
	order, _ = byRepo(t, rc.waitDistinct(t, 20))
	requireInOrder(t, order, []string{"stuck", "free"}, 10)
}

// A registry stopped while events are pending, its queue reopened by the
// next one on the same directory: nothing lost, and nothing comes twice but
// the deliveries in flight at the stop, with their ids.
//
// What the design allows, derived: a queue sends a repository's events one
// at a time, in order, and records each in its ack log on the 2xx answer,
// before sending the next. When Close stops the first queue, a repository
// has events 0..k-1 acknowledged and at most event k in flight. Close
// abandons that attempt, which may have reached the receiver: held there
// (its answer never arrives), or processed after Close cancelled it (the
// receiver's handler runs when it gets the CPU, possibly once the stop is
// over). The second queue sends k..n-1. So, per repository, the two
// queues' deliveries overlap in one event at most, the last of the first
// and the first of the second; a held event is always sent again.
func TestRestartMidDelivery(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	hang := true
	rc := newReceiver(t, func(_ notify.Event, attempt int) int {
		mu.Lock()
		defer mu.Unlock()
		if hang && attempt > 12 {
			return -1
		}
		return http.StatusOK
	})
	ep1, ep2 := endpoint("ci", rc.URL), endpoint("ci", rc.URL)
	ep1.Headers, ep2.Headers = http.Header{"X-Sender": {"1"}}, http.Header{"X-Sender": {"2"}}
	ep1.Timeout = time.Minute // no retry: only the stop ends a held attempt
	q1, err := notify.Open(notify.Options{Dir: dir, Endpoints: []notify.Endpoint{ep1}})
	if err != nil {
		t.Fatal(err)
	}
	repos := []string{"a", "b"}
	push(t, q1, repos, 25)
	held := []notify.Event{<-rc.blocked} // a delivery is in flight, held by the receiver
	if _, err := notify.Open(notify.Options{Dir: dir}); err == nil {
		t.Fatal("a second queue opened the directory in use")
	}
	if err := q1.Close(); err != nil {
		t.Fatal(err)
	}
	before := len(rc.got())
	mu.Lock()
	hang = false
	mu.Unlock()
	open(t, dir, ep2)
	rc.waitDistinct(t, 50)
	for len(rc.blocked) > 0 { // before got: a held event is accepted first
		held = append(held, <-rc.blocked)
	}
	got, senders := rc.gotWithSenders()
	order, dups := byRepo(t, got)
	requireInOrder(t, order, repos, 25)
	t.Logf("%d events processed before the restart, %d deliveries in all, %d duplicates (%d held at the stop)", before, len(got), dups, len(held))
	if before == 0 || before >= 50 {
		t.Errorf("%d delivered before the restart: the stop did not happen mid-delivery", before)
	}
	sent := map[string]map[string][]int{"1": {}, "2": {}} // by sender, repository: event numbers in arrival order
	for i, ev := range got {
		n, _ := strconv.Atoi(ev.Target.Tag)
		sent[senders[i]][ev.Target.Repository] = append(sent[senders[i]][ev.Target.Repository], n)
	}
	for _, repo := range repos {
		first, second := sent["1"][repo], sent["2"][repo]
		k := 25 - len(second) // the first event the second queue sent, if in order
		if !isRun(first, 0) || !isRun(second, k) || k > len(first) || k < len(first)-1 {
			t.Errorf("%s: the first queue delivered %v, the second %v: want 0..j then j or j+1..24", repo, first, second)
		}
		for _, ev := range held {
			if n, _ := strconv.Atoi(ev.Target.Tag); ev.Target.Repository == repo && (len(second) == 0 || second[0] != n) {
				t.Errorf("%s: event %d, held at the stop, was not sent again first: %v", repo, n, second)
			}
		}
	}
}

// isRun tells whether s is from, from+1, ...
func isRun(s []int, from int) bool {
	for i, v := range s {
		if v != from+i {
			return false
		}
	}
	return true
}

// The tail of a crash mid-commit (a torn frame) is cut at the next open;
// the events before it are all delivered.
func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	dead := endpoint("ci", "http://127.0.0.1:1/") // refuses connections
	q1 := open(t, dir, dead)
	push(t, q1, []string{"a"}, 5)
	q1.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) == 0 {
		t.Fatal("no segment")
	}
	f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte{0, 0, 1, 0, 9, 9}) // half a frame header and nothing after
	f.Close()
	rc := newReceiver(t, nil)
	q2 := open(t, dir, endpoint("ci", rc.URL))
	order, _ := byRepo(t, rc.waitDistinct(t, 5))
	requireInOrder(t, order, []string{"a"}, 5)
	push(t, q2, []string{"a"}, 1) // appends after the cut, in a new segment
	rc.waitDistinct(t, 6)
}

// A receiver that hangs: Notify returns while it provably holds a
// delivery, and everything arrives once it recovers.
func TestReceiverHangs(t *testing.T) {
	rc := newReceiver(t, func(notify.Event, int) int { return 0 })
	q := open(t, t.TempDir(), endpoint("ci", rc.URL))
	if err := q.Notify(t.Context(), event("a", 0)); err != nil {
		t.Fatal(err)
	}
	<-rc.blocked
	push(t, q, []string{"a", "b"}, 20) // returns with the receiver blocked
	select {
	case <-rc.release:
		t.Fatal("released early")
	default:
	}
	rc.unblock()
	rc.waitDistinct(t, 40)
}

// Filters apply per endpoint, headers are sent, and an event no endpoint
// takes is not queued.
func TestFiltersAndHeaders(t *testing.T) {
	all, noPull, noConfig := newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil)
	h := http.Header{"Authorization": {"Bearer s3cret"}, "X-Extra": {"1", "2"}}
	eAll := endpoint("all", all.URL)
	eAll.Headers = h
	eNoPull := endpoint("nopull", noPull.URL)
	eNoPull.IgnoredActions = []string{notify.ActionPull}
	eNoConfig := endpoint("noconfig", noConfig.URL)
	eNoConfig.IgnoredMediaTypes = []string{"application/vnd.oci.image.config.v1+json", notify.BlobMediaType}
	q := open(t, t.TempDir(), eAll, eNoPull, eNoConfig)
	evs := []notify.Event{
		{Action: notify.ActionPush, Target: notify.Target{Repository: "r", Tag: "0"}},
		{Action: notify.ActionPull, Target: notify.Target{Repository: "r", Tag: "1"}},
		{Action: notify.ActionPush, Target: notify.Target{Repository: "r", Tag: "2"}},
		{Action: notify.ActionMount, Target: notify.Target{Repository: "r", Tag: "3"}},
	}
	evs[2].Target.MediaType = "application/vnd.oci.image.config.v1+json"
	evs[3].Target.MediaType = notify.BlobMediaType
	if err := q.Notify(t.Context(), evs...); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rc   *receiver
		want []int
	}{{all, []int{0, 1, 2, 3}}, {noPull, []int{0, 2, 3}}, {noConfig, []int{0, 1}}} {
		order, _ := byRepo(t, c.rc.waitDistinct(t, len(c.want)))
		if fmt.Sprint(order["r"]) != fmt.Sprint(c.want) {
			t.Errorf("received %v, want %v", order["r"], c.want)
		}
	}
	all.mu.Lock()
	got := all.headers[0]
	all.mu.Unlock()
	if got.Get("Authorization") != "Bearer s3cret" || fmt.Sprint(got.Values("X-Extra")) != "[1 2]" {
		t.Errorf("headers sent: %v", got)
	}
}

// Reopening keeps sequence numbers going forward: an empty queue reopens,
// and events queued after several restarts are all delivered.
func TestReopenEmpty(t *testing.T) {
	dir := t.TempDir()
	rc := newReceiver(t, nil)
	ep := endpoint("ci", rc.URL)
	for i := range 3 {
		q, err := notify.Open(notify.Options{Dir: dir, Endpoints: []notify.Endpoint{ep}})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if i > 0 {
			push(t, q, []string{"a"}, 2)
			rc.waitDistinct(t, 2*i)
		}
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(segs) != 1 {
		t.Errorf("segments left: %v, want the one being written", segs)
	}
}
