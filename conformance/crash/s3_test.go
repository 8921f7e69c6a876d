package crash

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	berths3 "github.com/berth-registry/berth/storagedriver/s3"
	"github.com/berth-registry/berth/storagedriver/s3/s3test"
)

// s3Storage is the storage.s3 section of a config file for the driver
// parameters p (a server's s3test.Params).
func s3Storage(p berths3.Params) string {
	var b strings.Builder
	b.WriteString("  s3:\n")
	for _, kv := range [][2]string{
		{"regionendpoint", p.RegionEndpoint}, {"region", p.Region}, {"bucket", p.Bucket},
		{"rootdirectory", "/" + p.RootDirectory}, {"accesskey", p.AccessKey}, {"secretkey", p.SecretKey},
		{"forcepathstyle", "true"}, {"timeout", "5s"},
	} {
		fmt.Fprintf(&b, "    %s: %s\n", kv[0], quote(kv[1]))
	}
	return b.String()
}

// TestCrashS3 runs the push storm on the S3 driver and kills the S3 server
// (versitygw, SIGKILL) at a random moment, 5 times; it is restarted on the
// same port and data after a short outage, during which the registry
// answers errors (not acknowledgements), and the storm goes on. After each
// round all that was acknowledged must pull with its digests and the bucket,
// walked by a driver of the test's own, must be consistent.
func TestCrashS3(t *testing.T) {
	if testing.Short() {
		t.Skip("5 S3 server crashes under load; not in -short")
	}
	srv := s3test.Start(t)
	srv.CreateBucket(t, s3test.Bucket)
	p := srv.Params(s3test.Bucket, "crash")
	n := startNode(t, writeConfig(t, s3Storage(p)))
	drv, err := berths3.New(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1<<32))
	ws := newWorkers(seed)
	var sum totals
	const rounds = 5
	for round := 1; round <= rounds; round++ {
		crashAt := time.Second + time.Duration(rng.Int64N(int64(2000*time.Millisecond)))
		outage := 200*time.Millisecond + time.Duration(rng.Int64N(int64(800*time.Millisecond)))
		t.Logf("round %d: versitygw SIGKILLed after %v, down for %v", round, crashAt.Round(time.Millisecond), outage.Round(time.Millisecond))
		c := newClient(n.URL)
		before, during, after := storm(c, ws, round%2 == 1, crashAt, func() {
			srv.Stop()
			time.Sleep(outage)
			srv.Restart(t)
		}, 3*time.Second)
		t.Logf("round %d: %d operations acknowledged before the S3 crash, %d during the outage, %d after the restart; %d answers 503",
			round, before, during, after, c.unavailable.Load())
		checkRound(t, round, newClient(n.URL), drv, ws, &sum)
	}
	sum.log(t)
	n.checkLog(t)
}

// TestCrashS3NodeKilledMidUpload runs two registry nodes on one bucket,
// starts a chunked upload on node A, kills A with SIGKILL in the middle of
// a PATCH, and finishes the upload on node B: B reports an offset that
// keeps every chunk A acknowledged, accepts the rest from there, and the
// blob it publishes hashes to the digest.
func TestCrashS3NodeKilledMidUpload(t *testing.T) {
	srv, root := s3test.NewRoot(t)
	cfg := writeConfig(t, s3Storage(srv.Params(s3test.Bucket, root)))
	a, b := startNode(t, cfg), startNode(t, cfg)
	ctx := t.Context()

	const size, chunk = 24 << 20, 5 << 20
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{'n', 'o', 'd', 'e'}).Read(data)
	d := digest.FromBytes(data)
	const repo = "crash/node"

	ca, cb := newClient(a.URL), newClient(b.URL)
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

	// A PATCH whose body the test feeds: A dies while reading it.
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
	time.Sleep(200 * time.Millisecond) // for A to pass some of it on to S3
	a.kill()
	feed.CloseWithError(io.ErrUnexpectedEOF)
	if err := <-patched; err == nil {
		t.Fatal("the PATCH cut by the kill was acknowledged")
	}

	resp, err := cb.do(ctx, http.MethodGet, loc, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	rng := resp.Header.Get("Range")
	last, err := strconv.ParseInt(strings.TrimPrefix(rng, "0-"), 10, 64)
	if resp.StatusCode != http.StatusNoContent || err != nil {
		t.Fatalf("upload status on node B: %s, Range %q", resp.Status, rng)
	}
	offset := last + 1
	if offset < acked || offset > acked+inFlight {
		t.Fatalf("node B reports offset %d; node A acknowledged %d and was sent %d more", offset, acked, inFlight)
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
		t.Fatalf("blob after the upload finished on node B: found %v, %v", found, err)
	}
	b.checkLog(t)
	t.Logf("node A killed mid-PATCH after acknowledging %d bytes; node B resumed at %d and published %s", acked, offset, d)
}

func contentRange(start, n int64) string {
	return strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(start+n-1, 10)
}
