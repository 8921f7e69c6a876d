package crash

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// TestCrashFilesystem kills "registry serve" on the filesystem driver with
// SIGKILL at a random moment of a push storm, 20 times, restarting it on
// the same root each time. After every restart, all that was acknowledged
// must pull with its digests and the store must be consistent, with no
// repair: the restarted registry serves the root as the crash left it.
func TestCrashFilesystem(t *testing.T) {
	if testing.Short() {
		t.Skip("20 crashes under load; not in -short")
	}
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 1<<32))
	root := filepath.Join(t.TempDir(), "data")
	cfg := writeConfig(t, filesystemStorage(root))
	drv, err := filesystem.New(root)
	if err != nil {
		t.Fatal(err)
	}
	ws := newWorkers(seed)
	n := startNode(t, cfg)
	var sum totals
	const rounds = 20
	for round := 1; round <= rounds; round++ {
		crashAt := 500*time.Millisecond + time.Duration(rng.Int64N(int64(2500*time.Millisecond)))
		t.Logf("round %d: SIGKILL after %v", round, crashAt.Round(time.Millisecond))
		var large *blob
		if round%5 == 1 {
			b := largeBlob(rng.Uint64(), largeSize)
			large = &b
		}
		before, _, _ := storm(newClient(n.URL), ws, large, crashAt, n.kill, 0)
		t.Logf("round %d: %d operations acknowledged before the kill", round, before)
		n = startNode(t, cfg)
		checkRound(t, round, newClient(n.URL), drv, ws, &sum)
	}
	sum.log(t)
	n.checkLog(t)
}

// TestCrashFilesystemMidUpload kills the registry in the middle of a PATCH
// and finishes the upload on the registry restarted over the same root
// (killMidUpload): acknowledged chunks survive the crash.
func TestCrashFilesystemMidUpload(t *testing.T) {
	cfg := writeConfig(t, filesystemStorage(filepath.Join(t.TempDir(), "data")))
	killMidUpload(t, startNode(t, cfg), func() *node { return startNode(t, cfg) })
}
