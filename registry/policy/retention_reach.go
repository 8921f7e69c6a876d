package policy

import (
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

// retainManifests decides the manifests of a repository once its tags are
// decided. Roots are the manifests of kept tags and the untagged manifests
// the untagged rules keep; what they reach stays (index children,
// referrers of their subject, recursively); the rest goes. An untagged
// manifest whose subject or parent index is in the repository follows it
// instead of the untagged rules: a signature goes with its image.
func retainManifests(tags []Decision, ms []ManifestState, byDigest map[digest.Digest]*ManifestState, untaggedRules []retentionRule, now time.Time) []Decision {
	referrers := map[digest.Digest][]digest.Digest{}
	parent := map[digest.Digest]digest.Digest{}
	for _, m := range ms {
		if m.Subject != "" && byDigest[m.Subject] != nil {
			referrers[m.Subject] = append(referrers[m.Subject], m.Digest)
		}
		for _, c := range m.Children {
			if _, ok := parent[c]; !ok && byDigest[c] != nil {
				parent[c] = m.Digest
			}
		}
	}
	reach := func(roots map[digest.Digest]string) map[digest.Digest]string {
		live := map[digest.Digest]string{}
		var queue []digest.Digest
		for d, why := range roots {
			live[d] = why
			queue = append(queue, d)
		}
		for len(queue) > 0 {
			d := queue[0]
			queue = queue[1:]
			var next []digest.Digest
			var why []string
			for _, c := range byDigest[d].Children {
				if byDigest[c] != nil {
					next, why = append(next, c), append(why, "child of kept "+d.String())
				}
			}
			for _, r := range referrers[d] {
				next, why = append(next, r), append(why, "referrer of kept "+d.String())
			}
			for i, n := range next {
				if _, ok := live[n]; !ok {
					live[n] = why[i]
					queue = append(queue, n)
				}
			}
		}
		return live
	}

	before := map[digest.Digest]string{}
	roots := map[digest.Digest]string{}
	deletedTags := map[digest.Digest][]string{}
	for _, t := range tags {
		if byDigest[t.Digest] == nil {
			continue
		}
		before[t.Digest] = "tagged"
		if !t.Keep {
			deletedTags[t.Digest] = append(deletedTags[t.Digest], t.Tag)
		} else if _, ok := roots[t.Digest]; !ok {
			roots[t.Digest] = "tagged " + t.Tag
		}
	}
	reachedBefore := reach(before)

	var longest *retentionRule
	for i, r := range untaggedRules {
		if longest == nil || r.age > longest.age {
			longest = &untaggedRules[i]
		}
	}
	untaggedGone := map[digest.Digest]string{}
	for _, m := range ms {
		if _, ok := reachedBefore[m.Digest]; ok {
			continue
		}
		if _, ok := parent[m.Digest]; ok || (m.Subject != "" && byDigest[m.Subject] != nil) {
			continue
		}
		switch {
		case longest == nil:
			roots[m.Digest] = "untagged, no untagged rule"
		case recent(m.Pushed, m.Pulled, now, longest.age):
			roots[m.Digest] = "untagged, " + longest.desc
		default:
			untaggedGone[m.Digest] = "untagged, " + longest.neg
		}
	}

	live := reach(roots)
	out := make([]Decision, 0, len(ms))
	for _, m := range ms {
		d := Decision{Digest: m.Digest, Subject: m.Subject, Index: len(m.Children) > 0}
		if why, ok := live[m.Digest]; ok {
			d.Keep, d.Reason = true, why
		} else if why, ok := untaggedGone[m.Digest]; ok {
			d.Reason = why
		} else if names := deletedTags[m.Digest]; len(names) == 1 {
			d.Reason = "tag " + names[0] + " deleted"
		} else if len(names) > 1 {
			d.Reason = "tags " + strings.Join(names, ", ") + " deleted"
		} else if m.Subject != "" && byDigest[m.Subject] != nil {
			d.Reason = "referrer of deleted " + m.Subject.String()
		} else if p, ok := parent[m.Digest]; ok {
			d.Reason = "child of deleted " + p.String()
		} else {
			d.Reason = "unreachable"
		}
		out = append(out, d)
	}
	return out
}
