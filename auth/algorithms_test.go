package auth

import (
	"strings"
	"testing"
)

// TestWithAlgorithms: a verifier restricted to some algorithms refuses
// tokens of the others even from a trusted key, and one with no usable key
// left is refused.
func TestWithAlgorithms(t *testing.T) {
	var trusted TrustedKeys
	keys := map[string]*SigningKey{}
	for _, alg := range []string{AlgES256, AlgEdDSA} {
		k, err := GenerateKey(alg)
		if err != nil {
			t.Fatal(err)
		}
		keys[alg] = k
		if err := trusted.AddPublicKey(k.Public()); err != nil {
			t.Fatal(err)
		}
	}
	v, err := NewVerifier(trusted, "iss", "svc", WithAlgorithms("EdDSA", "HS256"))
	if err != nil {
		t.Fatal(err)
	}
	for alg, want := range map[string]bool{AlgEdDSA: true, AlgES256: false} {
		tok, err := keys[alg].Sign(claimsFor("alice"))
		if err != nil {
			t.Fatal(err)
		}
		var c accessClaims
		if err := v.Verify(tok, &c); (err == nil) != want {
			t.Errorf("%s token: %v, want accepted %v", alg, err, want)
		}
	}
	if _, err := NewVerifier(trusted, "iss", "svc", WithAlgorithms("RS256", "HS256")); err == nil || !strings.Contains(err.Error(), "no trusted token key signs with") {
		t.Errorf("NewVerifier with no usable key: %v", err)
	}
}
