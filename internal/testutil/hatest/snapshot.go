package hatest

import (
	"testing"

	"github.com/berth-registry/berth/internal/testutil"
)

// Snapshot describes every file of the store at root but its lock file:
// path and content hash. Two equal snapshots mean an unchanged store.
func Snapshot(t testing.TB, root string) string {
	t.Helper()
	return testutil.SnapshotDir(t, root, "lock")
}
