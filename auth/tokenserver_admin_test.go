package auth

import (
	"net/http/httptest"
	"testing"
	"time"
)

// TestTokenServerAdmin: registry:admin:* (the /berth/v1/ administrator
// endpoints) is granted to whoever the policy lets delete everywhere,
// and to no one else; the registry accepts the token for it.
func TestTokenServerAdmin(t *testing.T) {
	s := newTokenServerSetup(t, time.Hour)
	for _, c := range []struct{ user, pw, granted string }{{"alice", "pw-a", "registry:admin:*"}, {"bob", "pw-b", ""}} {
		r := httptest.NewRequest("GET", "/auth/token?service=svc&scope=registry:admin:*", nil)
		r.SetBasicAuth(c.user, c.pw)
		code, body := s.do(t, r)
		if code != 200 || body["scope"] != c.granted {
			t.Fatalf("%s asks registry:admin:*: %d, granted %q, want %q", c.user, code, body["scope"], c.granted)
		}
		_, err := authorizeWith(s.bearer, "Bearer "+body["token"].(string), Admin)
		if (err == nil) != (c.granted != "") {
			t.Errorf("%s's token for registry:admin:*: %v", c.user, err)
		}
	}
}
