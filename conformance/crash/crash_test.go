package crash

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

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
		all := append(got.problems, problems...)
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
