package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

func TestImmutable(t *testing.T) {
	s, err := Compile(&Config{Immutable: []ImmutableRule{
		{Repositories: []string{"team/**"}, Tags: []string{"v*"}, Except: []string{"*-rc*"}},
		{Repositories: []string{"**"}, Tags: []string{"release-[0-9]*"}},
	}}, "policies", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		repo, tag string
		rule      string
	}{
		{"team/app", "v1.2", "policies.immutable[0]: tags v* except *-rc*"},
		{"team/app/sub", "v2", "policies.immutable[0]: tags v* except *-rc*"},
		{"team/app", "v1.3-rc1", ""},
		{"team/app", "latest", ""},
		{"other/app", "v1.2", ""},
		{"other/app", "release-7", "policies.immutable[1]: tags release-[0-9]*"},
		{"team/app", "release-x", ""},
	} {
		rule, ok := s.Immutable(c.repo, c.tag)
		if ok != (c.rule != "") || rule != c.rule {
			t.Errorf("Immutable(%q, %q) = %q, %v; want %q", c.repo, c.tag, rule, ok, c.rule)
		}
	}
	if !s.HasImmutable("team/x") || !s.HasImmutable("a") {
		t.Error("HasImmutable false for a repository a rule covers")
	}
	var none *Set
	if _, ok := none.Immutable("team/app", "v1"); ok || none.HasImmutable("team/app") {
		t.Error("a nil Set has immutable tags")
	}
	only, _ := Compile(&Config{Immutable: []ImmutableRule{{Repositories: []string{"team/*"}, Tags: []string{"*"}}}}, "", nil)
	if only.HasImmutable("other/app") {
		t.Error("HasImmutable true outside every rule's repositories")
	}
}

func TestImmutableRejects(t *testing.T) {
	_, err := Compile(&Config{Immutable: []ImmutableRule{
		{Tags: []string{"v*"}},
		{Repositories: []string{"a/**/b"}, Tags: []string{"v["}},
		{Repositories: []string{"**"}, Except: []string{"a/b"}},
	}}, "policies", nil)
	if err == nil {
		t.Fatal("bad rules accepted")
	}
	for _, want := range []string{
		"policies.immutable[0].repositories: at least one",
		"policies.immutable[1].repositories[0]: repository glob \"a/**/b\"",
		"policies.immutable[1].tags[0]: tag glob \"v[\"",
		"policies.immutable[2].tags: at least one",
		"policies.immutable[2].except[0]: tag glob \"a/b\": '/' cannot appear",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestRetentionKeepsImmutable: a retention rule that would delete every
// tag keeps those an immutable rule protects, saying so.
func TestRetentionKeepsImmutable(t *testing.T) {
	s, err := Compile(&Config{
		Immutable: []ImmutableRule{{Repositories: []string{"team/**"}, Tags: []string{"v*"}}},
		Retention: Retention{Rules: []RetentionRule{{Repositories: []string{"**"}, Matching: "^none$"}}},
	}, "policies", nil)
	if err != nil {
		t.Fatal(err)
	}
	inv := &Inventory{Tags: []TagState{{Name: "v1", Digest: digest.FromString("1")}, {Name: "latest", Digest: digest.FromString("2")}}}
	p := s.Retain("team/app", inv, time.Now())
	for _, d := range p.Tags {
		want := d.Tag == "v1"
		if d.Keep != want || want && d.Reason != "immutable (policies.immutable[0]: tags v*)" {
			t.Errorf("tag %s: keep %v (%s)", d.Tag, d.Keep, d.Reason)
		}
	}
}
