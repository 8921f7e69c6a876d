package oci

import (
	"slices"
	"testing"
)

func TestCompareNewest(t *testing.T) {
	tags := []string{"latest", "2.0.0-rc1", "1.9", "v1.10", "stable", "1.10.1", "0.1-beta", ""}
	slices.SortFunc(tags, CompareNewest)
	want := []string{"", "latest", "stable", "0.1-beta", "2.0.0-rc1", "1.9", "v1.10", "1.10.1"}
	if !slices.Equal(tags, want) {
		t.Errorf("sorted %q, want %q", tags, want)
	}
	for _, tc := range []struct {
		s    string
		want int
	}{{"latest", NotAVersion}, {"v", NotAVersion}, {"v2", Release}, {"1.0-rc1", PreRelease}, {"1.0+build-7", Release}, {"10.0.17763.1", Release}} {
		if got := VersionClass(tc.s); got != tc.want {
			t.Errorf("VersionClass(%q) = %d, want %d", tc.s, got, tc.want)
		}
	}
}
