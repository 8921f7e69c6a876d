package proxy_test

// Upstreams that are CNCF Distribution v3, run in-process: one behind
// bearer tokens from a token server of the test's own, one behind htpasswd.

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd" // access controllers register themselves
	_ "github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"

	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/registry/proxy"
)

var quietDistribution sync.Once

// startDistribution serves Distribution over in-memory storage with the
// given auth section (YAML indented under "auth:"), behind a counter.
func startDistribution(t *testing.T, auth string) *upstream {
	t.Helper()
	quietDistribution.Do(func() { logrus.SetOutput(io.Discard) })
	cfg, err := configuration.Parse(strings.NewReader("version: 0.1\nstorage:\n  inmemory: {}\n" +
		"  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  secret: proxy-test\nauth:\n" + auth))
	if err != nil {
		t.Fatal(err)
	}
	app, err := newDistributionApp(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Shutdown() })
	return serveCounted(t, app, true)
}

func newDistributionApp(t *testing.T, cfg *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if p := recover(); p != nil { // NewApp panics on a bad configuration
			err = fmt.Errorf("handlers.NewApp: %v", p)
		}
	}()
	return handlers.NewApp(t.Context(), cfg), nil
}

// Distribution's token access controller checks these.
const (
	tokenIssuerName = "berth-proxy-test"
	tokenService    = "distribution-upstream"
	tokenKeyID      = "proxy-test-key"
)

// tokenServer issues EdDSA JWTs to the users it knows, granting what they
// ask for, and to anonymous callers pull only.
type tokenServer struct {
	key   ed25519.PrivateKey
	users map[string]string
}

func (ts *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass, authenticated := r.BasicAuth()
	if authenticated && ts.users[user] != pass {
		http.Error(w, `{"details":"wrong credentials"}`, http.StatusUnauthorized)
		return
	}
	type access struct {
		Type    string   `json:"type"`
		Name    string   `json:"name"`
		Actions []string `json:"actions"`
	}
	grants := []access{}
	for _, scope := range r.URL.Query()["scope"] {
		parts := strings.Split(scope, ":")
		if len(parts) != 3 {
			continue
		}
		actions := strings.Split(parts[2], ",")
		if !authenticated {
			actions = []string{"pull"}
		}
		grants = append(grants, access{parts[0], parts[1], actions})
	}
	now := time.Now()
	claims := map[string]any{
		"iss": tokenIssuerName, "sub": user, "aud": tokenService, "access": grants,
		"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"jti": fmt.Sprint(now.UnixNano()),
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString(mustJSON(map[string]string{"alg": "EdDSA", "typ": "JWT", "kid": tokenKeyID})) +
		"." + enc.EncodeToString(mustJSON(claims))
	tok := signed + "." + enc.EncodeToString(ed25519.Sign(ts.key, []byte(signed)))
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_in": 300})
}

// startTokenDistribution serves Distribution behind bearer tokens that a
// token server of its own issues to users.
func startTokenDistribution(t *testing.T, users map[string]string) *upstream {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(&tokenServer{key: key, users: users})
	t.Cleanup(ts.Close)
	jwks := filepath.Join(t.TempDir(), "jwks.json")
	pub := key.Public().(ed25519.PublicKey)
	if err := os.WriteFile(jwks, mustJSON(map[string]any{"keys": []map[string]string{{
		"kty": "OKP", "crv": "Ed25519", "kid": tokenKeyID, "use": "sig", "alg": "EdDSA",
		"x": base64.RawURLEncoding.EncodeToString(pub),
	}}}), 0o600); err != nil {
		t.Fatal(err)
	}
	return startDistribution(t, fmt.Sprintf("  token:\n    realm: %q\n    service: %q\n    issuer: %q\n    jwks: %q\n",
		ts.URL+"/token", tokenService, tokenIssuerName, jwks))
}

// startHtpasswdDistribution serves Distribution behind basic auth.
func startHtpasswdDistribution(t *testing.T, user, password string) *upstream {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(file, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return startDistribution(t, fmt.Sprintf("  htpasswd:\n    realm: proxy-test\n    path: %q\n", file))
}

func creds(host, user, password string) client.Option {
	return client.WithCredentials(client.StaticCredentials{host: {Username: user, Password: password}})
}

// TestConcurrentPullsDistributionToken: the 50 concurrent pulls, from a
// Distribution upstream that wants bearer tokens.
func TestConcurrentPullsDistributionToken(t *testing.T) {
	up := startTokenDistribution(t, map[string]string{"alice": "secret"})
	testConcurrentPulls(t, up, newClient(creds(up.host, "alice", "secret")), proxy.Upstream{Username: "alice", Password: "secret"})
}

// TestTwoUpstreamsByPrefix: two upstreams, each with its own credentials
// (bearer tokens for one, basic for the other), chosen by prefix; wrong
// credentials for an upstream give a 404 that says the upstream refused.
func TestTwoUpstreamsByPrefix(t *testing.T) {
	a := startTokenDistribution(t, map[string]string{"alice": "secret"})
	b := startHtpasswdDistribution(t, "bob", "hunter2")
	imA, imB := newImage(20, true, 2000), newImage(21, false, 3000)
	imA.push(t, newClient(creds(a.host, "alice", "secret")), mustRef(t, a.host+"/team/x:v1"))
	imB.push(t, newClient(creds(b.host, "bob", "hunter2")), mustRef(t, b.host+"/team/y:v1"))
	cache := startCache(t, []proxy.Upstream{
		{Prefix: "a.example", RemoteURL: a.URL, Username: "alice", Password: "secret", TTL: time.Hour},
		{Prefix: "b.example", RemoteURL: b.URL, Username: "bob", Password: "hunter2", TTL: time.Hour},
		{Prefix: "a.example/wrong", RemoteURL: a.URL, Username: "alice", Password: "nope"},
		{Prefix: "b.example/anonymous", RemoteURL: b.URL},
	})
	c := newClient()
	for ref, want := range map[string]*image{"a.example/team/x:v1": imA, "b.example/team/y:v1": imB} {
		if d, err := pull(t.Context(), c, mustRef(t, cache.Host+"/"+ref)); err != nil || d != want.top() {
			t.Errorf("pull %s: %s, %v; want %s", ref, d, err, want.top())
		}
	}
	for _, path := range []string{"a.example/wrong/team/x/manifests/v1", "b.example/anonymous/team/y/manifests/v1"} {
		code, _, e := get(t, "GET", cache.URL+"/v2/"+path)
		if code != 404 || e.Code != "MANIFEST_UNKNOWN" || !strings.Contains(e.Message, "refused access") {
			t.Errorf("GET %s: %d %+v, want 404 MANIFEST_UNKNOWN saying the upstream refused", path, code, e)
		}
	}
}
