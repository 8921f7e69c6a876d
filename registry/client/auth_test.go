package client

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
)

func creds(host, user, pass string) Option {
	return WithCredentials(StaticCredentials{host: {Username: user, Password: pass}})
}

// TestAuthAnonymousToken: a pull with no credentials gets an anonymous
// token, once; a push with it is refused as unauthorized.
func TestAuthAnonymousToken(t *testing.T) {
	ctx := t.Context()
	f := &fakeAuth{users: map[string]string{"alice": "secret"}, anonymousPull: true}
	host := f.start(t)
	ref := mustRef(t, host+"/pub/img:1")
	img := newImage(t, 1, nil, "", 100)
	img.push(t, New(creds(host, "alice", "secret")), ref)
	getsBefore, _ := f.counts()

	c := New()
	if _, err := c.ManifestGet(ctx, ref); err != nil {
		t.Fatalf("anonymous ManifestGet: %v", err)
	}
	if f.lastUser != "" || f.lastQuery.Get("account") != "" {
		t.Errorf("anonymous token request named user %q / account %q", f.lastUser, f.lastQuery.Get("account"))
	}
	if got := f.lastQuery["scope"]; !slices.Equal(got, []string{"repository:pub/img:pull"}) || f.lastQuery.Get("service") != "fake-registry" {
		t.Errorf("token query = %v", f.lastQuery)
	}
	for _, l := range img.Layers {
		_ = readBlob(t, c, ref, digest.FromBytes(l), int64(len(l)))
	}
	if _, err := c.ManifestHead(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if gets, _ := f.counts(); gets-getsBefore != 1 {
		t.Errorf("%d token requests for one pull scope, want 1 (cached)", gets-getsBefore)
	}
	if n := f.unauthorized("GET blobs") + f.unauthorized("HEAD manifests"); n != 0 {
		t.Errorf("%d requests were challenged after the token was cached, want 0", n)
	}

	err := c.BlobPut(ctx, ref, blobDesc([]byte("x"), ""), strings.NewReader("x"))
	if !errors.Is(err, ErrUnauthorized) {
		t.Errorf("anonymous push: %v, want ErrUnauthorized", err)
	}
}

// TestAuthBasicToken: credentials go to the token server as basic auth;
// wrong ones fail with ErrUnauthorized.
func TestAuthBasicToken(t *testing.T) {
	ctx := t.Context()
	f := &fakeAuth{users: map[string]string{"alice": "secret"}}
	host := f.start(t)
	ref := mustRef(t, host+"/priv/img:1")
	c := New(creds(host, "alice", "secret"))
	if err := c.Ping(ctx, host); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	newImage(t, 2, nil, "", 100).push(t, c, ref)
	if f.lastUser != "alice" || f.lastQuery.Get("account") != "alice" {
		t.Errorf("token issued to %q (account %q), want alice", f.lastUser, f.lastQuery.Get("account"))
	}
	if _, err := c.Tags(ctx, ref); err != nil {
		t.Errorf("Tags: %v", err)
	}

	bad := New(creds(host, "alice", "wrong"))
	for name, err := range map[string]error{
		"Ping":        bad.Ping(ctx, host),
		"ManifestGet": func() error { _, err := bad.ManifestGet(ctx, ref); return err }(),
	} {
		var re *ResponseError
		if !errors.Is(err, ErrUnauthorized) || !errors.As(err, &re) || re.Status != http.StatusUnauthorized {
			t.Errorf("%s with a wrong password: %v, want ErrUnauthorized from the token server", name, err)
		}
	}
	if _, err := New().ManifestGet(ctx, ref); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("ManifestGet without credentials: %v, want ErrUnauthorized", err)
	}
}

// TestAuthPostGrantFallback: a token endpoint that refuses GET gets the
// OAuth2 password grant by POST; an identity token goes straight to the
// refresh_token grant.
func TestAuthPostGrantFallback(t *testing.T) {
	ctx := t.Context()
	f := &fakeAuth{users: map[string]string{"alice": "secret"}, identityTokens: map[string]string{"refresh-me": "alice"}, noGet: true}
	host := f.start(t)
	ref := mustRef(t, host+"/oauth/img:1")
	c := New(creds(host, "alice", "secret"))
	newImage(t, 3, nil, "", 100).push(t, c, ref)
	gets, posts := f.counts()
	if posts == 0 || gets != posts {
		t.Errorf("%d GETs and %d POSTs to the token endpoint, want each GET (405) followed by a POST", gets, posts)
	}
	form := f.lastForm
	if form.Get("grant_type") != "password" || form.Get("username") != "alice" || form.Get("password") != "secret" ||
		form.Get("service") != "fake-registry" || form.Get("client_id") == "" || form.Get("scope") != "repository:oauth/img:pull,push" {
		t.Errorf("password grant form = %v", form)
	}

	f.mu.Lock()
	f.tokenGets, f.tokenPosts = 0, 0
	f.mu.Unlock()
	withID := New(WithCredentials(StaticCredentials{host: {IdentityToken: "refresh-me"}}))
	if _, err := withID.ManifestGet(ctx, ref); err != nil {
		t.Fatalf("ManifestGet with an identity token: %v", err)
	}
	if gets, posts := f.counts(); gets != 0 || posts != 1 {
		t.Errorf("identity token: %d GETs, %d POSTs; want 0 and 1", gets, posts)
	}
	if f.lastForm.Get("grant_type") != "refresh_token" || f.lastForm.Get("refresh_token") != "refresh-me" {
		t.Errorf("refresh grant form = %v", f.lastForm)
	}
	badID := New(WithCredentials(StaticCredentials{host: {IdentityToken: "stale"}}))
	if _, err := badID.ManifestGet(ctx, ref); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("stale identity token: %v, want ErrUnauthorized", err)
	}
}

// TestAuthTokenCache: tokens are cached per host and scope, shared by
// concurrent requests, and fetched again once expired.
func TestAuthTokenCache(t *testing.T) {
	ctx := t.Context()
	f := &fakeAuth{users: map[string]string{"alice": "secret"}, expiresIn: 300}
	host := f.start(t)
	ref := mustRef(t, host+"/cache/img:1")
	c := New(creds(host, "alice", "secret"))
	now := time.Now()
	var clockMu sync.Mutex
	c.hc.Transport.(*authTransport).now = func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return now }

	img := newImage(t, 4, nil, "", 100, 200)
	img.push(t, c, ref)
	gets, _ := f.counts()
	if gets != 1 {
		t.Errorf("push took %d tokens, want 1 (pull,push)", gets)
	}

	// Ten concurrent pulls on a fresh scope: one token.
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, err := c.ManifestGet(ctx, ref); err != nil {
				t.Errorf("ManifestGet: %v", err)
			}
		})
	}
	wg.Wait()
	if g, _ := f.counts(); g-gets != 1 {
		t.Errorf("10 concurrent pulls took %d tokens, want 1", g-gets)
	}
	gets, _ = f.counts()

	// Another repository is another scope.
	other := mustRef(t, host+"/cache/other:1")
	img.push(t, c, other)
	if g, _ := f.counts(); g-gets != 1 {
		t.Errorf("push to another repository took %d tokens, want 1", g-gets)
	}
	gets, _ = f.counts()

	// Expiry: 300s less a tenth of margin.
	clockMu.Lock()
	now = now.Add(269 * time.Second)
	clockMu.Unlock()
	if _, err := c.ManifestGet(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if g, _ := f.counts(); g != gets {
		t.Errorf("a token was fetched before its expiry")
	}
	clockMu.Lock()
	now = now.Add(2 * time.Second)
	clockMu.Unlock()
	if _, err := c.ManifestGet(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if g, _ := f.counts(); g-gets != 1 {
		t.Errorf("%d token requests after expiry, want 1", g-gets)
	}

	// A token the registry stops honouring is replaced once.
	f.mu.Lock()
	clear(f.tokens)
	f.mu.Unlock()
	gets, _ = f.counts()
	if _, err := c.ManifestGet(ctx, ref); err != nil {
		t.Fatalf("ManifestGet after the registry forgot its tokens: %v", err)
	}
	if g, _ := f.counts(); g-gets != 1 {
		t.Errorf("%d token requests after a refused token, want 1", g-gets)
	}
}

// TestAuthBasicChallenge: a registry that asks for Basic gets the
// credential, from the first request on once it has asked.
func TestAuthBasicChallenge(t *testing.T) {
	ctx := t.Context()
	f := &fakeAuth{users: map[string]string{"alice": "secret"}, basic: true}
	host := f.start(t)
	ref := mustRef(t, host+"/basic/img:1")
	store := &countingStore{StaticCredentials: StaticCredentials{host: {Username: "alice", Password: "secret"}}}
	c := New(WithCredentials(store))
	img := newImage(t, 5, nil, "", 100, 300)
	img.push(t, c, ref)
	if n := store.gets.Load(); n != 1 {
		t.Errorf("the credential store was asked %d times during a push, want once", n)
	}
	f.mu.Lock()
	if total := f.unauthCount["POST uploads"] + f.unauthCount["PUT uploads"] + f.unauthCount["PUT manifests"]; total != 1 {
		t.Errorf("a push of 3 blobs and a manifest was challenged %d times (%v), want once", total, f.unauthCount)
	}
	f.mu.Unlock()
	if _, err := c.ManifestGet(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if gets, posts := f.counts(); gets+posts != 0 {
		t.Errorf("basic auth fetched tokens")
	}
	for name, c := range map[string]*Client{"wrong password": New(creds(host, "alice", "nope")), "no credentials": New()} {
		if _, err := c.ManifestGet(ctx, ref); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s: %v, want ErrUnauthorized", name, err)
		}
	}
}

// TestAuthNonReplayableBody: an upload body that cannot be replayed is sent
// once: a 401 to it is returned, not retried.
func TestAuthNonReplayableBody(t *testing.T) {
	ctx := t.Context()
	f := &fakeAuth{users: map[string]string{"alice": "secret"}}
	host := f.start(t)
	ref := mustRef(t, host+"/once/img:1")
	c := New(creds(host, "alice", "secret"))
	blob := randomBytes(1000, 1)
	// The POST is challenged and retried (no body); the PUT then carries the
	// cached token from the start.
	if err := c.BlobPut(ctx, ref, blobDesc(blob, ""), io.MultiReader(bytes.NewReader(blob))); err != nil {
		t.Fatalf("BlobPut: %v", err)
	}
	if n := f.unauthorized("PUT uploads"); n != 0 {
		t.Errorf("the upload PUT was challenged %d times", n)
	}
	// Now the registry forgets every token: the PUT gets a 401 and is not
	// sent again, since its body is gone.
	rec := newRecorder()
	host2 := startBerth(t, func(h http.Handler) http.Handler {
		return rec.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && r.Header.Get("Authorization") != "Basic x" {
				w.Header().Set("WWW-Authenticate", `Basic realm="x"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		}))
	})
	c2 := New(WithCredentials(StaticCredentials{host2: {Username: "u", Password: "p"}}))
	err := c2.BlobPut(ctx, mustRef(t, host2+"/once/img:1"), blobDesc(blob, ""), io.MultiReader(bytes.NewReader(blob)))
	if !errors.Is(err, ErrUnauthorized) {
		t.Errorf("BlobPut refused at PUT: %v, want ErrUnauthorized", err)
	}
	if got := rec.count("PUT uploads"); got != 1 {
		t.Errorf("non-replayable PUT sent %d times, want 1", got)
	}
}

// TestAuthNotSentElsewhere: credentials go only to the registry's host, not
// to where it redirects a blob download.
func TestAuthNotSentElsewhere(t *testing.T) {
	blob := []byte("stored elsewhere")
	d := digest.FromBytes(blob)
	var mu sync.Mutex
	var storageAuth []string
	storage := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		storageAuth = append(storageAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		_, _ = w.Write(blob)
	}))
	f := &fakeAuth{users: map[string]string{"alice": "secret"}}
	_ = f.start(t) // the token server
	redirecting := startBerth(t, func(http.Handler) http.Handler {
		return f.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://"+storage+"/data", http.StatusTemporaryRedirect)
		}))
	})
	c := New(creds(redirecting, "alice", "secret"))
	if got := readBlob(t, c, mustRef(t, redirecting+"/r/img"), d, int64(len(blob))); !bytes.Equal(got, blob) {
		t.Fatalf("got %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(storageAuth) != 1 || storageAuth[0] != "" {
		t.Errorf("storage got Authorization %q, want none", storageAuth)
	}
}

// TestAuthInsecureRealm: credentials are never sent over plain HTTP to a
// token realm that is not loopback or allowed insecure.
func TestAuthInsecureRealm(t *testing.T) {
	host := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="http://auth.example.com/token",service="x"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	c := New(creds(host, "alice", "secret"))
	_, err := c.ManifestGet(t.Context(), mustRef(t, host+"/a:b"))
	if !errors.Is(err, ErrInsecure) {
		t.Errorf("credentials to an http realm: %v, want ErrInsecure", err)
	}
}

// countingStore counts lookups: a credential helper is a process per call.
type countingStore struct {
	StaticCredentials
	gets atomic.Int32
}

func (s *countingStore) Get(host string) (Credential, error) {
	s.gets.Add(1)
	return s.StaticCredentials.Get(host)
}

// TestAuthWidenedScope: when a registry wants more than the client asked
// for (Distribution wants "delete" to cancel an upload), the wider token is
// remembered and presented at once the next time.
func TestAuthWidenedScope(t *testing.T) {
	ctx := t.Context()
	f := &fakeAuth{users: map[string]string{"alice": "secret"}}
	host := f.start(t)
	c := New(creds(host, "alice", "secret"))
	ref := mustRef(t, host+"/wide/img:1")
	for i := range 3 {
		if ok, err := c.BlobMount(ctx, ref, "elsewhere", digest.FromString("unknown")); err != nil || ok {
			t.Fatalf("BlobMount = %v, %v", ok, err)
		}
		// The mount's scopes, the cancel's push scope, that widened with
		// delete: three tokens, all reused by later rounds.
		if gets, _ := f.counts(); gets != 3 {
			t.Errorf("round %d: %d token requests in all, want 3", i, gets)
		}
	}
	if n := f.unauthorized("DELETE uploads"); n != 1 {
		t.Errorf("upload cancels were challenged %d times, want only the first", n)
	}
}

// TestTLSAndDowngrade: WithHTTPS speaks TLS to a loopback registry; a
// redirect from it to plain HTTP on a host not allowed it is refused.
func TestTLSAndDowngrade(t *testing.T) {
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/blobs/") {
			http.Redirect(w, r, "http://storage.example.com/blob", http.StatusTemporaryRedirect)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	srv := httptest.NewTLSServer(app)
	t.Cleanup(srv.Close)
	host := srv.Listener.Addr().String()
	c := New(WithHTTPS(host), WithTransport(srv.Client().Transport))
	if err := c.Ping(t.Context(), host); err != nil {
		t.Fatalf("Ping over TLS: %v", err)
	}
	if _, _, err := c.BlobGet(t.Context(), mustRef(t, host+"/a"), digest.FromString("x"), 0); !errors.Is(err, ErrInsecure) {
		t.Errorf("redirect from https to http: %v, want ErrInsecure", err)
	}
	if err := New().Ping(t.Context(), host); err == nil {
		t.Error("plain HTTP to a TLS-only loopback registry worked")
	}
}
