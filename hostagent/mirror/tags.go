package mirror

import (
	"regexp"
	"slices"
	"strings"

	"github.com/berth-registry/berth/internal/oci"
)

// Orders for Tags.Order: which tags are the newest.
const (
	OrderSemver = "semver" // by version, as find orders them (oci.CompareVersions); prereleases and other tags are never the newest
	OrderTag    = "tag"    // by tag name, as registries list them (date stamps, build numbers)
)

// tagFilter picks the tags of one repository that a rule copies. Its steps
// run in order: allow, deny, semver, newest.
type tagFilter struct {
	allow, deny []*regexp.Regexp
	semver      *semverRange
	newest      int
	order       string
}

// apply returns the tags f selects: sorted by version (oldest first) when
// a semver range or newest by semver is asked for, else by name. Tags of
// the referrers tag schema ("sha256-<hex>") never count: referrers travel
// with their subject.
func (f *tagFilter) apply(tags []string) []string {
	var out []string
	for _, t := range tags {
		if isReferrersTag(t) || !f.wanted(t) {
			continue
		}
		out = append(out, t)
	}
	if f.order == OrderTag || f.newest == 0 && f.semver == nil {
		slices.Sort(out)
		if f.newest > 0 && len(out) > f.newest {
			out = out[len(out)-f.newest:]
		}
		return out
	}
	type tv struct {
		tag string
		v   semver
	}
	var vs []tv
	for _, t := range out {
		// A prerelease is never the newest, unless the range names one.
		if v, ok := parseSemver(t); ok && (len(v.pre) == 0 || f.semver != nil && f.semver.allowPre) {
			vs = append(vs, tv{t, v})
		}
	}
	slices.SortFunc(vs, func(a, b tv) int {
		if c := a.v.compare(b.v); c != 0 {
			return c
		}
		return strings.Compare(a.tag, b.tag)
	})
	if f.newest > 0 && len(vs) > f.newest {
		vs = vs[len(vs)-f.newest:]
	}
	out = out[:0]
	for _, x := range vs {
		out = append(out, x.tag)
	}
	return out
}

// wanted applies the allow, deny and semver steps to one tag.
func (f *tagFilter) wanted(tag string) bool {
	if len(f.allow) > 0 && !slices.ContainsFunc(f.allow, func(re *regexp.Regexp) bool { return re.MatchString(tag) }) {
		return false
	}
	if slices.ContainsFunc(f.deny, func(re *regexp.Regexp) bool { return re.MatchString(tag) }) {
		return false
	}
	if f.semver != nil {
		v, ok := parseSemver(tag)
		return ok && f.semver.match(v)
	}
	return true
}

// isReferrersTag reports whether tag is one of the referrers tag schema:
// "<algorithm>-<hex digest>".
func isReferrersTag(tag string) bool {
	alg, hex, ok := strings.Cut(tag, "-")
	if !ok || !oci.IsHex(hex) {
		return false
	}
	return (alg == "sha256" && len(hex) == 64) || (alg == "sha512" && len(hex) == 128)
}
