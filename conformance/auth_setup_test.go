package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storagedriver"
)

// The auth tests run a registry with access control: htpasswd mode (basic
// auth on every request) or token mode (the built-in token server at
// /auth/token and bearer tokens), with the users and policy below.

// authUsers are the htpasswd users of the auth tests and their passwords.
var authUsers = map[string]string{
	"alice": "alice-secret-1",   // admins: everything everywhere
	"bob":   "bob-secret-2",     // developers: pull and push in team/**
	"carol": "carol-secret-3",   // no group: only what any user gets
	"dave":  "dave-secret-4",    // removed from htpasswd by some tests
	"erin":  "erin-secret-5",    // changes password in some tests
	"oci":   "conformance-pass", // the conformance suite's user
}

// authPolicy: alice may do everything, bob pull and push in team/**, any
// logged-in user pull in shared/**, anyone pull in public/**.
const authPolicy = `groups:
  admins: [alice, oci]
  developers: [bob, dave]
rules:
  - repositories: ["**"]
    groups: [admins]
    actions: [pull, push, delete]
  - repositories: ["team/**"]
    groups: [developers]
    actions: [pull, push]
  - repositories: ["shared/**"]
    authenticated: true
    actions: [pull]
  - repositories: ["public/**"]
    anonymous: true
    actions: [pull]
`

const (
	authModeHtpasswd = "htpasswd"
	authModeToken    = "token"
	authService      = "berth-test"
	authIssuer       = "berth-test-issuer"
)

var authModes = []string{authModeHtpasswd, authModeToken}

// authServer is a registry with access control serving on loopback.
type authServer struct {
	Host, URL string
	Mode      string
	Htpasswd  string // path of the htpasswd file, which tests may rewrite
	Policy    string // path of the policy file ("" without one)
	Key       *auth.SigningKey
	Driver    storagedriver.Driver
	// Flush writes what the registry keeps to write in the background
	// (last-pulled times, repository metadata records).
	Flush func(ctx context.Context) error
}

type authOptions struct {
	policy  string // policy file content; "" for none
	limiter *auth.Limiter
	refresh time.Duration
}

// startAuthRegistry serves a registry over drv with deletes on, sparse
// manifests accepted (as the conformance suite needs) and access control
// in mode. Its listener is opened first, so the token realm can name it.
func startAuthRegistry(t *testing.T, drv storagedriver.Driver, mode string, o authOptions) *authServer {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	s := &authServer{Host: ln.Addr().String(), Mode: mode, Driver: drv}
	s.URL = "http://" + s.Host
	s.Htpasswd = filepath.Join(dir, "htpasswd")
	writeHtpasswd(t, s.Htpasswd, authUsers)

	logs := &syncLog{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	users, err := auth.OpenHtpasswd(s.Htpasswd, logger)
	must(t, err)
	var policy *auth.Policy
	if o.policy != "" {
		s.Policy = filepath.Join(dir, "policy.yml")
		writeFile(t, s.Policy, []byte(o.policy))
		policy, err = auth.OpenPolicy(s.Policy, logger)
		must(t, err)
	}
	limiter := o.limiter
	if limiter == nil {
		limiter = auth.NewLimiter(1000, time.Millisecond)
	}
	if o.refresh == 0 {
		o.refresh = time.Hour
	}

	opts := []registry.Option{
		registry.WithLogger(logger),
		registry.WithDelete(true),
		registry.WithIndexPlatforms("none", nil),
		registry.WithLayerValidation(false),
	}
	switch mode {
	case authModeHtpasswd:
		az, err := auth.NewBasic("berth-test", users, policy, limiter, logger)
		must(t, err)
		opts = append(opts, registry.WithAuth(az))
	case authModeToken:
		s.Key, err = auth.GenerateKey(auth.AlgES256)
		must(t, err)
		ts, err := auth.NewTokenServer(auth.TokenServerConfig{
			Issuer: authIssuer, Service: authService, Realm: authService,
			Key: s.Key, Users: users, Policy: policy, Limiter: limiter,
			RefreshExpiration: o.refresh, Log: logger,
		})
		must(t, err)
		var keys auth.TrustedKeys
		must(t, keys.AddPublicKey(s.Key.Public()))
		v, err := auth.NewVerifier(keys, authIssuer, authService)
		must(t, err)
		az, err := auth.NewBearer(v, s.URL+registry.TokenPath, authService, policy, logger)
		must(t, err)
		opts = append(opts, registry.WithAuth(az), registry.WithTokenServer(ts))
	default:
		t.Fatalf("unknown auth mode %q", mode)
	}
	app, err := registry.New(t.Context(), drv, opts...)
	must(t, err)
	s.Flush = func(ctx context.Context) error { return errors.Join(app.FlushPulls(ctx), app.FlushMeta(ctx)) }
	srv := httptest.NewUnstartedServer(app)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Config.ReadHeaderTimeout = 30 * time.Second
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		if t.Failed() {
			t.Logf("registry log (%s, %s):\n%s", drv.Name(), mode, logs.tail(64<<10))
		}
	})
	return s
}

// writeHtpasswd writes users with bcrypt hashes of the lowest cost, to
// keep the tests fast.
func writeHtpasswd(t *testing.T, path string, users map[string]string) {
	t.Helper()
	var b strings.Builder
	for name, pw := range users {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		must(t, err)
		fmt.Fprintf(&b, "%s:%s\n", name, h)
	}
	// Written aside and renamed, as an administrator's tool would, so the
	// registry never reads half a file.
	tmp := path + ".tmp"
	must(t, os.WriteFile(tmp, []byte(b.String()), 0o600))
	must(t, os.Rename(tmp, path))
}

// without is users less the named ones.
func without(users map[string]string, names ...string) map[string]string {
	out := map[string]string{}
	for k, v := range users {
		out[k] = v
	}
	for _, n := range names {
		delete(out, n)
	}
	return out
}

// authHeader returns the Authorization value user needs for the accesses
// in scopes: basic credentials in htpasswd mode, a token from the token
// server in token mode. user "" is anonymous ("" header in htpasswd mode).
func (s *authServer) authHeader(t *testing.T, user string, scopes ...string) string {
	t.Helper()
	if s.Mode == authModeHtpasswd {
		if user == "" {
			return ""
		}
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(user, authUsers[user])
		return req.Header.Get("Authorization")
	}
	return "Bearer " + s.token(t, user, scopes...)
}

// token gets an access token for user (anonymous when "") from the token
// server with GET.
func (s *authServer) token(t *testing.T, user string, scopes ...string) string {
	t.Helper()
	q := url.Values{"service": {authService}, "scope": scopes}
	req, err := http.NewRequest("GET", s.URL+registry.TokenPath+"?"+q.Encode(), nil)
	must(t, err)
	if user != "" {
		req.SetBasicAuth(user, authUsers[user])
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	var body struct {
		Token string `json:"token"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil || body.Token == "" {
		t.Fatalf("token for %q %v: %s", user, scopes, resp.Status)
	}
	return body.Token
}

// syncLog keeps the registry's log for a failing test.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return testutil.Tail(l.buf.Bytes(), n)
}
