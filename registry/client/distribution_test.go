package client

// The client against CNCF Distribution v3, run in-process, with its own
// htpasswd and token access controllers: the flows real registries use,
// not only Berth's.

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd" // access controllers register themselves
	_ "github.com/distribution/distribution/v3/registry/auth/token"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"
)

var quietDistribution sync.Once

// startDistribution serves Distribution with in-memory storage, deletes
// on, and the given auth section (YAML, indented under "auth:").
func startDistribution(t *testing.T, auth string) string {
	t.Helper()
	quietDistribution.Do(func() { logrus.SetOutput(io.Discard) })
	cfg, err := configuration.Parse(strings.NewReader(`
version: 0.1
storage:
  inmemory: {}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  secret: client-test
auth:
` + auth))
	if err != nil {
		t.Fatalf("distribution configuration: %v", err)
	}
	app, err := newDistributionApp(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app)
	t.Cleanup(func() {
		srv.Close()
		_ = app.Shutdown()
	})
	return srv.Listener.Addr().String()
}

func newDistributionApp(t *testing.T, cfg *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handlers.NewApp: %v", p)
		}
	}()
	return handlers.NewApp(t.Context(), cfg), nil
}

// exercise runs the operations a host agent needs against host with c.
func exercise(t *testing.T, c *Client, host string) {
	t.Helper()
	ctx := t.Context()
	if err := c.Ping(ctx, host); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	ref := mustRef(t, host+"/team/app:v1")
	img := newImage(t, 11, nil, "", 500, 300_000) // the second layer goes in chunks
	img.push(t, c, ref)
	m, err := c.ManifestGet(ctx, ref)
	if err != nil || m.Descriptor.Digest != img.Digest || m.Descriptor.MediaType != v1.MediaTypeImageManifest {
		t.Fatalf("ManifestGet = %+v, %v", m, err)
	}
	if desc, err := c.ManifestHead(ctx, ref); err != nil || desc.Digest != img.Digest {
		t.Errorf("ManifestHead = %+v, %v", desc, err)
	}
	big := img.Layers[1]
	d := digest.FromBytes(big)
	if got := readBlob(t, c, ref, d, int64(len(big))); !bytes.Equal(got, big) {
		t.Error("layer reads back differently")
	}
	rc, size, err := c.BlobGet(ctx, ref, d, 1000)
	if err != nil || size != int64(len(big)) {
		t.Fatalf("BlobGet from 1000 = %d, %v", size, err)
	}
	tail, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(tail, big[1000:]) {
		t.Errorf("resumed read: %d bytes, %v", len(tail), err)
	}
	// Copy the image to another repository by mounting its blobs.
	dst := mustRef(t, host+"/team/copy:v1")
	for _, b := range append([][]byte{img.Config}, img.Layers...) {
		if ok, err := c.BlobMount(ctx, dst, ref.Repository, digest.FromBytes(b)); err != nil || !ok {
			t.Errorf("BlobMount = %v, %v", ok, err)
		}
	}
	if _, err := c.ManifestPut(ctx, dst, v1.MediaTypeImageManifest, img.Manifest); err != nil {
		t.Errorf("ManifestPut after mounting every blob: %v", err)
	}
	if ok, err := c.BlobMount(ctx, dst, ref.Repository, digest.FromString("unknown")); err != nil || ok {
		t.Errorf("BlobMount of an unknown blob = %v, %v", ok, err)
	}
	if _, err := c.ManifestPut(ctx, ref.WithTag("v2"), v1.MediaTypeImageManifest, img.Manifest); err != nil {
		t.Fatal(err)
	}
	if tags, err := c.Tags(ctx, ref); err != nil || !slices.Equal(tags, []string{"v1", "v2"}) {
		t.Errorf("Tags = %q, %v", tags, err)
	}
	if repos, err := c.Catalog(ctx, host); err != nil || !slices.Equal(repos, []string{"team/app", "team/copy"}) {
		t.Errorf("Catalog = %q, %v", repos, err)
	}
	byDigest := ref.WithDigest(img.Digest)
	byDigest.Tag = ""
	if err := c.ManifestDelete(ctx, byDigest); err != nil {
		t.Fatalf("ManifestDelete: %v", err)
	}
	if _, err := c.ManifestGet(ctx, byDigest); !errors.Is(err, ErrNotFound) {
		t.Errorf("ManifestGet after delete: %v, want ErrNotFound", err)
	}
}

// TestDistributionHtpasswd: basic auth against Distribution's htpasswd.
func TestDistributionHtpasswd(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(file, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	host := startDistribution(t, fmt.Sprintf("  htpasswd:\n    realm: client-test\n    path: %q\n", file))
	exercise(t, New(WithChunkSize(128<<10), creds(host, "alice", "secret")), host)

	for name, c := range map[string]*Client{"wrong password": New(creds(host, "alice", "nope")), "no credentials": New()} {
		if err := c.Ping(t.Context(), host); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("Ping with %s: %v, want ErrUnauthorized", name, err)
		}
	}
}

// tokenIssuer signs the JWTs Distribution's token access controller
// verifies: EdDSA, the key named by "kid" in a JWKS file the registry
// trusts, issuer and audience as configured, and the granted access.
type tokenIssuer struct {
	key     ed25519.PrivateKey
	users   map[string]string
	mu      sync.Mutex
	fetches int
	log     []string
}

const (
	testIssuer  = "berth-client-test"
	testService = "distribution-under-test"
	testKeyID   = "client-test-key"
)

func (ti *tokenIssuer) jwks(t *testing.T) string {
	t.Helper()
	pub := ti.key.Public().(ed25519.PublicKey)
	b, err := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "OKP", "crv": "Ed25519", "kid": testKeyID, "use": "sig", "alg": "EdDSA",
		"x": base64.RawURLEncoding.EncodeToString(pub),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (ti *tokenIssuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ti.mu.Lock()
	ti.fetches++
	ti.log = append(ti.log, r.Method+" "+r.URL.RawQuery)
	ti.mu.Unlock()
	user, pass, hasAuth := r.BasicAuth()
	scopes := r.URL.Query()["scope"]
	if r.Method == http.MethodPost {
		_ = r.ParseForm()
		user, pass, hasAuth = r.PostForm.Get("username"), r.PostForm.Get("password"), true
		scopes = strings.Fields(r.PostForm.Get("scope"))
	}
	if hasAuth && ti.users[user] != pass {
		http.Error(w, `{"details":"wrong credentials"}`, http.StatusUnauthorized)
		return
	}
	type access struct {
		Type    string   `json:"type"`
		Name    string   `json:"name"`
		Actions []string `json:"actions"`
	}
	grants := []access{}
	for _, s := range scopes {
		parts := strings.Split(s, ":")
		if len(parts) != 3 {
			continue
		}
		actions := strings.Split(parts[2], ",")
		if !hasAuth { // anonymous: pull only
			actions = slices.DeleteFunc(actions, func(a string) bool { return a != "pull" })
		}
		grants = append(grants, access{parts[0], parts[1], actions})
	}
	now := time.Now()
	tok, err := signJWT(ti.key, map[string]any{
		"iss": testIssuer, "sub": user, "aud": testService,
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
		"jti": fmt.Sprint(now.UnixNano()), "access": grants,
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_in": 300, "issued_at": now.UTC().Format(time.RFC3339)})
}

func signJWT(key ed25519.PrivateKey, claims map[string]any) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": "EdDSA", "typ": "JWT", "kid": testKeyID})
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(body)
	return signing + "." + enc.EncodeToString(ed25519.Sign(key, []byte(signing))), nil
}

// TestDistributionToken: the bearer flow against Distribution's token
// access controller, with a token server that signs what it verifies.
func TestDistributionToken(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ti := &tokenIssuer{key: key, users: map[string]string{"alice": "secret"}}
	tokenHost := serve(t, ti)
	host := startDistribution(t, fmt.Sprintf("  token:\n    realm: %q\n    service: %q\n    issuer: %q\n    jwks: %q\n",
		"http://"+tokenHost+"/token", testService, testIssuer, ti.jwks(t)))

	c := New(WithChunkSize(128<<10), creds(host, "alice", "secret"))
	exercise(t, c, host)
	// Dozens of requests, one token per scope set: no token request is
	// made twice.
	ti.mu.Lock()
	seen := map[string]bool{}
	for _, q := range ti.log {
		if seen[q] {
			t.Errorf("token requested twice: %s", q)
		}
		seen[q] = true
	}
	t.Logf("%d token requests: %q", ti.fetches, ti.log)
	ti.mu.Unlock()

	// Anonymous: pull works, push is refused.
	ref := mustRef(t, host+"/public/img:1")
	newImage(t, 12, nil, "", 100).push(t, c, ref)
	anon := New()
	if _, err := anon.ManifestGet(t.Context(), ref); err != nil {
		t.Errorf("anonymous pull: %v", err)
	}
	if err := anon.BlobPut(t.Context(), ref, blobDesc([]byte("x"), ""), strings.NewReader("x")); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("anonymous push: %v, want ErrUnauthorized", err)
	}
	if _, err := New(creds(host, "alice", "wrong")).ManifestGet(t.Context(), ref); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("wrong password: %v, want ErrUnauthorized", err)
	}
}
