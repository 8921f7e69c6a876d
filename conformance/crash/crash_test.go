package crash

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/storagedriver"
)

// testSeed returns BERTH_CRASH_SEED, or a random seed; it is logged so a
// failing run can be replayed.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv("BERTH_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("BERTH_CRASH_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with BERTH_CRASH_SEED=%d)", seed, seed)
	return seed
}

// totals sums the rounds of one test.
type totals struct {
	rounds                       int
	acknowledged, verified, lost int
}

// checkRound verifies, after a crash, every worker's expectations through
// the registry at c and the whole store through drv; it logs the round's
// counts and fails the test, with every problem found, when anything was
// lost or broken.
func checkRound(t *testing.T, round int, c *client, drv storagedriver.Driver, ws []*worker, sum *totals) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	got := verifyLedger(ctx, c, ws)
	st, problems, err := checkStore(ctx, drv)
	if err != nil {
		t.Fatalf("round %d: walking the store: %v", round, err)
	}
	acked, large := 0, 0
	for _, w := range ws {
		acked += w.acked
		for _, b := range w.blobs {
			if b.size == largeSize {
				large++
			}
		}
	}
	sum.rounds++
	sum.acknowledged += got.acknowledged
	sum.verified += got.verified
	sum.lost += got.lost
	t.Logf("round %d: acknowledged %d, verified %d, lost %d (uncertain %d; %d operations acknowledged so far, %d of them 64 MiB blobs; store: %d blobs, %d manifests, %d tags, %d layer links)",
		round, got.acknowledged, got.verified, got.lost, got.uncertain, acked, large, st.blobs, st.manifests, st.tags, st.layerLinks)
	if got.lost > 0 || len(problems) > 0 {
		all := slices.Concat(got.problems, problems)
		if len(all) > 40 {
			all = append(all[:40], "...")
		}
		t.Fatalf("round %d: %d lost, %d store problems:\n%s", round, got.lost, len(problems), strings.Join(all, "\n"))
	}
}

func (s totals) log(t *testing.T) {
	t.Helper()
	t.Logf("total over %d rounds: acknowledged %d, verified %d, lost %d", s.rounds, s.acknowledged, s.verified, s.lost)
}

// killMidUpload starts a chunked upload of 24 MiB on node a (three PATCHes
// of 5 MiB acknowledged), kills a with SIGKILL in the middle of the fourth
// PATCH, and finishes the upload on the node takeOver returns (another node
// on the same storage, or a restarted one): it must report an offset that
// keeps every chunk a acknowledged, accept the rest from there, and
// publish a blob that hashes to the digest.
func killMidUpload(t *testing.T, a *node, takeOver func() *node) {
	ctx := t.Context()
	const size, chunk = 24 << 20, 5 << 20
	data := make([]byte, size)
	_, _ = rand.NewChaCha8([32]byte{'n', 'o', 'd', 'e'}).Read(data)
	d := digest.FromBytes(data)
	const repo = "crash/node"

	ca := newClient(a.URL)
	loc, err := ca.expect(ctx, http.StatusAccepted, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	acked := int64(0)
	for range 3 {
		loc, err = ca.expect(ctx, http.StatusAccepted, http.MethodPatch, loc, bytes.NewReader(data[acked:acked+chunk]), chunk,
			"Content-Type", "application/octet-stream", "Content-Range", contentRange(acked, chunk))
		if err != nil {
			t.Fatal(err)
		}
		acked += chunk
	}

	// A PATCH whose body the test feeds: a dies while reading it.
	body, feed := io.Pipe()
	patched := make(chan error, 1)
	go func() {
		_, err := ca.expect(ctx, http.StatusAccepted, http.MethodPatch, loc, body, -1, "Content-Type", "application/octet-stream")
		patched <- err
	}()
	const inFlight = 3 << 20
	if _, err := feed.Write(data[acked : acked+inFlight]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // for a to pass some of it on to storage
	a.kill()
	feed.CloseWithError(io.ErrUnexpectedEOF)
	if err := <-patched; err == nil {
		t.Fatal("the PATCH cut by the kill was acknowledged")
	}

	b := takeOver()
	cb := newClient(b.URL)
	resp, err := cb.do(ctx, http.MethodGet, loc, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	rng := resp.Header.Get("Range")
	last, err := strconv.ParseInt(strings.TrimPrefix(rng, "0-"), 10, 64)
	if resp.StatusCode != http.StatusNoContent || err != nil {
		t.Fatalf("upload status after the kill: %s, Range %q", resp.Status, rng)
	}
	offset := last + 1
	if offset < acked || offset > acked+inFlight {
		t.Fatalf("upload at offset %d after the kill; %d bytes were acknowledged and %d more sent", offset, acked, inFlight)
	}
	loc, err = cb.expect(ctx, http.StatusAccepted, http.MethodPatch, loc, bytes.NewReader(data[offset:]), size-offset,
		"Content-Type", "application/octet-stream", "Content-Range", contentRange(offset, size-offset))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cb.expect(ctx, http.StatusCreated, http.MethodPut, withDigest(loc, d), nil, 0); err != nil {
		t.Fatal(err)
	}
	if found, err := cb.checkBlob(ctx, repo, d, size); err != nil || !found {
		t.Fatalf("blob after the upload finished: found %v, %v", found, err)
	}
	b.checkLog(t)
	t.Logf("killed mid-PATCH after acknowledging %d bytes; resumed at %d and published %s", acked, offset, d)
}

func contentRange(start, n int64) string {
	return strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(start+n-1, 10)
}
