package mirror

import (
	"slices"
	"testing"

	"github.com/berth-registry/berth/internal/oci"
)

// TestSyncRanksAsFind: the newest tags of a rule are the newest that find
// shows: both order versions with oci.CompareVersions.
func TestSyncRanksAsFind(t *testing.T) {
	tags := []string{"2.0.0-rc10", "2.0.0-rc2", "1.10.0", "1.9", "v2.0.0", "2.0.0-rc.10", "2.0.0-rc.2", "1.0.0+build.7", "0.9.1"}
	byFind := slices.Clone(tags)
	slices.SortStableFunc(byFind, oci.CompareVersions)
	bySync := slices.Clone(tags)
	slices.SortStableFunc(bySync, func(a, b string) int {
		va, _ := parseSemver(a)
		vb, _ := parseSemver(b)
		return va.compare(vb)
	})
	if !slices.Equal(byFind, bySync) {
		t.Errorf("find orders %q, sync %q", byFind, bySync)
	}
	f := &tagFilter{semver: mustRange(t, ">=2.0.0-rc1"), newest: 1, order: OrderSemver}
	if got := f.apply([]string{"2.0.0-rc2", "2.0.0-rc10"}); !slices.Equal(got, []string{"2.0.0-rc10"}) {
		t.Errorf("newest of rc2 and rc10: %q, want rc10", got)
	}
}

func mustRange(t *testing.T, s string) *semverRange {
	t.Helper()
	r, err := parseSemverRange(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
