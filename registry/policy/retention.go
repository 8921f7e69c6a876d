package policy

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/glob"
)

// Retention is policies.retention: the rules that decide which tags and
// untagged manifests a retention run deletes (registry/retention), so
// that garbage collection frees their bytes.
//
//	retention:
//	  manual: false      # true: only `registry retention` runs them
//	  rules:
//	    - repositories: ["team/**"]
//	      newest: 10
//	      by: semver
//	    - repositories: ["team/**"]
//	      recent: 90d
//	    - repositories: ["team/**"]
//	      untagged: 30d
//
// The semantics (docs/policies.md, "Retention"): a repository no rule names keeps
// everything. Otherwise a tag stays when an immutable rule protects it or
// one of the repository's tag rules keeps it (with no tag rule, every tag
// stays); an untagged manifest stays when it was pushed or pulled within
// the longest untagged duration (with no untagged rule, it stays); a
// manifest stays while a kept tag or kept manifest reaches it, as an
// index child or as a referrer of its subject.
type Retention struct {
	Manual bool            `yaml:"manual"`
	Rules  []RetentionRule `yaml:"rules,omitempty"`
}

// RetentionRule is one entry of policies.retention.rules: the repositories
// it governs and exactly one of newest, matching, notmatching, recent or
// untagged.
type RetentionRule struct {
	// Repositories are globs of the access policy's grammar.
	Repositories []string `yaml:"repositories"`
	// Tags, a regular expression, limits newest and recent to the tags
	// it matches (the other tags are outside the rule).
	Tags string `yaml:"tags"`
	// Newest keeps the N newest tags, by push time or, with by: semver,
	// by Semantic Versioning precedence (non-semver tags are outside).
	Newest int    `yaml:"newest"`
	By     string `yaml:"by"`
	// Matching keeps the tags its regular expression matches;
	// NotMatching the tags its regular expression does not match.
	Matching    string `yaml:"matching"`
	NotMatching string `yaml:"notmatching"`
	// Recent keeps the tags pushed or pulled within the duration
	// ("90d", "36h"): the others are deleted once unused that long.
	Recent string `yaml:"recent"`
	// Untagged deletes the untagged manifests not pushed and not pulled
	// for the duration.
	Untagged string `yaml:"untagged"`
}

func (r *Retention) empty() bool { return !r.Manual && len(r.Rules) == 0 }

type ruleKind int

const (
	keepNewest ruleKind = iota
	keepMatching
	keepNotMatching
	keepRecent
	dropUntagged
)

// retentionRule is a compiled RetentionRule.
type retentionRule struct {
	repos    []string
	kind     ruleKind
	scope    *regexp.Regexp // nil: every tag
	n        int
	bySemver bool
	re       *regexp.Regexp
	age      time.Duration
	desc     string // why it keeps: "newest 10 by semver", "matches ^v", ...
	neg      string // why it does not: "not newest 10 by semver", ...
}

// retentionSet is a compiled Retention.
type retentionSet struct {
	manual bool
	rules  []retentionRule
}

func compileRetention(r *Retention, key string, fail failFunc) *retentionSet {
	s := &retentionSet{manual: r.Manual}
	for i := range r.Rules {
		if c, ok := compileRetentionRule(&r.Rules[i], fmt.Sprintf("%s.rules[%d]", key, i), fail); ok {
			s.rules = append(s.rules, c)
		}
	}
	return s
}

func compileRetentionRule(r *RetentionRule, key string, fail failFunc) (retentionRule, bool) {
	ok := true
	bad := func(k, format string, args ...any) {
		if k != "" {
			k = "." + k
		}
		fail(key+k, format, args...)
		ok = false
	}
	c := retentionRule{repos: r.Repositories}
	if len(r.Repositories) == 0 {
		bad("", "repositories missing: list the repository globs the rule governs")
	}
	for i, p := range r.Repositories {
		if err := glob.Check(p); err != nil {
			bad(fmt.Sprintf("repositories[%d]", i), "invalid glob %q: %v", p, err)
		}
	}
	re := func(k, src string) *regexp.Regexp {
		x, err := regexp.Compile(src)
		if err != nil {
			bad(k, "invalid regular expression %q: %v", src, err)
		}
		return x
	}
	var kinds []string
	if r.Newest != 0 {
		kinds = append(kinds, "newest")
		c.kind, c.n = keepNewest, r.Newest
		if r.Newest < 0 {
			bad("newest", "invalid value %d, want 1 or more", r.Newest)
		}
		switch r.By {
		case "", "pushed":
			c.desc = fmt.Sprintf("newest %d by push time", r.Newest)
		case "semver":
			c.bySemver = true
			c.desc = fmt.Sprintf("newest %d by semver", r.Newest)
		default:
			bad("by", "invalid value %q, want pushed or semver", r.By)
		}
	} else if r.By != "" {
		bad("by", "only with newest")
	}
	if r.Matching != "" {
		kinds = append(kinds, "matching")
		c.kind, c.re, c.desc = keepMatching, re("matching", r.Matching), "matches "+r.Matching
	}
	if r.NotMatching != "" {
		kinds = append(kinds, "notmatching")
		c.kind, c.re, c.desc = keepNotMatching, re("notmatching", r.NotMatching), "does not match "+r.NotMatching
	}
	age := func(k, src string) time.Duration {
		d, err := ParseAge(src)
		if err != nil {
			bad(k, "%v", err)
		}
		return d
	}
	if r.Recent != "" {
		kinds = append(kinds, "recent")
		c.kind, c.age, c.desc = keepRecent, age("recent", r.Recent), "pushed or pulled within "+r.Recent
	}
	if r.Untagged != "" {
		kinds = append(kinds, "untagged")
		c.kind, c.age, c.desc = dropUntagged, age("untagged", r.Untagged), "pushed or pulled within "+r.Untagged
	}
	if len(kinds) != 1 {
		bad("", "want exactly one of newest, matching, notmatching, recent, untagged; found %d (%s)", len(kinds), strings.Join(kinds, ", "))
	}
	switch c.kind {
	case keepMatching:
		c.neg = "does not match " + r.Matching
	case keepNotMatching:
		c.neg = "matches " + r.NotMatching
	case keepRecent:
		c.neg = "not pushed or pulled for " + r.Recent
	case dropUntagged:
		c.neg = "not pushed or pulled for " + r.Untagged
	default:
		c.neg = "not " + c.desc
	}
	if r.Tags != "" {
		if c.kind != keepNewest && c.kind != keepRecent {
			bad("tags", "only with newest or recent")
		}
		c.scope = re("tags", r.Tags)
		c.desc += " of tags " + r.Tags
		c.neg += " of tags " + r.Tags
	}
	return c, ok
}

// ParseAge reads a retention duration: a whole number of days ("90d") or
// a Go duration ("36h", "90m"), more than zero.
func ParseAge(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days > 100000 {
			return 0, fmt.Errorf("invalid duration %q, want days (90d) or a duration with a unit (36h)", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("invalid duration %q, want days (90d) or a duration with a unit (36h)", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("invalid duration %q, want more than zero", s)
	}
	return d, nil
}

// RetentionScheduled reports whether retention runs before each scheduled
// garbage collection: there are rules and retention.manual is off.
func (s *Set) RetentionScheduled() bool {
	return s != nil && s.retention != nil && len(s.retention.rules) > 0 && !s.retention.manual
}

// HasRetention reports whether any retention rule exists.
func (s *Set) HasRetention() bool {
	return s != nil && s.retention != nil && len(s.retention.rules) > 0
}

// retentionRules returns the rules governing repository repo.
func (s *Set) retentionRules(repo string) []retentionRule {
	if s == nil || s.retention == nil {
		return nil
	}
	var out []retentionRule
	for _, r := range s.retention.rules {
		for _, p := range r.repos {
			if glob.Match(p, repo) {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

// RetentionGoverns reports whether a retention rule names repository repo.
func (s *Set) RetentionGoverns(repo string) bool { return len(s.retentionRules(repo)) > 0 }
