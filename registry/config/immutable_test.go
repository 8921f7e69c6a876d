package config

import (
	"strings"
	"testing"
)

// TestImmutablePolicies: policies.immutable decodes from YAML, in
// config.yml and in a policies file, and its errors name key and line.
func TestImmutablePolicies(t *testing.T) {
	c, err := Load(strings.NewReader("version: 0.1\nstorage: inmemory\npolicies:\n  immutable:\n"+
		"    - repositories: ['team/**']\n      tags: ['v*']\n      except: ['*-rc*']\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	set, err := c.PolicySet()
	if err != nil {
		t.Fatal(err)
	}
	if rule, ok := set.Immutable("team/app", "v1"); !ok || rule != "policies.immutable[0]: tags v* except *-rc*" {
		t.Fatalf("Immutable(team/app, v1) = %q, %v", rule, ok)
	}
	if _, ok := set.Immutable("team/app", "v1-rc1"); ok {
		t.Fatal("an excepted tag is immutable")
	}
	_, err = ParsePolicies([]byte("immutable:\n  - repositories: ['**']\n    tags: ['v[']\n"))
	if err == nil || err.Error() != `immutable[0].tags[0] (line 3): tag glob "v[": syntax error in pattern` {
		t.Fatalf("bad tag glob: %v", err)
	}
	_, err = Load(strings.NewReader("version: 0.1\nstorage: inmemory\npolicies:\n  immutable:\n    - tags: ['v*']\n      regex: 'v.*'\n"), nil)
	if err == nil || !strings.Contains(err.Error(), `unknown key "policies.immutable[0].regex" (line 6)`) {
		t.Fatalf("unknown key: %v", err)
	}
}
