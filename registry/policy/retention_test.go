package policy_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/config"
	"github.com/berth-registry/berth/registry/policy"
)

func TestRetentionErrors(t *testing.T) {
	rule := func(body string) string {
		return "retention:\n  rules:\n    - repositories: [\"team/*\"]\n" + body
	}
	for _, c := range []struct{ doc, want string }{
		{rule("      newest: 3\n      matching: x\n"), "retention.rules[0] (line 3): want exactly one of newest, matching, notmatching, recent, untagged; found 2 (newest, matching)"},
		{rule(""), "found 0 ()"},
		{"retention:\n  rules:\n    - newest: 3\n", "retention.rules[0] (line 3): repositories missing"},
		{"retention:\n  rules:\n    - repositories: [\"team/**/x\"]\n      newest: 3\n", `retention.rules[0].repositories[0] (line 3): invalid glob "team/**/x": "**" is allowed only as the last component`},
		{rule("      matching: \"(\"\n"), `retention.rules[0].matching (line 4): invalid regular expression "("`},
		{rule("      recent: 90x\n"), `retention.rules[0].recent (line 4): invalid duration "90x", want days (90d) or a duration with a unit (36h)`},
		{rule("      untagged: 0d\n"), `retention.rules[0].untagged (line 4): invalid duration "0d", want more than zero`},
		{rule("      matching: x\n      tags: y\n"), "retention.rules[0].tags (line 5): only with newest or recent"},
		{rule("      recent: 1d\n      by: semver\n"), "retention.rules[0].by (line 5): only with newest"},
		{rule("      newest: -1\n"), "retention.rules[0].newest (line 4): invalid value -1, want 1 or more"},
		{rule("      newest: 2\n      by: date\n"), `retention.rules[0].by (line 5): invalid value "date", want pushed or semver`},
		{rule("      newest: 2\n      keep: all\n"), "keep"},
	} {
		_, err := config.ParsePolicies([]byte(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.doc, err, c.want)
		}
	}
}

func compile(t *testing.T, doc string) *policy.Set {
	t.Helper()
	s, err := config.ParsePolicies([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func kept(p *policy.Plan) []string {
	var out []string
	for _, d := range p.Tags {
		if d.Keep {
			out = append(out, d.Tag)
		}
	}
	return out
}

// Semver order: prereleases before their release, numeric components
// numerically; tags that are not strict semver (after an optional "v")
// are outside the rule.
func TestRetentionSemverOrder(t *testing.T) {
	s := compile(t, "retention:\n  rules:\n    - repositories: [\"**\"]\n      newest: 4\n      by: semver\n")
	var inv policy.Inventory
	for i, name := range []string{"v1.9.0", "v1.10.0-rc.1", "v1.10.0-rc.2", "v1.10.0", "1.2.3", "latest", "2025.01.02", "v1.10", "v1.9.9"} {
		inv.Tags = append(inv.Tags, policy.TagState{Name: name, Digest: digest.FromString(name), Pushed: time.Unix(int64(100-i), 0)})
	}
	p := s.Retain("a/b", &inv, time.Unix(1000, 0))
	want := []string{"v1.10.0", "v1.10.0-rc.1", "v1.10.0-rc.2", "v1.9.9"}
	if got := kept(p); !slices.Equal(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
	for _, d := range p.Tags {
		if d.Tag == "latest" && d.Reason != "not newest 4 by semver" {
			t.Errorf("latest: %q", d.Reason)
		}
	}
}

// A repository no rule names keeps everything; so does a nil Set.
func TestRetentionUngoverned(t *testing.T) {
	s := compile(t, "retention:\n  rules:\n    - repositories: [\"team/**\"]\n      recent: 1d\n")
	inv := &policy.Inventory{Tags: []policy.TagState{{Name: "old", Digest: digest.FromString("x")}}}
	for _, set := range []*policy.Set{s, nil} {
		p := set.Retain("other/app", inv, time.Now())
		if p.Governed || !slices.Equal(kept(p), []string{"old"}) || set.RetentionGoverns("other/app") {
			t.Errorf("ungoverned repository: %+v", p)
		}
	}
	if !s.RetentionGoverns("team/a/b") || !s.RetentionScheduled() {
		t.Error("team/a/b should be governed, the rules scheduled")
	}
	if p := s.Retain("team/app", inv, time.Now()); !p.Governed || len(kept(p)) != 0 {
		t.Errorf("governed repository: %+v", p)
	}
	if compile(t, "retention:\n  manual: true\n  rules:\n    - repositories: [\"**\"]\n      recent: 1d\n").RetentionScheduled() {
		t.Error("manual rules are scheduled")
	}
}
