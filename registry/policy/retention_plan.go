package policy

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/opencontainers/go-digest"
)

// Inventory is what a retention run knows of one repository.
type Inventory struct {
	Tags      []TagState
	Manifests []ManifestState
}

// TagState is a tag: where it points and when it was pushed there.
type TagState struct {
	Name   string
	Digest digest.Digest
	Pushed time.Time
}

// ManifestState is a stored manifest of the repository: what it references
// in it and when it was last pushed and pulled (zero: never).
type ManifestState struct {
	Digest   digest.Digest
	Subject  digest.Digest   // "" without one
	Children []digest.Digest // an index's manifests
	Pushed   time.Time
	Pulled   time.Time
}

// Plan is what retention decides for one repository.
type Plan struct {
	Repository string
	// Governed is false when no rule names the repository: it keeps all.
	Governed  bool
	Tags      []Decision // by name
	Manifests []Decision // by digest
}

// Decision keeps or deletes one tag or manifest, with the reason.
type Decision struct {
	Tag     string // "" for a manifest
	Digest  digest.Digest
	Subject digest.Digest // of a manifest
	Index   bool          // a manifest with children
	Keep    bool
	Reason  string
}

// Retain decides, for repository repo in the state inv at time now, which
// tags and manifests stay (see Retention for the semantics). immutable
// reports the immutable rule protecting a tag, if any. A nil *Set keeps
// everything.
func (s *Set) Retain(repo string, inv *Inventory, now time.Time) *Plan {
	p := &Plan{Repository: repo}
	rules := s.retentionRules(repo)
	if len(rules) == 0 {
		for _, t := range inv.Tags {
			p.Tags = append(p.Tags, Decision{Tag: t.Name, Digest: t.Digest, Keep: true, Reason: "no rule names the repository"})
		}
		for _, m := range inv.Manifests {
			p.Manifests = append(p.Manifests, Decision{Digest: m.Digest, Subject: m.Subject, Keep: true, Reason: "no rule names the repository"})
		}
		sortPlan(p)
		return p
	}
	p.Governed = true
	byDigest := map[digest.Digest]*ManifestState{}
	for i := range inv.Manifests {
		byDigest[inv.Manifests[i].Digest] = &inv.Manifests[i]
	}
	var tagRules, untaggedRules []retentionRule
	for _, r := range rules {
		if r.kind == dropUntagged {
			untaggedRules = append(untaggedRules, r)
		} else {
			tagRules = append(tagRules, r)
		}
	}
	pulled := func(d digest.Digest) time.Time {
		if m := byDigest[d]; m != nil {
			return m.Pulled
		}
		return time.Time{}
	}
	newest := make([]map[string]bool, len(tagRules))
	for i, r := range tagRules {
		if r.kind == keepNewest {
			newest[i] = newestTags(r, inv.Tags)
		}
	}
	for _, t := range inv.Tags {
		d := Decision{Tag: t.Name, Digest: t.Digest}
		if rule, ok := immutableTag(s, repo, t.Name); ok {
			d.Keep, d.Reason = true, "immutable ("+rule+")"
		} else if len(tagRules) == 0 {
			d.Keep, d.Reason = true, "no tag rule"
		} else {
			var refusals []string
			for i, r := range tagRules {
				if keeps(r, t, pulled(t.Digest), now, newest[i]) {
					d.Keep, d.Reason = true, r.desc
					break
				}
				refusals = append(refusals, r.neg)
			}
			if !d.Keep {
				d.Reason = strings.Join(refusals, "; ")
			}
		}
		p.Tags = append(p.Tags, d)
	}
	slices.SortFunc(p.Tags, func(a, b Decision) int { return strings.Compare(a.Tag, b.Tag) })
	p.Manifests = retainManifests(p.Tags, inv.Manifests, byDigest, untaggedRules, now)
	sortPlan(p)
	return p
}

// keeps reports whether tag rule r keeps t.
func keeps(r retentionRule, t TagState, pulled, now time.Time, newest map[string]bool) bool {
	if r.scope != nil && !r.scope.MatchString(t.Name) {
		return false
	}
	switch r.kind {
	case keepNewest:
		return newest[t.Name]
	case keepMatching:
		return r.re.MatchString(t.Name)
	case keepNotMatching:
		return !r.re.MatchString(t.Name)
	case keepRecent:
		return recent(t.Pushed, pulled, now, r.age)
	}
	return false
}

// recent reports whether pushed or pulled is within age of now.
func recent(pushed, pulled, now time.Time, age time.Duration) bool {
	cut := now.Add(-age)
	return pushed.After(cut) || pulled.After(cut)
}

// newestTags returns the r.n newest tags in r's scope: by push time (ties:
// the greater name is newer) or by semver precedence (tags that are not
// strict Semantic Versions, after an optional "v", are outside; equal
// versions, such as v1.0.0 and 1.0.0: the greater name is newer).
func newestTags(r retentionRule, tags []TagState) map[string]bool {
	type cand struct {
		name   string
		pushed time.Time
		v      *semver.Version
	}
	var cs []cand
	for _, t := range tags {
		if r.scope != nil && !r.scope.MatchString(t.Name) {
			continue
		}
		c := cand{name: t.Name, pushed: t.Pushed}
		if r.bySemver {
			v, err := semver.StrictNewVersion(strings.TrimPrefix(t.Name, "v"))
			if err != nil {
				continue
			}
			c.v = v
		}
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(a, b cand) int {
		var c int
		if r.bySemver {
			c = b.v.Compare(a.v)
		} else {
			c = b.pushed.Compare(a.pushed)
		}
		return cmp.Or(c, strings.Compare(b.name, a.name))
	})
	out := map[string]bool{}
	for _, c := range cs[:min(r.n, len(cs))] {
		out[c.name] = true
	}
	return out
}

func sortPlan(p *Plan) {
	slices.SortFunc(p.Tags, func(a, b Decision) int { return strings.Compare(a.Tag, b.Tag) })
	slices.SortFunc(p.Manifests, func(a, b Decision) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
}

// immutableTag reports the immutable rule protecting tag of repo
// (policies.immutable). Retention never deletes such a tag.
func immutableTag(s *Set, repo, tag string) (rule string, ok bool) {
	return s.Immutable(repo, tag)
}
