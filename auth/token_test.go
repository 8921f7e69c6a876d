package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// bearerSetup trusts three keys, one per algorithm, each the way an
// operator would configure it: ES256 directly, RS256 from a certificate
// bundle, EdDSA from a JWKS.
func bearerSetup(t testing.TB, policy *Policy) (*Bearer, map[string]*SigningKey) {
	t.Helper()
	keys := map[string]*SigningKey{}
	var trusted TrustedKeys
	for _, alg := range algorithms {
		k, err := GenerateKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		keys[alg] = k
		switch alg {
		case AlgES256:
			err = trusted.AddPublicKey(k.Public())
		case AlgRS256:
			var cert []byte
			if cert, err = k.CertificatePEM("rs", time.Hour); err == nil {
				err = trusted.AddCertBundle(cert)
			}
		case AlgEdDSA:
			var jwks []byte
			if jwks, err = k.JWKS(); err == nil {
				err = trusted.AddJWKS(jwks)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	v, err := NewVerifier(trusted, "iss", "svc")
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBearer(v, "https://r.example/auth/token", "svc", policy, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b, keys
}

func claimsFor(sub string, access ...Access) accessClaims {
	now := time.Now()
	return accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: "iss", Subject: sub, Audience: jwt.ClaimStrings{"svc"},
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now),
		},
		Access: toResourceActions(access),
	}
}

func authorizeWith(b *Bearer, header string, wanted ...Access) (*Grant, error) {
	r := httptest.NewRequest("GET", "/v2/", nil)
	if header != "" {
		r.Header.Set("Authorization", header)
	}
	return b.Authorize(context.Background(), r, wanted...)
}

func challengeOf(t *testing.T, err error) *Challenge {
	t.Helper()
	ch, ok := errors.AsType[*Challenge](err)
	if !ok {
		t.Fatalf("error %v (%T), want a *Challenge", err, err)
	}
	return ch
}

func TestBearer(t *testing.T) {
	b, keys := bearerSetup(t, nil)
	pull := Repository("a/b", ActionPull)
	sign := func(k *SigningKey, c jwt.Claims) string {
		tok, err := k.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for alg, k := range keys {
		if g, err := authorizeWith(b, "Bearer "+sign(k, claimsFor("alice", pull...)), pull...); err != nil || g.Subject != "alice" {
			t.Errorf("%s token: %v", alg, err)
		}
	}
	es := keys[AlgES256]

	// No token: a challenge without an error code, naming the scope.
	_, err := authorizeWith(b, "", pull...)
	if ch := challengeOf(t, err); ch.Status != 401 || ch.Header != `Bearer realm="https://r.example/auth/token",service="svc",scope="repository:a/b:pull"` {
		t.Errorf("no token: %d %s", ch.Status, ch.Header)
	}
	// A token without the scope.
	_, err = authorizeWith(b, "Bearer "+sign(es, claimsFor("alice", Repository("a/c", ActionPull)...)), pull...)
	if ch := challengeOf(t, err); !strings.HasSuffix(ch.Header, `scope="repository:a/b:pull",error="insufficient_scope"`) {
		t.Errorf("insufficient scope: %s", ch.Header)
	}

	invalid := map[string]string{}
	// Expiry within the leeway passes; beyond it does not.
	c := claimsFor("alice", pull...)
	c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-leeway / 2))
	if _, err := authorizeWith(b, "Bearer "+sign(es, c), pull...); err != nil {
		t.Errorf("a token expired within the leeway: %v", err)
	}
	c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-2 * leeway))
	invalid["expired beyond the leeway"] = "Bearer " + sign(es, c)
	// A critical header, validly signed.
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claimsFor("alice", pull...))
	tok.Header["kid"], tok.Header["crit"] = es.KeyID(), []string{"b64"}
	s, err := tok.SignedString(es.signer)
	if err != nil {
		t.Fatal(err)
	}
	invalid["crit header"] = "Bearer " + s
	// The EdDSA key's signature under the ES256 key's id.
	tok = jwt.NewWithClaims(jwt.SigningMethodEdDSA, claimsFor("alice", pull...))
	tok.Header["kid"] = es.KeyID()
	s, _ = tok.SignedString(keys[AlgEdDSA].signer)
	invalid["EdDSA under an ES256 kid"] = "Bearer " + s
	// PS256 (an RSA algorithm not accepted) under the RSA key's id.
	tok = jwt.NewWithClaims(jwt.SigningMethodPS256, claimsFor("alice", pull...))
	tok.Header["kid"] = keys[AlgRS256].KeyID()
	s, _ = tok.SignedString(keys[AlgRS256].signer)
	invalid["PS256"] = "Bearer " + s
	// HS256 keyed with the RSA modulus.
	tok = jwt.NewWithClaims(jwt.SigningMethodHS256, claimsFor("alice", pull...))
	tok.Header["kid"] = keys[AlgRS256].KeyID()
	s, _ = tok.SignedString(keys[AlgRS256].Public().(*rsa.PublicKey).N.Bytes())
	invalid["HS256 keyed with the public key"] = "Bearer " + s
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	tok = jwt.NewWithClaims(jwt.SigningMethodRS256, claimsFor("alice", pull...))
	tok.Header["kid"] = keys[AlgRS256].KeyID()
	s, _ = tok.SignedString(other)
	invalid["another RSA key under a trusted kid"] = "Bearer " + s
	invalid["too long"] = "Bearer " + strings.Repeat("a", maxTokenLength+1)
	for name, h := range invalid {
		_, err := authorizeWith(b, h, pull...)
		if ch := challengeOf(t, err); ch.Status != 401 || !strings.HasSuffix(ch.Header, `error="invalid_token"`) {
			t.Errorf("%s: %d %s", name, ch.Status, ch.Header)
		}
	}

	// Two Authorization headers.
	r := httptest.NewRequest("GET", "/v2/", nil)
	good := "Bearer " + sign(es, claimsFor("alice", pull...))
	r.Header.Add("Authorization", good)
	r.Header.Add("Authorization", good)
	if _, err := b.Authorize(context.Background(), r, pull...); err == nil {
		t.Error("two Authorization headers were accepted")
	}
}

// TestBearerWildcardActions: an external token server may write "*" for
// every action on a repository (Distribution's token grammar); it grants
// pull, push and delete there and nowhere else.
func TestBearerWildcardActions(t *testing.T) {
	b, keys := bearerSetup(t, nil)
	c := claimsFor("alice")
	c.Access = []resourceActions{{Type: TypeRepository, Name: "a/b", Actions: []string{"*"}}}
	tok, err := keys[AlgES256].Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range Repository("a/b", ActionPull, ActionPush, ActionDelete) {
		if _, err := authorizeWith(b, "Bearer "+tok, a); err != nil {
			t.Errorf("repository:a/b:* does not grant %s: %v", a, err)
		}
	}
	for _, a := range []Access{{TypeRepository, "a/c", ActionPull}, {TypeRepository, "a", ActionDelete}, Catalog} {
		if _, err := authorizeWith(b, "Bearer "+tok, a); err == nil {
			t.Errorf("repository:a/b:* grants %s", a)
		}
	}
}

func TestBearerGrant(t *testing.T) {
	b, keys := bearerSetup(t, nil)
	tok, _ := keys[AlgES256].Sign(claimsFor("alice", append(Repository("a", ActionPull), Catalog)...))
	g, err := authorizeWith(b, "Bearer "+tok, Catalog)
	if err != nil || !g.MayList("zzz") || g.PullsAll() {
		t.Errorf("without a policy a catalog token lists everything and pulls nothing implicitly: %v", err)
	}
	p, _ := openPolicy(t, testPolicy)
	b.policy = p
	tok, _ = keys[AlgES256].Sign(claimsFor("bob", Catalog))
	g, err = authorizeWith(b, "Bearer "+tok, Catalog)
	if err != nil || !g.MayList("team/app") || g.MayList("other/app") || g.PullsAll() {
		t.Errorf("with a policy the catalog lists what the subject may pull: %v", err)
	}
	var none *Grant
	if !none.MayList("x") || !none.PullsAll() {
		t.Error("a nil grant (no access control) restricts")
	}
}

func TestChallengeHeaders(t *testing.T) {
	h := http.Header{}
	tooMany(1500 * time.Millisecond).SetHeaders(h)
	if h.Get("Retry-After") != "2" || h.Get("WWW-Authenticate") != "" {
		t.Errorf("429 headers: %v", h)
	}
	for status, code := range map[int]string{401: "UNAUTHORIZED", 403: "DENIED", 429: "TOOMANYREQUESTS"} {
		if got := (&Challenge{Status: status}).Code(); got != code {
			t.Errorf("Code of %d: %s, want %s", status, got, code)
		}
	}
}

func FuzzBearerHeader(f *testing.F) {
	f.Add("Bearer eyJhbGciOiJub25lIn0.e30.")
	f.Add("Bearer a.b.c")
	f.Add("Basic YTpi")
	b, _ := bearerSetup(f, nil)
	f.Fuzz(func(t *testing.T, h string) {
		if g, err := authorizeWith(b, h, Repository("a", ActionPull)...); err == nil {
			t.Fatalf("header %q authorized as %q", h, g.Subject)
		}
	})
}
