package auth

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/watchfile"
)

const testPolicy = `groups:
  admins: [alice]
  developers: [bob, dave]
rules:
  - repositories: ["**"]
    groups: [admins]
    actions: [pull, push, delete]
  - repositories: ["team/**", "tools"]
    groups: [developers]
    users: [erin]
    actions: [pull, push]
  - repositories: ["shared/*"]
    authenticated: true
    actions: [pull]
  - repositories: ["public/*/docs", "pub?"]
    anonymous: true
    actions: [pull]
`

func openPolicy(t *testing.T, content string) (*Policy, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yml")
	writeAtomic(t, path, content)
	p, err := OpenPolicy(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p, path
}

func TestPolicyAllowed(t *testing.T) {
	p, _ := openPolicy(t, testPolicy)
	user := func(n string) Principal { return Principal{Name: n, Authenticated: true} }
	anon := Principal{}
	tests := []struct {
		who    Principal
		access Access
		want   bool
	}{
		{user("alice"), Access{TypeRepository, "anything/deep/below", ActionDelete}, true},
		{user("alice"), Catalog, true},
		{user("alice"), Admin, true}, // deletes everywhere: an administrator
		{user("bob"), Admin, false},
		{anon, Admin, false},
		{user("bob"), Access{TypeRepository, "team/app", ActionPush}, true},
		{user("bob"), Access{TypeRepository, "team/a/b/c", ActionPull}, true},
		{user("bob"), Access{TypeRepository, "team", ActionPull}, false}, // team/** is below team
		{user("bob"), Access{TypeRepository, "teams/app", ActionPull}, false},
		{user("bob"), Access{TypeRepository, "tools", ActionPush}, true},
		{user("bob"), Access{TypeRepository, "tools/x", ActionPush}, false},
		{user("bob"), Access{TypeRepository, "team/app", ActionDelete}, false},
		{user("erin"), Access{TypeRepository, "team/app", ActionPush}, true},
		{user("carol"), Access{TypeRepository, "team/app", ActionPull}, false},
		{user("carol"), Access{TypeRepository, "shared/x", ActionPull}, true},
		{user("carol"), Access{TypeRepository, "shared/x/y", ActionPull}, false}, // * stays in one component
		{user("carol"), Access{TypeRepository, "shared/x", ActionPush}, false},
		{user("carol"), Catalog, true},
		{user("carol"), Access{TypeRepository, "public/a/docs", ActionPull}, true}, // anonymous rules apply to all
		{anon, Access{TypeRepository, "public/a/docs", ActionPull}, true},
		{anon, Access{TypeRepository, "pubs", ActionPull}, true},
		{anon, Access{TypeRepository, "public/a/docs", ActionPush}, false},
		{anon, Access{TypeRepository, "shared/x", ActionPull}, false},
		{anon, Catalog, false},
		{Principal{Name: "alice"}, Access{TypeRepository, "x", ActionPull}, false}, // named but not authenticated
		// Invalid accesses are never allowed, whatever the rules.
		{user("alice"), Access{TypeRepository, "team/../x", ActionPull}, false},
		{user("alice"), Access{TypeRepository, "*", ActionPull}, false},
		{user("alice"), Access{TypeRepository, "x", "*"}, false},
		{user("alice"), Access{TypeRegistry, "catalog", ActionPull}, false},
	}
	for _, tt := range tests {
		if got := p.Allowed(tt.who, tt.access); got != tt.want {
			t.Errorf("Allowed(%+v, %s) = %v, want %v", tt.who, tt.access, got, tt.want)
		}
	}
	if !p.AllowedEverywhere(user("alice"), ActionPull) || p.AllowedEverywhere(user("bob"), ActionPull) {
		t.Error("AllowedEverywhere: want alice only")
	}

	var none *Policy // no policy: authenticated users may do everything
	if !none.Allowed(user("x"), Access{TypeRepository, "a/b", ActionDelete}) || none.Allowed(anon, Access{TypeRepository, "a", ActionPull}) ||
		!none.AllowedEverywhere(user("x"), ActionPull) || none.AllowedEverywhere(anon, ActionPull) {
		t.Error("a nil policy is not Distribution's behaviour")
	}
}

func TestPolicyErrors(t *testing.T) {
	rule := "rules:\n  - repositories: [a]\n    users: [u]\n    actions: [pull]\n"
	tests := []struct{ name, doc, err string }{
		{"unknown key", "rules:\n  - repos: [a]\n", "field repos not found"},
		{"unknown top-level key", "users: [a]\n" + rule, "field users not found"},
		{"no repositories", "rules:\n  - users: [u]\n    actions: [pull]\n", "rules[0]: no repositories"},
		{"no actions", "rules:\n  - repositories: [a]\n    users: [u]\n", "rules[0]: no actions"},
		{"unknown action", "rules:\n  - repositories: [a]\n    users: [u]\n    actions: [pull, admin]\n", `unknown action "admin"`},
		{"star action", "rules:\n  - repositories: [a]\n    users: [u]\n    actions: ['*']\n", `unknown action "*"`},
		{"no one", "rules:\n  - repositories: [a]\n    actions: [pull]\n", "applies to no one"},
		{"undefined group", "rules:\n  - repositories: [a]\n    groups: [g]\n    actions: [pull]\n", `group "g" is not defined`},
		{"bad glob", "rules:\n  - repositories: ['a[']\n    users: [u]\n    actions: [pull]\n", "syntax error in pattern"},
		{"** inside", "rules:\n  - repositories: ['a/**/b']\n    users: [u]\n    actions: [pull]\n", `"**" is allowed only as the last component`},
		{"bad member", "groups:\n  g: ['a b']\n" + rule, `invalid user name "a b"`},
		{"not yaml", "rules: [", "did not find expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parsePolicy([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error %v, want %q", err, tt.err)
			}
		})
	}
	if _, err := parsePolicy(nil); err != nil {
		t.Errorf("an empty policy (nothing allowed): %v", err)
	}
}

func TestPolicyReload(t *testing.T) {
	p, path := openPolicy(t, testPolicy)
	bob := Principal{Name: "bob", Authenticated: true}
	push := Access{TypeRepository, "team/app", ActionPush}
	if !p.Allowed(bob, push) {
		t.Fatal("bob may not push before the change")
	}
	writeAtomic(t, path, strings.Replace(testPolicy, "developers: [bob, dave]", "developers: [dave]", 1))
	if p.Allowed(bob, push) {
		t.Fatal("bob may still push after leaving the group")
	}
	writeAtomic(t, path, "rules: [") // broken: the last good policy stays
	if !p.Allowed(Principal{Name: "dave", Authenticated: true}, push) {
		t.Fatal("a broken policy file replaced the policy")
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(testPolicy))
	f.Add([]byte("rules:\n  - repositories: ['**']\n    anonymous: true\n    actions: [pull]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := parsePolicy(b)
		if err != nil {
			return
		}
		p := &Policy{file: watchfile.Static(doc)}
		// Whatever the rules, nothing invalid is ever allowed.
		for _, a := range []Access{{TypeRepository, "a/../b", ActionPull}, {TypeRepository, "*", ActionPush}, {TypeRepository, "a", "*"}} {
			if p.Allowed(Principal{Name: "u", Authenticated: true}, a) {
				t.Fatalf("policy %q allows %s", b, a)
			}
		}
	})
}
