package crash

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testutil/s3test"
	berths3 "github.com/berth-registry/berth/storagedriver/s3"
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
		var large *blob
		if round%2 == 1 {
			b := largeBlob(rng.Uint64(), largeSize)
			large = &b
		}
		c := newClient(n.URL)
		before, during, after := storm(c, ws, large, crashAt, func() {
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
// a PATCH, and finishes the upload on node B (killMidUpload).
func TestCrashS3NodeKilledMidUpload(t *testing.T) {
	srv, root := s3test.NewRoot(t)
	cfg := writeConfig(t, s3Storage(srv.Params(s3test.Bucket, root)))
	a, b := startNode(t, cfg), startNode(t, cfg)
	killMidUpload(t, a, func() *node { return b })
}
