package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestThumbprintRFC7638 checks the example of RFC 7638, section 3.1.
func TestThumbprintRFC7638(t *testing.T) {
	k := jwk{Kty: "RSA", E: "AQAB", N: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}
	pub, err := k.publicKey()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mustThumbprint(t, pub), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Errorf("thumbprint %s, want %s", got, want)
	}
}

func mustThumbprint(t *testing.T, pub any) string {
	t.Helper()
	tp, err := Thumbprint(pub)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func TestKeyTypes(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, pub := range map[string]any{"RSA 1024": &small.PublicKey, "P-384": &p384.PublicKey} {
		if _, err := algFor(pub); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	for _, alg := range algorithms {
		k, err := GenerateKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		pemKey, err := k.PrivateKeyPEM()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseSigningKey(pemKey)
		if err != nil || back.Algorithm() != alg || back.KeyID() != k.KeyID() {
			t.Fatalf("%s: PEM round trip: %v", alg, err)
		}
		// The JWKS and the certificate keygen writes make verifiers that
		// accept the key's tokens, under its kid.
		jwks, err := k.JWKS()
		if err != nil {
			t.Fatal(err)
		}
		cert, err := k.CertificatePEM("test", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		var fromJWKS, fromCert TrustedKeys
		if err := fromJWKS.AddJWKS(jwks); err != nil {
			t.Fatalf("%s: AddJWKS: %v\n%s", alg, err, jwks)
		}
		if err := fromCert.AddCertBundle(cert); err != nil {
			t.Fatalf("%s: AddCertBundle: %v", alg, err)
		}
		for _, keys := range []TrustedKeys{fromJWKS, fromCert} {
			if got := keys.byID[k.KeyID()]; got.alg != alg || !publicEqual(got.pub, k.Public()) {
				t.Errorf("%s: kid %s not trusted as %s", alg, k.KeyID(), alg)
			}
		}
	}
	if _, err := GenerateKey("HS256"); err == nil {
		t.Error("GenerateKey(HS256) succeeded")
	}
}

func TestJWKSErrors(t *testing.T) {
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := NewSigningKey(edPriv)
	j, _ := publicJWK(k.Public())
	mk := func(f func(j *jwk)) []byte {
		c := j
		c.Kid = "k1"
		f(&c)
		b, _ := json.Marshal(map[string]any{"keys": []jwk{c}})
		return b
	}
	for name, doc := range map[string][]byte{
		"no keys":       []byte(`{"keys":[]}`),
		"not JSON":      []byte(`{`),
		"no kid":        mk(func(j *jwk) { j.Kid = "" }),
		"HMAC key":      mk(func(j *jwk) { j.Kty = "oct" }),
		"wrong alg":     mk(func(j *jwk) { j.Alg = "HS256" }),
		"encryption":    mk(func(j *jwk) { j.Use = "enc" }),
		"short x":       mk(func(j *jwk) { j.X = j.X[:10] }),
		"EC off curve":  []byte(`{"keys":[{"kty":"EC","kid":"e","crv":"P-256","x":"` + strings.Repeat("A", 43) + `","y":"` + strings.Repeat("A", 43) + `"}]}`),
		"RSA even exp":  []byte(`{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"Ag"}]}`),
		"RSA too small": []byte(`{"keys":[{"kty":"RSA","kid":"r","n":"` + strings.Repeat("A", 100) + `","e":"AQAB"}]}`),
	} {
		var keys TrustedKeys
		if err := keys.AddJWKS(doc); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	var keys TrustedKeys
	if err := keys.AddCertBundle([]byte("not PEM")); err == nil {
		t.Error("a bundle without certificates was accepted")
	}
}

func TestLibtrustKeyID(t *testing.T) {
	k, _ := GenerateKey(AlgES256)
	ids := keyIDs(k.Public())
	last := ids[len(ids)-1]
	if parts := strings.Split(last, ":"); len(parts) != 12 || len(parts[0]) != 4 {
		t.Errorf("libtrust key id %q, want 12 groups of 4", last)
	}
}
