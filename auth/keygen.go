package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// GenerateKey makes a new token signing key for alg: ES256 (ECDSA P-256),
// RS256 (RSA 3072 bits) or EdDSA (Ed25519).
func GenerateKey(alg string) (*SigningKey, error) {
	var signer crypto.Signer
	var err error
	switch alg {
	case AlgES256:
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgRS256:
		signer, err = rsa.GenerateKey(rand.Reader, 3072)
	case AlgEdDSA:
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("algorithm %q, want ES256, RS256 or EdDSA", alg)
	}
	if err != nil {
		return nil, err
	}
	return NewSigningKey(signer)
}

// PrivateKeyPEM is k as a PKCS#8 "PRIVATE KEY" PEM block.
func (k *SigningKey) PrivateKeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k.signer)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// JWKS is the public key of k as a JSON Web Key Set, with its kid, alg and
// use, for auth.token.jwks of registries that verify but do not issue.
func (k *SigningKey) JWKS() ([]byte, error) {
	j, err := publicJWK(k.Public())
	if err != nil {
		return nil, err
	}
	j.Kid, j.Alg, j.Use = k.kid, k.alg, "sig"
	return json.MarshalIndent(struct {
		Keys []jwk `json:"keys"`
	}{[]jwk{j}}, "", "  ")
}

// CertificatePEM is a self-signed certificate of k's public key, valid for
// validity, for auth.token.rootcertbundle of registries (Berth or
// Distribution) that verify but do not issue.
func (k *SigningKey) CertificatePEM(commonName string, validity time.Duration) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k.signer)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
