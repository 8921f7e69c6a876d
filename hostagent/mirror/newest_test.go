package mirror

import (
	"slices"
	"testing"

	"github.com/berth-registry/berth/internal/oci"
)

// TestSyncNewestIsFindNewest: among tags that are releases, prereleases
// and no versions at all, the one a rule with newest: 1 copies is the one
// find shows as the newest (the greatest by oci.CompareNewest).
func TestSyncNewestIsFindNewest(t *testing.T) {
	for _, tags := range [][]string{
		{"latest", "1.0", "0.9"},
		{"1.2.0", "latest", "2.0.0-rc1", "stable", "1.10.0"},
		{"v3", "3.0.1", "edge", "3.1.0-beta.2"},
		{"zzz", "1.0.0", "0.0.1"},
	} {
		f := &tagFilter{newest: 1, order: OrderSemver}
		sync := f.apply(tags)
		find := slices.MaxFunc(tags, oci.CompareNewest)
		if len(sync) != 1 || sync[0] != find {
			t.Errorf("tags %q: sync copies %q, find shows %q as the newest", tags, sync, find)
		}
	}
}
