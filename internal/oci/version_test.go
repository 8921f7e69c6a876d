package oci

import "testing"

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.10", "1.9", 1},
		{"v1.2.3", "1.2.3", 0},
		{"1.2", "1.2.0", 0},
		{"2.0.0-rc1", "2.0.0", -1},
		{"2.0.0-rc2", "2.0.0-rc10", -1}, // digit runs compare as numbers
		{"2.0.0-rc.2", "2.0.0-rc.10", -1},
		{"12", "11.9", 1},
		{"1.0", "1.0a", -1},
		{"bookworm", "bullseye", -1},
	} {
		if got := CompareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := CompareVersions(tc.b, tc.a); got != -tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
}
