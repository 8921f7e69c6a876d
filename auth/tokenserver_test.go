package auth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

type tokenServerSetup struct {
	ts       *TokenServer
	bearer   *Bearer
	htpasswd string
	now      time.Time
}

func newTokenServerSetup(t *testing.T, refresh time.Duration) *tokenServerSetup {
	t.Helper()
	users, path := openUsers(t, bcryptLine(t, "alice", "pw-a")+bcryptLine(t, "bob", "pw-b"))
	policy, _ := openPolicy(t, testPolicy)
	key, err := GenerateKey(AlgEdDSA)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := NewTokenServer(TokenServerConfig{Issuer: "iss", Service: "svc", Realm: "svc", Key: key, Users: users,
		Policy: policy, Limiter: NewLimiter(100, time.Second), RefreshExpiration: refresh})
	if err != nil {
		t.Fatal(err)
	}
	s := &tokenServerSetup{ts: ts, htpasswd: path, now: time.Now()}
	ts.now = func() time.Time { return s.now }
	var trusted TrustedKeys
	if err := trusted.AddPublicKey(key.Public()); err != nil {
		t.Fatal(err)
	}
	v, _ := NewVerifier(trusted, "iss", "svc")
	s.bearer, _ = NewBearer(v, "https://r/auth/token", "svc", policy, nil)
	return s
}

func (s *tokenServerSetup) do(t *testing.T, r *http.Request) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ts.ServeHTTP(rec, r)
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s %s: body %q", r.Method, r.URL, rec.Body)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Error("token response may be cached")
	}
	return rec.Code, body
}

func post(form url.Values) *http.Request {
	r := httptest.NewRequest("POST", "/auth/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func TestTokenServerGet(t *testing.T) {
	s := newTokenServerSetup(t, time.Hour)
	r := httptest.NewRequest("GET", "/auth/token?service=svc&scope=repository:team/app:pull,push,delete&scope=repository:other:pull+registry:catalog:*&offline_token=true", nil)
	r.SetBasicAuth("bob", "pw-b")
	code, body := s.do(t, r)
	if code != 200 || body["token"] != body["access_token"] || body["expires_in"] != float64(300) || body["refresh_token"] == nil {
		t.Fatalf("GET: %d %v", code, body)
	}
	if body["scope"] != "repository:team/app:pull,push registry:catalog:*" {
		t.Errorf("granted %q: want only what the policy allows bob", body["scope"])
	}
	// The registry accepts it for exactly that.
	tok := "Bearer " + body["token"].(string)
	if _, err := authorizeWith(s.bearer, tok, Repository("team/app", ActionPull, ActionPush)...); err != nil {
		t.Errorf("the issued token does not work: %v", err)
	}
	for _, a := range []Access{{TypeRepository, "team/app", ActionDelete}, {TypeRepository, "other", ActionPull}} {
		if _, err := authorizeWith(s.bearer, tok, a); err == nil {
			t.Errorf("the issued token grants %s", a)
		}
	}

	// Anonymous: what anonymous users may do, and no refresh token.
	code, body = s.do(t, httptest.NewRequest("GET", "/auth/token?scope=repository:public/a/docs:pull,push&offline_token=true", nil))
	if code != 200 || body["scope"] != "repository:public/a/docs:pull" || body["refresh_token"] != nil {
		t.Errorf("anonymous GET: %d %v", code, body)
	}
	// The token expires.
	s.now = s.now.Add(-DefaultTokenExpiration - time.Minute)
	code, body = s.do(t, httptest.NewRequest("GET", "/auth/token", nil))
	if _, err := authorizeWith(s.bearer, "Bearer "+body["token"].(string)); code != 200 || err == nil {
		t.Errorf("an expired token was accepted (%d)", code)
	}

	for name, r := range map[string]*http.Request{
		"PUT":               httptest.NewRequest("PUT", "/auth/token", nil),
		"POST as JSON":      httptest.NewRequest("POST", "/auth/token", strings.NewReader(`{"grant_type":"password"}`)),
		"POST without user": post(url.Values{"grant_type": {"password"}, "password": {"x"}}),
		"GET wrong password": func() *http.Request {
			r := httptest.NewRequest("GET", "/auth/token", nil)
			r.SetBasicAuth("bob", "x")
			return r
		}(),
	} {
		if code, body := s.do(t, r); code < 400 || body["access_token"] != nil {
			t.Errorf("%s: %d %v", name, code, body)
		}
	}
}

// TestTokenServerWildcardScope: repository:NAME:* (what containers/image
// asks for before a DELETE) grants the actions the policy allows there,
// listed one by one in the token.
func TestTokenServerWildcardScope(t *testing.T) {
	s := newTokenServerSetup(t, 0)
	for _, c := range []struct {
		user, pw, scope, granted string
	}{
		{"alice", "pw-a", "repository:team/app:*", "repository:team/app:pull,push,delete"},
		{"bob", "pw-b", "repository:team/app:*", "repository:team/app:pull,push"},
		{"bob", "pw-b", "repository:other:*", ""},
		{"", "", "repository:public/a/docs:*", "repository:public/a/docs:pull"},
	} {
		r := httptest.NewRequest("GET", "/auth/token?service=svc&scope="+url.QueryEscape(c.scope), nil)
		if c.user != "" {
			r.SetBasicAuth(c.user, c.pw)
		}
		code, body := s.do(t, r)
		if code != 200 || body["scope"] != c.granted {
			t.Errorf("GET %s as %q: %d %v, want 200 granting %q", c.scope, c.user, code, body, c.granted)
			continue
		}
		name := strings.Split(c.scope, ":")[1]
		tok := "Bearer " + body["token"].(string)
		for _, a := range Repository(name, ActionPull, ActionPush, ActionDelete) {
			_, err := authorizeWith(s.bearer, tok, a)
			if want := strings.Contains(c.granted, a.Action); (err == nil) != want {
				t.Errorf("token of %q for %s: %s allowed %v, want %v", c.user, c.scope, a.Action, err == nil, want)
			}
		}
	}
	if code, body := s.do(t, post(url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"pw-b"},
		"scope": {"repository:team/app:*"}})); code != 200 || body["scope"] != "repository:team/app:pull,push" {
		t.Errorf("POST repository:team/app:* as bob: %d %v", code, body)
	}
}

func TestTokenServerRefresh(t *testing.T) {
	s := newTokenServerSetup(t, time.Hour)
	code, body := s.do(t, post(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"pw-a"},
		"access_type": {"offline"}, "scope": {"repository:x/y:pull,push"}, "client_id": {"docker"}}))
	if code != 200 || body["token_type"] != "Bearer" || body["scope"] != "repository:x/y:pull,push" {
		t.Fatalf("password grant: %d %v", code, body)
	}
	refresh, _ := body["refresh_token"].(string)
	if refresh == "" {
		t.Fatal("no refresh token with access_type=offline")
	}
	if _, err := authorizeWith(s.bearer, "Bearer "+refresh); err == nil {
		t.Error("the refresh token works as an access token")
	}
	grant := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "scope": {"repository:x/y:delete"}}
	if code, body := s.do(t, post(grant)); code != 200 || body["scope"] != "repository:x/y:delete" || body["refresh_token"] != nil {
		t.Fatalf("refresh grant: %d %v", code, body)
	}
	// Past its lifetime it is refused.
	s.now = s.now.Add(2 * time.Hour)
	if code, _ := s.do(t, post(grant)); code != 401 {
		t.Errorf("expired refresh token: %d, want 401", code)
	}
	s.now = time.Now()
	// alice leaves htpasswd: refused, though not expired.
	writeAtomic(t, s.htpasswd, bcryptLine(t, "bob", "pw-b"))
	if code, _ := s.do(t, post(grant)); code != 401 {
		t.Errorf("refresh token of a removed user: %d, want 401", code)
	}
	// alice comes back with the same password: a new entry (new salt), so
	// tokens of the old one stay dead.
	writeAtomic(t, s.htpasswd, bcryptLine(t, "alice", "pw-a"))
	if code, _ := s.do(t, post(grant)); code != 401 {
		t.Errorf("refresh token across a re-created user: %d, want 401", code)
	}

	off := newTokenServerSetup(t, 0)
	if code, body := off.do(t, post(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"pw-a"},
		"access_type": {"offline"}})); code != 200 || body["refresh_token"] != nil {
		t.Errorf("refresh tokens disabled: %d %v", code, body)
	}
}

func TestNewTokenServerChecks(t *testing.T) {
	users, _ := openUsers(t, bcryptLine(t, "a", "b"))
	key, _ := GenerateKey(AlgES256)
	for name, cfg := range map[string]TokenServerConfig{
		"no issuer":        {Service: "s", Key: key, Users: users},
		"no key":           {Issuer: "i", Service: "s", Users: users},
		"no users":         {Issuer: "i", Service: "s", Key: key},
		"long lifetime":    {Issuer: "i", Service: "s", Key: key, Users: users, Expiration: 2 * time.Hour},
		"negative renewal": {Issuer: "i", Service: "s", Key: key, Users: users, RefreshExpiration: -1},
	} {
		if _, err := NewTokenServer(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
