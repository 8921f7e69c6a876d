package auth

import (
	"errors"
	"net/http/httptest"
	"path/filepath"
	"testing"
)

// TestDeciderAnswersAsAllowed: the one-reading decider agrees with
// Allowed on every access, with and without a policy.
func TestDeciderAnswersAsAllowed(t *testing.T) {
	p, _ := openPolicy(t, testPolicy)
	for _, pol := range []*Policy{p, nil} {
		for _, who := range []Principal{{}, {Name: "alice", Authenticated: true}, {Name: "erin", Authenticated: true}, {Name: "zed", Authenticated: true}} {
			d := pol.Decider(who)
			for _, name := range []string{"team/app", "shared/x", "public/a/docs", "pubx", "other", "Bad..Name"} {
				for _, act := range []string{ActionPull, ActionPush, ActionDelete} {
					a := Access{TypeRepository, name, act}
					if got, want := d(a), pol.Allowed(who, a); got != want {
						t.Errorf("policy %v, %+v, %s: decider %v, Allowed %v", pol != nil, who, a, got, want)
					}
				}
			}
			for _, a := range []Access{Catalog, Admin} {
				if got, want := d(a), pol.Allowed(who, a); got != want {
					t.Errorf("%+v, %s: decider %v, Allowed %v", who, a, got, want)
				}
			}
		}
	}
}

func TestUsersLogin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "htpasswd")
	writeAtomic(t, path, bcryptLine(t, "alice", "right"))
	u, err := OpenHtpasswd(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := NewLimiter(2, 1<<40)
	r := httptest.NewRequest("POST", "/ui/login", nil)
	if err := u.Login(r, l, "alice", "right"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	for _, c := range [][2]string{{"alice", "wrong"}, {"", ""}, {"bob", "right"}} {
		if err := u.Login(r, l, c[0], c[1]); err == nil {
			t.Errorf("login %q/%q passed", c[0], c[1])
		}
	}
	var ch *Challenge
	if err := u.Login(r, l, "alice", "wrong-again"); !errors.As(err, &ch) || ch.Status != 429 {
		t.Errorf("after the limit: %v, want a 429 challenge", err)
	}
}
