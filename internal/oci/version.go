package oci

import (
	"strconv"
	"strings"
)

// CompareVersions orders version strings the way people read them: a
// leading "v" is ignored, dot-separated numeric parts compare as numbers
// (1.10 > 1.9; a missing part counts as 0; rc2 < rc10), and a pre-release after "-"
// comes before the release (1.0-rc1 < 1.0). Non-numeric parts compare as
// text. It returns -1, 0 or +1.
func CompareVersions(a, b string) int {
	a, b = strings.TrimPrefix(a, "v"), strings.TrimPrefix(b, "v")
	a, _, _ = strings.Cut(a, "+") // build metadata does not order
	b, _, _ = strings.Cut(b, "+")
	acore, apre, _ := strings.Cut(a, "-")
	bcore, bpre, _ := strings.Cut(b, "-")
	if c := compareParts(strings.Split(acore, "."), strings.Split(bcore, ".")); c != 0 {
		return c
	}
	switch {
	case apre == bpre:
		return 0
	case apre == "":
		return 1
	case bpre == "":
		return -1
	}
	return compareParts(strings.Split(apre, "."), strings.Split(bpre, "."))
}

func compareParts(a, b []string) int {
	for i := range max(len(a), len(b)) {
		x, y := "0", "0"
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		xn, xerr := strconv.ParseUint(x, 10, 64)
		yn, yerr := strconv.ParseUint(y, 10, 64)
		switch {
		case xerr == nil && yerr == nil:
			if xn != yn {
				if xn < yn {
					return -1
				}
				return 1
			}
		case xerr == nil: // numbers sort before words
			return -1
		case yerr == nil:
			return 1
		default:
			if c := compareNatural(x, y); c != 0 {
				return c
			}
		}
	}
	return 0
}

// compareNatural compares runs of digits as numbers and the rest as text:
// rc2 < rc10.
func compareNatural(a, b string) int {
	for a != "" && b != "" {
		ra, rb := run(a), run(b)
		an, aerr := strconv.ParseUint(ra, 10, 64)
		bn, berr := strconv.ParseUint(rb, 10, 64)
		switch {
		case aerr == nil && berr == nil && an != bn:
			if an < bn {
				return -1
			}
			return 1
		case (aerr == nil) != (berr == nil) || ra != rb:
			if c := strings.Compare(ra, rb); c != 0 {
				return c
			}
		}
		a, b = a[len(ra):], b[len(rb):]
	}
	return strings.Compare(a, b)
}

// run is the leading run of s of digits, or of non-digits.
func run(s string) string {
	digit := func(c byte) bool { return c >= '0' && c <= '9' }
	i := 1
	for i < len(s) && digit(s[i]) == digit(s[0]) {
		i++
	}
	return s[:i]
}

// Version classes, lowest first: what CompareNewest ranks before the
// version itself.
const (
	NotAVersion = iota // latest, stable, "": no digit after an optional "v"
	PreRelease         // 1.0-rc1
	Release            // 1.0, v2.3.4
)

// VersionClass says whether s reads as a release, a prerelease or no
// version at all.
func VersionClass(s string) int {
	t := strings.TrimPrefix(s, "v")
	if t == "" || t[0] < '0' || t[0] > '9' {
		return NotAVersion
	}
	t, _, _ = strings.Cut(t, "+")
	if strings.Contains(t, "-") {
		return PreRelease
	}
	return Release
}

// CompareNewest orders tags or version labels by how new they are, the
// order in which find and sync pick "the newest": every release above
// every prerelease above every tag that is no version (so "latest" is
// never newer than "1.0"), then CompareVersions within a class (text order
// for non-versions).
func CompareNewest(a, b string) int {
	ca, cb := VersionClass(a), VersionClass(b)
	switch {
	case ca != cb:
		if ca < cb {
			return -1
		}
		return 1
	case ca == NotAVersion:
		return strings.Compare(a, b)
	}
	return CompareVersions(a, b)
}
