package mirror

import (
	"slices"
	"testing"

	"github.com/berth-registry/berth/internal/oci"
)

// TestFourPartNewestIsFindNewest: Windows tags have four components
// (10.0.17763.2061). The tag a rule with newest: 1 copies, alone or within
// a range, is the one find shows as the newest among the tags in that
// range.
func TestFourPartNewestIsFindNewest(t *testing.T) {
	tags := []string{"10.0.17763.1", "10.0.17763.2061", "10.0.20348.5", "latest"}
	for _, tc := range []struct {
		semver string
		lo, hi string // the same range for find: lo <= v < hi
		want   string
	}{
		{"", "", "", "10.0.20348.5"},
		{">=10.0.17763 <10.0.20000", "10.0.17763", "10.0.20000", "10.0.17763.2061"},
		{">=10.0.17763.2 <11", "10.0.17763.2", "11", "10.0.20348.5"},
		{"<10.0.17763.2061", "", "10.0.17763.2061", "10.0.17763.1"},
	} {
		f, err := compileTags(Tags{Semver: tc.semver, Newest: 1})
		if err != nil {
			t.Fatal(err)
		}
		var inRange []string
		for _, tag := range tags {
			if oci.VersionClass(tag) == oci.NotAVersion && tc.semver == "" ||
				(tc.lo == "" || oci.CompareVersions(tag, tc.lo) >= 0) && (tc.hi == "" || oci.CompareVersions(tag, tc.hi) < 0) {
				inRange = append(inRange, tag)
			}
		}
		find := slices.MaxFunc(inRange, oci.CompareNewest)
		if got := f.apply(tags); len(got) != 1 || got[0] != find || find != tc.want {
			t.Errorf("%q: sync copies %q, find shows %q, want %s", tc.semver, got, find, tc.want)
		}
	}
}

// TestFourPartRange: a tag with more components than a comparator is
// compared on the comparator's components (at least three): 10.0.17763.x
// lies within 10.0.17763, as 1.2.x within 1.2.
func TestFourPartRange(t *testing.T) {
	for _, tc := range []struct {
		rng       string
		match, no string
	}{
		{"10.0.17763", "10.0.17763 10.0.17763.0 10.0.17763.1 10.0.17763.2061", "10.0.17764.0 10.0.17762.9 10.0.20348.5"},
		{"10.0.17763.*", "10.0.17763.1 10.0.17763.2061", "10.0.20348.5"},
		{"<=10.0.17763", "10.0.17763.2061 10.0.14393.1", "10.0.17764 10.0.20348.5"},
		{">10.0.17763", "10.0.17764 10.0.20348.5", "10.0.17763 10.0.17763.2061"},
		{"<10.0.17763", "10.0.14393.9999", "10.0.17763.1"},
		{"!=10.0.17763", "10.0.20348.5", "10.0.17763.1"},
		{">=10.0.17763.100", "10.0.17763.100 10.0.17763.2061 10.0.20348.5", "10.0.17763.99 10.0.17763"},
		{"=10.0.17763.5", "10.0.17763.5 10.0.17763.5.0", "10.0.17763.50 10.0.17763"},
		{"~10.0", "10.0.17763.2061 10.0.20348.5", "10.1.0.0"},
		{"^10", "10.0.17763.2061", "11.0.0.1"},
		{">=10.0.17763.1-rc1 <10.0.17764", "10.0.17763.1-rc1 10.0.17763.2-rc1 10.0.17763.2", "10.0.17763.0-rc1 10.0.17763"},
	} {
		checkRange(t, tc.rng, tc.match, tc.no)
	}
}
