package mirror

import (
	"slices"
	"strings"
	"testing"
)

func TestSemverCompare(t *testing.T) {
	// Each version is lower than the next (Semantic Versioning 2.0, §11).
	ordered := []string{
		"0.9", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
		"1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "v1.0.1", "1.2", "1.10.0", "1.10.0.1", "1.10.0.10", "2", "10.0.0",
	}
	for i := range len(ordered) - 1 {
		a, okA := parseSemver(ordered[i])
		b, okB := parseSemver(ordered[i+1])
		if !okA || !okB {
			t.Fatalf("parse %q, %q: %v %v", ordered[i], ordered[i+1], okA, okB)
		}
		if a.compare(b) != -1 || b.compare(a) != 1 {
			t.Errorf("%s < %s does not hold", ordered[i], ordered[i+1])
		}
	}
	for _, eq := range [][2]string{{"1.2", "1.2.0"}, {"v1", "1.0.0"}, {"1.0.0+build.5", "1.0.0"}, {"1.2.3.0", "1.2.3"}} {
		a, _ := parseSemver(eq[0])
		b, _ := parseSemver(eq[1])
		if a.compare(b) != 0 {
			t.Errorf("%s == %s does not hold", eq[0], eq[1])
		}
	}
	for _, bad := range []string{"latest", "1..2", "1.2.3.x", "stable-slim", "", "v", "1.", "1.x", "1.0.0-", "1.0.0-a..b", "-1"} {
		if _, ok := parseSemver(bad); ok {
			t.Errorf("parseSemver(%q) accepted", bad)
		}
	}
}

func TestSemverRange(t *testing.T) {
	for _, tc := range []struct {
		rng       string
		match, no string // space-separated versions
	}{
		{">=1.2 <2", "1.2 1.2.0 1.9.9 v1.5", "1.1.9 2 2.0.0 1.5.0-rc1"},
		{">= 1.2, < 2", "1.2.0 1.9.9", "1.1 2.0.0"},
		{"1.2", "1.2.0 1.2.7", "1.3.0 1.1.9"},
		{"=1.2.3", "1.2.3", "1.2.4 1.2.3-rc1"},
		{"1.x", "1.0.0 1.9.3", "2.0.0 0.9.0"},
		{"1.2.*", "1.2.0 1.2.9", "1.3.0"},
		{"*", "0.0.1 99.0.0", "1.0.0-rc1"},
		{">1.2", "1.3.0", "1.2.9 1.2.0"},
		{">1.2.3", "1.2.4", "1.2.3"},
		{"<=1.2", "1.2.9 0.1.0", "1.3.0"},
		{"<=1.2.3", "1.2.3", "1.2.4"},
		{"!=1.2.3", "1.2.4 1.2.2", "1.2.3"},
		{"~1.2", "1.2.0 1.2.99", "1.3.0"},
		{"~1.2.3", "1.2.3 1.2.9", "1.2.2 1.3.0"},
		{"~1", "1.0.0 1.9.0", "2.0.0"},
		{"^1.2", "1.2.0 1.99.0", "2.0.0 1.1.0"},
		{"^0.2.3", "0.2.3 0.2.9", "0.3.0"},
		{"^0.0.3", "0.0.3", "0.0.4"},
		{"^0", "0.9.9", "1.0.0"},
		{"<1 || >=3", "0.5.0 3.0.0 4.1.0", "1.0.0 2.9.9"},
		// A range that names a prerelease admits prereleases.
		{">=1.5.0-rc1 <2", "1.5.0-rc1 1.5.0-rc2 1.5.0 1.6.0-beta", "1.5.0-alpha 1.4.0"},
	} {
		checkRange(t, tc.rng, tc.match, tc.no)
	}
	for _, bad := range []string{"", ">=y", "=>1.2", "1.2 ||", "!=1.2", ">=1.2-rc1", "<*"} {
		if _, err := parseSemverRange(bad); err == nil {
			t.Errorf("parseSemverRange(%q) accepted", bad)
		}
	}
}

// checkRange checks that the range rng matches the versions of match and
// none of no (space-separated).
func checkRange(t *testing.T, rng, match, no string) {
	t.Helper()
	r, err := parseSemverRange(rng)
	if err != nil {
		t.Errorf("parseSemverRange(%q): %v", rng, err)
		return
	}
	for _, s := range strings.Fields(match) {
		if v, ok := parseSemver(s); !ok || !r.match(v) {
			t.Errorf("%q should match %s", rng, s)
		}
	}
	for _, s := range strings.Fields(no) {
		if v, ok := parseSemver(s); ok && r.match(v) {
			t.Errorf("%q should not match %s", rng, s)
		}
	}
}

func TestTagFilter(t *testing.T) {
	tags := []string{
		"latest", "1.0", "1.1", "1.2.0", "1.10.0", "1.2.1-rc1", "2.0", "2.1-alpine", "stable",
		"2024-01-05", "2024-03-01", "2023-12-31",
		"sha256-" + strings.Repeat("ab", 32), // referrers tag schema: never a tag to copy
	}
	for _, tc := range []struct {
		name string
		tags Tags
		want []string
	}{
		{"everything but the referrers tag", Tags{},
			[]string{"1.0", "1.1", "1.10.0", "1.2.0", "1.2.1-rc1", "2.0", "2.1-alpine", "2023-12-31", "2024-01-05", "2024-03-01", "latest", "stable"}},
		{"allow", Tags{Allow: List{`^1\.`, "^latest$"}}, []string{"1.0", "1.1", "1.10.0", "1.2.0", "1.2.1-rc1", "latest"}},
		{"allow then deny", Tags{Allow: List{`^1\.`}, Deny: List{"-rc"}}, []string{"1.0", "1.1", "1.10.0", "1.2.0"}},
		{"semver", Tags{Semver: ">=1.1 <2"}, []string{"1.1", "1.2.0", "1.10.0"}},
		{"newest by semver: releases only", Tags{Newest: 2}, []string{"1.10.0", "2.0"}},
		{"newest by semver in a range", Tags{Semver: "*", Newest: 3}, []string{"1.2.0", "1.10.0", "2.0"}},
		{"newest by tag order", Tags{Allow: List{`^\d{4}-\d\d-\d\d$`}, Newest: 2, Order: OrderTag}, []string{"2024-01-05", "2024-03-01"}},
		{"semver range and newest", Tags{Semver: "<2", Newest: 2}, []string{"1.2.0", "1.10.0"}},
		{"deny all", Tags{Deny: List{"."}}, nil},
	} {
		f, err := compileTags(tc.tags)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := f.apply(tags); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// Prereleases (and date tags, which read as 2024.0.0-01-05) are never
	// the newest unless the range names a prerelease.
	if f, _ := compileTags(Tags{Newest: 1}); !slices.Equal(f.apply([]string{"1.0", "1.1", "2.0-rc1", "2024-01-05"}), []string{"1.1"}) {
		t.Error("newest by semver took a prerelease")
	}
	if f, _ := compileTags(Tags{Semver: ">=2.0.0-rc1", Newest: 1}); !slices.Equal(f.apply([]string{"1.1", "2.0-rc1"}), []string{"2.0-rc1"}) {
		t.Error("newest in a range naming a prerelease should take it")
	}
}
