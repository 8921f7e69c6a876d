package mirror

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/oci"
)

// semver is a version read from a tag: an optional "v", one or more
// numeric components (a missing one counts as 0: "1.2" is 1.2.0; Windows
// tags have four, 10.0.17763.1234), an optional -prerelease and an
// optional +build (ignored in comparisons), ordered as internal/oci orders
// versions (see compare).
type semver struct {
	num []uint64 // the numeric components as written
	pre []string
}

// parseSemver reads s as a version; ok is false for tags that are not one
// (latest, 1..2, stable-slim).
func parseSemver(s string) (v semver, ok bool) {
	s = strings.TrimPrefix(s, "v")
	s, _, _ = strings.Cut(s, "+")
	core, pre, hasPre := strings.Cut(s, "-")
	if hasPre {
		if pre == "" {
			return v, false
		}
		v.pre = strings.Split(pre, ".")
		for _, id := range v.pre {
			if id == "" {
				return v, false
			}
		}
	}
	for _, n := range strings.Split(core, ".") {
		if n == "" || n[0] < '0' || n[0] > '9' {
			return v, false
		}
		x, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			return v, false
		}
		v.num = append(v.num, x)
	}
	return v, true
}

// compare orders a and b as oci.CompareVersions does, the order find
// uses too: numeric components as numbers, every one of them (10.0.17763.2
// < 10.0.17763.10), a release after its prereleases, prerelease
// identifiers numbers before words and digit runs as numbers (rc2 < rc10).
func (a semver) compare(b semver) int {
	return oci.CompareVersions(a.String(), b.String())
}

// compareAt compares v with a range's bound b on b's components only: a
// v with more (a fourth, as in 10.0.17763.1234) lies within b's family
// when its first ones are b's, as a 1.2.x lies within 1.2, and then counts
// as equal to b, unless its further components are all 0 (then it is b).
func (v semver) compareAt(b semver) int {
	n := len(b.num)
	if len(v.num) <= n {
		return v.compare(b)
	}
	head := semver{num: v.num[:n], pre: v.pre}
	if slices.ContainsFunc(v.num[n:], func(x uint64) bool { return x != 0 }) {
		head.pre = nil // 1.2.3.4-rc1 is past 1.2.3 itself
	}
	return head.compare(b)
}

// String writes v as MAJOR.MINOR.PATCH[.MORE...][-PRERELEASE].
func (v semver) String() string {
	parts := make([]string, max(3, len(v.num)))
	for i := range parts {
		parts[i] = "0"
		if i < len(v.num) {
			parts[i] = strconv.FormatUint(v.num[i], 10)
		}
	}
	s := strings.Join(parts, ".")
	if len(v.pre) > 0 {
		s += "-" + strings.Join(v.pre, ".")
	}
	return s
}

// padded is v with at least three components, missing ones 0.
func (v semver) padded() semver {
	num := make([]uint64, max(3, len(v.num)))
	copy(num, v.num)
	return semver{num: num, pre: v.pre}
}

// bump is the smallest version above every version that starts with the
// first n components of v: bump(1.2, 2) = 1.3.0, bump(1, 1) = 2.0.0.
func (v semver) bump(n int) semver {
	out := semver{num: make([]uint64, max(3, n))}
	copy(out.num, v.num[:n])
	out.num[n-1]++
	return out
}

func (v semver) release() semver { v.pre = nil; return v }

// semverRange is a set of versions written as comparators: space- or
// comma-separated comparators must all hold, and "||" separates
// alternatives. A comparator is an operator (=, !=, >, >=, <, <=, ~, ^;
// none means =) and a version, whose missing components widen it as npm
// does: "1.2" is 1.2.x, "<=1" is <2.0.0, "~1.2" is >=1.2.0 <1.3.0, "^1.2"
// is >=1.2.0 <2.0.0, and x or * stand for any component ("1.x", "*").
// A tag with a prerelease (1.3.0-rc1) matches only when some comparator
// of the range has a prerelease itself: ">=1.2 <2" never picks a release
// candidate.
type semverRange struct {
	raw      string
	alts     [][]semverBound
	allowPre bool
}

// semverBound is one condition: v compared with the bound gives one of
// want (-1, 0, +1), or (negated) none of them.
type semverBound struct {
	v    semver
	want []int
	not  bool
}

func (b semverBound) holds(v semver) bool {
	c := v.compareAt(b.v)
	for _, w := range b.want {
		if c == w {
			return !b.not
		}
	}
	return b.not
}

func parseSemverRange(s string) (*semverRange, error) {
	r := &semverRange{raw: s}
	for _, alt := range strings.Split(s, "||") {
		toks := strings.Fields(strings.ReplaceAll(alt, ",", " "))
		// Join an operator written apart from its version (">= 1.2").
		var joined []string
		for i := 0; i < len(toks); i++ {
			if strings.Trim(toks[i], "<>=!~^") == "" && i+1 < len(toks) {
				joined = append(joined, toks[i]+toks[i+1])
				i++
				continue
			}
			joined = append(joined, toks[i])
		}
		if len(joined) == 0 {
			return nil, fmt.Errorf("semver range %q: empty alternative", s)
		}
		var set []semverBound
		for _, tok := range joined {
			bounds, pre, err := parseComparator(tok)
			if err != nil {
				return nil, fmt.Errorf("semver range %q: %w", s, err)
			}
			set = append(set, bounds...)
			r.allowPre = r.allowPre || pre
		}
		r.alts = append(r.alts, set)
	}
	return r, nil
}

// parseComparator turns one comparator into bounds; pre tells whether it
// names a prerelease.
func parseComparator(tok string) (bounds []semverBound, pre bool, err error) {
	op := tok[:len(tok)-len(strings.TrimLeft(tok, "<>=!~^"))]
	ver := tok[len(op):]
	switch op {
	case "", "=", "==", "!=", ">", ">=", "<", "<=", "~", "^":
	default:
		return nil, false, fmt.Errorf("%q: unknown operator %q (=, !=, >, >=, <, <=, ~, ^)", tok, op)
	}
	// Wildcards: "*", "x", "1.x", "1.2.*" end the version early.
	parts := strings.Split(strings.TrimPrefix(ver, "v"), ".")
	for i, p := range parts {
		if p == "*" || p == "x" || p == "X" {
			if i == 0 {
				if op == "" || op == "=" || op == ">=" || op == "<=" {
					return nil, false, nil // any version
				}
				return nil, false, fmt.Errorf("%q: a bare wildcard only goes with = or none", tok)
			}
			ver = strings.Join(parts[:i], ".")
			break
		}
	}
	v, ok := parseSemver(ver)
	if !ok {
		return nil, false, fmt.Errorf("%q: %q is not a version (want MAJOR[.MINOR[.PATCH[.MORE]]][-PRERELEASE])", tok, ver)
	}
	n := len(v.num)
	lo := v.padded()
	var up semver // exclusive upper bound of the versions v stands for
	if n < 3 {
		if len(v.pre) > 0 {
			return nil, false, fmt.Errorf("%q: a prerelease needs MAJOR.MINOR.PATCH", tok)
		}
		up = v.bump(n)
	}
	ge := semverBound{v: lo, want: []int{0, 1}}
	lt := func(u semver) semverBound { return semverBound{v: u, want: []int{-1}} }
	switch op {
	case "", "=", "==":
		if n >= 3 {
			return []semverBound{{v: lo, want: []int{0}}}, len(v.pre) > 0, nil
		}
		return []semverBound{ge, lt(up)}, false, nil
	case "!=":
		if n < 3 {
			return nil, false, fmt.Errorf("%q: != needs MAJOR.MINOR.PATCH", tok)
		}
		return []semverBound{{v: lo, want: []int{0}, not: true}}, len(v.pre) > 0, nil
	case ">=":
		return []semverBound{ge}, len(v.pre) > 0, nil
	case ">":
		if n >= 3 {
			return []semverBound{{v: lo, want: []int{1}}}, len(v.pre) > 0, nil
		}
		return []semverBound{{v: up, want: []int{0, 1}}}, false, nil
	case "<":
		return []semverBound{lt(lo)}, len(v.pre) > 0, nil
	case "<=":
		if n >= 3 {
			return []semverBound{{v: lo, want: []int{-1, 0}}}, len(v.pre) > 0, nil
		}
		return []semverBound{lt(up)}, false, nil
	case "~":
		return []semverBound{ge, lt(v.release().bump(min(n, 2)))}, len(v.pre) > 0, nil
	}
	// ^: below the next change of the first non-zero component written.
	k := 1
	for k < n && v.num[k-1] == 0 {
		k++
	}
	return []semverBound{ge, lt(v.release().bump(k))}, len(v.pre) > 0, nil
}

// match reports whether the version v lies in the range.
func (r *semverRange) match(v semver) bool {
	if len(v.pre) > 0 && !r.allowPre {
		return false
	}
	for _, alt := range r.alts {
		ok := true
		for _, b := range alt {
			if !b.holds(v) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
