package disttest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// What Distribution's token access controller is told to expect.
const (
	tokenIssuer  = "disttest-issuer"
	tokenService = "disttest-registry"
	tokenKeyID   = "disttest-key"
)

// TokenServer issues the JWTs Distribution's token auth verifies: EdDSA,
// signed with a key published under "kid" in the JWKS file the registry
// reads, with the configured issuer and audience and the granted access.
type TokenServer struct {
	key      ed25519.PrivateKey
	users    map[string]string
	realm    string // the token endpoint
	jwksFile string

	mu       sync.Mutex
	requests []string
}

// startTokenServer serves a TokenServer for users (name → password) on
// loopback until the test ends, and writes its JWKS file.
func startTokenServer(t testing.TB, users map[string]string) *TokenServer {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ts := &TokenServer{key: key, users: users, jwksFile: filepath.Join(t.TempDir(), "jwks.json")}
	jwks, err := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "OKP", "crv": "Ed25519", "kid": tokenKeyID, "use": "sig", "alg": "EdDSA",
		"x": base64.RawURLEncoding.EncodeToString(pub),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ts.jwksFile, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ts)
	t.Cleanup(srv.Close)
	ts.realm = srv.URL + "/token"
	return ts
}

// Requests lists the token requests so far, each as "METHOD rawquery".
func (ts *TokenServer) Requests() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return slices.Clone(ts.requests)
}

// ServeHTTP answers a GET with scope parameters: with basic auth, a user's
// right password gets every action the scopes ask and a wrong one a 401;
// without, the scopes' pull actions only. Other methods get a 405.
func (ts *TokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ts.mu.Lock()
	ts.requests = append(ts.requests, r.Method+" "+r.URL.RawQuery)
	ts.mu.Unlock()
	if r.Method != http.MethodGet {
		http.Error(w, `{"details":"only GET"}`, http.StatusMethodNotAllowed)
		return
	}
	user, pass, authed := r.BasicAuth()
	if want, known := ts.users[user]; authed && (!known || want != pass) {
		http.Error(w, `{"details":"wrong user name or password"}`, http.StatusUnauthorized)
		return
	}
	type access struct {
		Type    string   `json:"type"`
		Name    string   `json:"name"`
		Actions []string `json:"actions"`
	}
	grants := []access{}
	for _, s := range r.URL.Query()["scope"] {
		parts := strings.Split(s, ":")
		if len(parts) != 3 {
			continue
		}
		actions := strings.Split(parts[2], ",")
		if !authed {
			actions = slices.DeleteFunc(actions, func(a string) bool { return a != "pull" })
		}
		grants = append(grants, access{parts[0], parts[1], actions})
	}
	now := time.Now()
	tok, err := ts.sign(map[string]any{
		"iss": tokenIssuer, "sub": user, "aud": tokenService, "access": grants,
		"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"jti": fmt.Sprint(now.UnixNano()),
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token": tok, "access_token": tok, "expires_in": 300, "issued_at": now.UTC().Format(time.RFC3339),
	})
}

// sign makes a compact JWS of claims.
func (ts *TokenServer) sign(claims map[string]any) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": "EdDSA", "typ": "JWT", "kid": tokenKeyID})
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	msg := enc.EncodeToString(header) + "." + enc.EncodeToString(body)
	return msg + "." + enc.EncodeToString(ed25519.Sign(ts.key, []byte(msg))), nil
}
