package registry_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/registry"
)

// fakeClock is a clock tests move.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// message is the first error message of a response.
func message(t *testing.T, body []byte) string {
	t.Helper()
	var b struct{ Errors []struct{ Message string } }
	if json.Unmarshal(body, &b) != nil || len(b.Errors) == 0 {
		t.Fatalf("no error in %s", body)
	}
	return b.Errors[0].Message
}

// TestQuotaTwoNodesS3 runs two nodes over one S3 bucket. Within one
// refresh interval a node does not see what the other pushed: usage can
// pass the byte limit by at most what the other node accepted in that
// interval (here exactly by it, the worst case), never by what the node
// accepted itself. Once the interval has passed both nodes refuse the
// same pushes with the same message, agree with a walk of the storage,
// and see a delete made on either.
func TestQuotaTwoNodesS3(t *testing.T) {
	drv := s3test.NewDriver(t)
	clock := &fakeClock{now: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
	const limit = 10000
	node := func() *registry.App {
		app, err := registry.New(context.Background(), drv, registry.WithDelete(true), registry.WithClock(clock.Now),
			withQuotas(t, "quotas:\n  - namespace: team/\n    maxbytes: 10000\n    maxrepositories: 3\n    refresh: 1m\n"))
		if err != nil {
			t.Fatal(err)
		}
		return app
	}
	a, b := node(), node()

	// Both nodes take their snapshot of the empty namespace.
	pushBlob(t, a, "team/a", blobOf(100, "a0"))
	pushBlob(t, b, "team/b", blobOf(100, "b0"))
	clock.Add(30 * time.Second)

	// A accepts 6000 bytes; B, within the interval, does not see them and
	// accepts 6000 more.
	accepted := map[string]int64{}
	for _, n := range []struct {
		name string
		app  *registry.App
	}{{"a", a}, {"b", b}} {
		pushBlob(t, n.app, "team/"+n.name, blobOf(6000, n.name+"6"))
		accepted[n.name] += 6000
	}
	walk := usageOf(t, a, "team/") // the endpoint walks (and refreshes a's figures)
	overshoot := walk.Bytes - limit
	if walk.Bytes != 12200 || overshoot <= 0 || overshoot > accepted["a"] {
		t.Fatalf("usage %d: overshoot %d, want within (0, %d], what the other node accepted in the interval", walk.Bytes, overshoot, accepted["a"])
	}
	// A node's own pushes count at once: B refuses what would pass the
	// limit by its own figures, before the interval ends.
	more := blobOf(4000, "b4")
	rec := do(t, b, "POST", "/v2/team/b/blobs/uploads/?digest="+digest.FromBytes(more).String(), more)
	denied(t, "node b past its own figures", rec, "namespace team/: 6.1 KiB used + 3.9 KiB new = 10 KiB, over 9.8 KiB (policies.quotas[0].maxbytes)")

	// After the interval both nodes see 12200 bytes and refuse alike.
	clock.Add(time.Minute)
	var msgs []string
	for _, app := range []*registry.App{a, b} {
		rec := do(t, app, "POST", "/v2/team/a/blobs/uploads/", nil)
		denied(t, "upload start over the limit", rec, "namespace team/: 11.9 KiB used of 9.8 KiB (policies.quotas[0].maxbytes)")
		msgs = append(msgs, message(t, rec.Body.Bytes()))
		requireWalk(t, app, drv, "team/")
	}
	if msgs[0] != msgs[1] {
		t.Fatalf("the nodes disagree: %q, %q", msgs[0], msgs[1])
	}

	// A delete on one node frees the space on both at their next walk.
	if rec := do(t, a, "DELETE", "/v2/team/b/blobs/"+digest.FromBytes(blobOf(6000, "b6")).String(), nil); rec.Code != http.StatusAccepted {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	clock.Add(time.Minute)
	pushBlob(t, b, "team/b", blobOf(1000, "b1"))
	pushBlob(t, a, "team/c", blobOf(1000, "c1"))

	// Repositories: three exist; a fourth is refused by both nodes alike.
	clock.Add(time.Minute)
	msgs = msgs[:0]
	for _, app := range []*registry.App{a, b} {
		rec := do(t, app, "POST", "/v2/team/d/blobs/uploads/", nil)
		denied(t, "fourth repository", rec, "namespace team/: 3 repositories of 3 (policies.quotas[0].maxrepositories)")
		msgs = append(msgs, message(t, rec.Body.Bytes()))
	}
	if msgs[0] != msgs[1] {
		t.Fatalf("the nodes disagree: %q, %q", msgs[0], msgs[1])
	}
	if u := requireWalk(t, b, drv, "team/"); u.Bytes != 8200 || u.Repositories != 3 {
		t.Fatalf("usage %+v, want 8200 bytes in 3 repositories", u)
	}
}
