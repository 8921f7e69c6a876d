package hatest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	_ "github.com/distribution/distribution/v3/registry/auth/token" // registers itself
	"github.com/sirupsen/logrus"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// Counted is a registry whose requests are counted by kind (see
// RequestKind), for tests that prove what a client did not ask for.
type Counted struct {
	Server
	mu       sync.Mutex
	counts   map[string]int
	slow     time.Duration
	inFlight int // blob GETs being answered
	maxBlobs int // the most at once
}

// StartCountedBerth serves Berth in memory, counting its requests, until
// the test ends.
func StartCountedBerth(t testing.TB, opts ...registry.Option) *Counted {
	t.Helper()
	app, err := registry.New(t.Context(), inmemory.New(), opts...)
	if err != nil {
		t.Fatalf("registry.New: %v", err)
	}
	return serveCounted(t, app)
}

// StartCountedDistribution serves distribution/v3 in memory, counting its
// requests, until the test ends. With users (name → password) it uses
// Distribution's token auth, with a token server of the test's own that
// grants users what they ask and anonymous callers pull only.
func StartCountedDistribution(t testing.TB, users map[string]string) *Counted {
	t.Helper()
	quietLogrus.Do(func() { logrus.SetOutput(io.Discard) })
	cfg := "version: 0.1\nstorage:\n  inmemory: {}\n  delete:\n    enabled: true\n" +
		"  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  secret: hatest\n"
	if len(users) > 0 {
		ts := newTokenServer(t, users)
		cfg += fmt.Sprintf("auth:\n  token:\n    realm: %q\n    service: %q\n    issuer: %q\n    jwks: %q\n",
			ts.realm, tokenService, tokenIssuer, ts.jwksFile)
	}
	parsed, err := configuration.Parse(strings.NewReader(cfg))
	if err != nil {
		t.Fatalf("distribution config: %v", err)
	}
	app, err := newApp(t.Context(), parsed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Shutdown() })
	return serveCounted(t, app)
}

func serveCounted(t testing.TB, h http.Handler) *Counted {
	c := &Counted{counts: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := RequestKind(r)
		c.mu.Lock()
		c.counts[kind]++
		slow := c.slow
		if kind == "GET blob" {
			c.inFlight++
			c.maxBlobs = max(c.maxBlobs, c.inFlight)
			defer func() {
				c.mu.Lock()
				c.inFlight--
				c.mu.Unlock()
			}()
		}
		c.mu.Unlock()
		if slow > 0 && kind == "GET blob" {
			w = &slowWriter{ResponseWriter: w, delay: slow}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c.Host, c.URL = srv.Listener.Addr().String(), srv.URL
	return c
}

// RequestKind names what a registry request does: "GET /v2/", "HEAD
// manifest", "GET manifest", "PUT manifest", "HEAD blob", "GET blob",
// "POST upload", "PATCH upload", "PUT upload", "GET tags", "GET
// catalog", "GET referrers", or the method and path.
func RequestKind(r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == "/v2/" || p == "/v2":
		return r.Method + " /v2/"
	case strings.Contains(p, "/blobs/uploads"):
		return r.Method + " upload"
	case strings.Contains(p, "/blobs/"):
		return r.Method + " blob"
	case strings.Contains(p, "/manifests/"):
		return r.Method + " manifest"
	case strings.HasSuffix(p, "/tags/list"):
		return r.Method + " tags"
	case strings.HasPrefix(p, "/v2/_catalog"):
		return r.Method + " catalog"
	case strings.Contains(p, "/referrers/"):
		return r.Method + " referrers"
	}
	return r.Method + " " + p
}

// Counts returns the requests counted since the start or the last Reset.
func (c *Counted) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

// Count is how many requests of kind were counted.
func (c *Counted) Count(kind string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[kind]
}

// MaxBlobGets is the most blob GETs answered at once since the start or
// the last Reset.
func (c *Counted) MaxBlobGets() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxBlobs
}

// Reset zeroes the counts.
func (c *Counted) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts = map[string]int{}
	c.maxBlobs = c.inFlight
}

// SlowBlobs makes each write of a blob download's body wait d (0: no wait).
func (c *Counted) SlowBlobs(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slow = d
}

// FormatCounts prints counts sorted by kind: "GET blob=3 HEAD manifest=2".
func FormatCounts(counts map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, counts[k]))
	}
	return strings.Join(parts, " ")
}

// slowWriter sends a body in pieces of at most 32 KiB, waiting before each.
type slowWriter struct {
	http.ResponseWriter
	delay time.Duration
}

func (s *slowWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		time.Sleep(s.delay)
		k := min(len(b), 32<<10)
		m, err := s.ResponseWriter.Write(b[:k])
		n += m
		if err != nil {
			return n, err
		}
		if f, ok := s.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		b = b[k:]
	}
	return n, nil
}

const (
	tokenIssuer  = "hatest-issuer"
	tokenService = "hatest-registry"
	tokenKeyID   = "hatest-key"
)

// tokenServer issues the JWTs Distribution's token auth verifies: EdDSA
// signed with a key published in a JWKS file the registry reads.
type tokenServer struct {
	key      ed25519.PrivateKey
	users    map[string]string
	realm    string
	jwksFile string
}

func newTokenServer(t testing.TB, users map[string]string) *tokenServer {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ts := &tokenServer{key: key, users: users}
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": tokenKeyID,
		"x": base64.RawURLEncoding.EncodeToString(pub),
	}}})
	ts.jwksFile = filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(ts.jwksFile, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ts)
	t.Cleanup(srv.Close)
	ts.realm = srv.URL + "/token"
	return ts
}

// ServeHTTP answers GET (basic auth, scope parameters) and the OAuth2
// password grant as POST.
func (ts *tokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass, authed := r.BasicAuth()
	scopes := r.URL.Query()["scope"]
	if r.Method == http.MethodPost {
		_ = r.ParseForm()
		user, pass, authed = r.PostForm.Get("username"), r.PostForm.Get("password"), r.PostForm.Get("username") != ""
		scopes = strings.Fields(r.PostForm.Get("scope"))
	}
	if authed && (ts.users[user] == "" || ts.users[user] != pass) {
		http.Error(w, `{"details":"wrong user name or password"}`, http.StatusUnauthorized)
		return
	}
	type grant struct {
		Type    string   `json:"type"`
		Name    string   `json:"name"`
		Actions []string `json:"actions"`
	}
	grants := []grant{}
	for _, s := range scopes {
		typ, rest, ok1 := strings.Cut(s, ":")
		name, actions, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 {
			continue
		}
		acts := strings.Split(actions, ",")
		if !authed {
			acts = slices.DeleteFunc(acts, func(a string) bool { return a != "pull" })
		}
		grants = append(grants, grant{typ, name, acts})
	}
	now := time.Now()
	tok, err := ts.sign(map[string]any{
		"iss": tokenIssuer, "aud": tokenService, "sub": user, "access": grants,
		"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		"jti": fmt.Sprintf("%d", now.UnixNano()),
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"token": tok, "access_token": tok, "expires_in": 600})
}

func (ts *tokenServer) sign(claims map[string]any) (string, error) {
	enc := base64.RawURLEncoding
	head, err := json.Marshal(map[string]string{"typ": "JWT", "alg": "EdDSA", "kid": tokenKeyID})
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	msg := enc.EncodeToString(head) + "." + enc.EncodeToString(body)
	return msg + "." + enc.EncodeToString(ed25519.Sign(ts.key, []byte(msg))), nil
}
