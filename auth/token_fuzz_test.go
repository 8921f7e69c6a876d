package auth

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerifyToken: the verifier, trusting an ES256 and an EdDSA key,
// never panics and accepts a token only if one of those keys signed its
// exact header and claims, with that key's alg and kid, for issuer "iss",
// audience "svc", and not expired.
//
// header and claims are the JSON of the token's two first parts ("$KID1"
// and "$KID2" in header stand for the trusted keys' ids, which change per
// run). mode chooses the signature: 0, the bytes sig; 1, a signature by an
// untrusted ES256 key; 2 and 3, a signature by the trusted ES256 or EdDSA
// key; 4, sig is the whole raw token.
func FuzzVerifyToken(f *testing.F) {
	es, err := GenerateKey(AlgES256)
	if err != nil {
		f.Fatal(err)
	}
	ed, err := GenerateKey(AlgEdDSA)
	if err != nil {
		f.Fatal(err)
	}
	stranger, err := GenerateKey(AlgES256)
	if err != nil {
		f.Fatal(err)
	}
	var trusted TrustedKeys
	if err := trusted.AddPublicKey(es.Public()); err != nil {
		f.Fatal(err)
	}
	if err := trusted.AddPublicKey(ed.Public()); err != nil {
		f.Fatal(err)
	}
	v, err := NewVerifier(trusted, "iss", "svc")
	if err != nil {
		f.Fatal(err)
	}

	const good = `{"iss":"iss","sub":"alice","aud":"svc","exp":4102444800,"iat":1700000000,"access":[{"type":"repository","name":"a","actions":["pull"]}]}`
	for _, s := range []struct {
		header, claims string
		sig            []byte
		mode           uint8
	}{
		{`{"alg":"ES256","kid":"$KID1","typ":"JWT"}`, good, nil, 2},
		{`{"alg":"EdDSA","kid":"$KID2","typ":"JWT"}`, good, nil, 3},
		{`{"alg":"ES256","kid":"$KID1"}`, good, nil, 1},
		{`{"alg":"none","kid":"$KID1"}`, good, nil, 0},
		{`{"alg":"HS256","kid":"$KID1"}`, good, []byte("secret"), 0},
		{`{"alg":"EdDSA","kid":"$KID1"}`, good, nil, 3},
		{`{"alg":"ES256","kid":"$KID1","crit":["exp"]}`, good, nil, 2},
		{`{"alg":"ES256","kid":"$KID1"}`, `{"iss":"iss","aud":["x","svc"],"exp":1}`, nil, 2},
		{`{"alg":"ES256","kid":"$KID1"}`, `{"iss":"iss","aud":"svc"}`, nil, 2},
		{"", "", []byte("eyJhbGciOiJub25lIn0.e30."), 4},
	} {
		f.Add(s.header, s.claims, s.sig, s.mode)
	}

	enc := base64.RawURLEncoding
	f.Fuzz(func(t *testing.T, header, claims string, sig []byte, mode uint8) {
		header = strings.NewReplacer("$KID1", es.KeyID(), "$KID2", ed.KeyID()).Replace(header)
		input := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
		var raw string
		var signer *SigningKey
		switch mode % 5 {
		case 0:
			raw = input + "." + enc.EncodeToString(sig)
		case 1:
			raw = input + "." + signWith(t, stranger, input)
		case 2, 3:
			signer = es
			if mode%5 == 3 {
				signer = ed
			}
			raw = input + "." + signWith(t, signer, input)
		case 4:
			raw = string(sig)
		}

		var c accessClaims
		if err := v.Verify(raw, &c); err != nil {
			return
		}
		if signer == nil {
			t.Fatalf("accepted a token no trusted key signed: %q", raw)
		}
		var h map[string]any
		if err := json.Unmarshal([]byte(header), &h); err != nil || h["alg"] != signer.Algorithm() || h["kid"] != signer.KeyID() {
			t.Fatalf("accepted header %s for a token signed by the %s key", header, signer.Algorithm())
		}
		if c.Issuer != "iss" || !slices.Contains(c.Audience, "svc") || c.ExpiresAt == nil || c.ExpiresAt.Add(leeway).Before(time.Now()) {
			t.Fatalf("accepted claims %s", claims)
		}
	})
}

// signWith is k's signature of a JWT signing input, base64url-encoded.
func signWith(t *testing.T, k *SigningKey, input string) string {
	m := jwt.GetSigningMethod(k.Algorithm())
	sig, err := m.Sign(input, k.signer)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(sig)
}
