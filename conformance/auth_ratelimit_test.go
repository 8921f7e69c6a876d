package conformance_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry"
)

// TestAuthLoginRateLimit: after a burst of failed logins from one address,
// password checks from it answer 429 TOOMANYREQUESTS with Retry-After,
// even with the right password, in both modes (at /v2/ in htpasswd mode,
// at the token endpoint in token mode); a client whose password was
// verified before the attack goes on working.
func TestAuthLoginRateLimit(t *testing.T) {
	t.Parallel()
	const burst = 5
	drv := registrytest.Drivers()[0]
	for _, mode := range authModes {
		t.Run(mode, func(t *testing.T) {
			s := startAuthRegistry(t, drv.New(t), mode, authOptions{
				policy:  authPolicy,
				limiter: auth.NewLimiter(burst, time.Minute),
			})
			// try logs in as user with password, the way the mode does it.
			try := func(user, password string) (*http.Response, []byte) {
				t.Helper()
				if mode == authModeHtpasswd {
					req := newRequest(t, "GET", s.URL+"/v2/", "", nil)
					req.SetBasicAuth(user, password)
					return send(t, req)
				}
				q := url.Values{"service": {authService}, "scope": {"repository:team/app:pull"}}
				req := newRequest(t, "GET", s.URL+registry.TokenPath+"?"+q.Encode(), "", nil)
				req.SetBasicAuth(user, password)
				return send(t, req)
			}
			// alice logged in before the attack; htpasswd clients send the
			// password with every request.
			if resp, body := try("alice", authUsers["alice"]); resp.StatusCode != http.StatusOK {
				t.Fatalf("alice before the attack: %s %s", resp.Status, body)
			}
			for i := range burst {
				if resp, body := try("bob", "guess-"+strconv.Itoa(i)); resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("failed login %d: %s %s, want 401", i+1, resp.Status, body)
				}
			}
			for _, pw := range []string{"guess-again", authUsers["bob"]} {
				resp, body := try("bob", pw)
				if resp.StatusCode != http.StatusTooManyRequests || !bytes.Contains(body, []byte(`"code":"TOOMANYREQUESTS"`)) {
					t.Fatalf("login after %d failures: %s %s, want 429 TOOMANYREQUESTS", burst, resp.Status, body)
				}
				if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || secs < 1 || secs > 60 {
					t.Errorf("Retry-After %q, want 1 to 60 seconds", resp.Header.Get("Retry-After"))
				}
			}
			if mode == authModeToken {
				req := tokenPost(t, &attackFixture{authServer: s}, url.Values{"grant_type": {"password"},
					"username": {"bob"}, "password": {authUsers["bob"]}, "service": {authService}})
				if resp, body := send(t, req); resp.StatusCode != http.StatusTooManyRequests {
					t.Fatalf("password grant after %d failures: %s %s, want 429", burst, resp.Status, body)
				}
			}
			if resp, body := try("alice", authUsers["alice"]); resp.StatusCode != http.StatusOK {
				t.Fatalf("alice, verified before the attack: %s %s, want 200", resp.Status, body)
			}
		})
	}
}
