package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// The signature algorithms Berth accepts, one per key type.
const (
	AlgRS256 = "RS256" // RSA, 2048 bits or more
	AlgES256 = "ES256" // ECDSA on P-256
	AlgEdDSA = "EdDSA" // Ed25519
)

var algorithms = []string{AlgRS256, AlgES256, AlgEdDSA}

const minRSABits = 2048

// algFor is the one algorithm a public key may verify (or a private key
// sign); keys of other types, curves or sizes are refused.
func algFor(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return "", fmt.Errorf("RSA key of %d bits, want %d or more", k.N.BitLen(), minRSABits)
		}
		return AlgRS256, nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("ECDSA key on %s, want P-256", k.Curve.Params().Name)
		}
		return AlgES256, nil
	case ed25519.PublicKey:
		return AlgEdDSA, nil
	}
	return "", fmt.Errorf("unsupported key type %T, want RSA, ECDSA P-256 or Ed25519", pub)
}

// trustedKey is a key tokens may be signed with, and its algorithm.
type trustedKey struct {
	alg string
	pub crypto.PublicKey
}

// TrustedKeys are the keys a Bearer authorizer accepts, by key id.
type TrustedKeys struct {
	byID map[string]trustedKey
}

// Len is the number of key ids known.
func (t *TrustedKeys) Len() int { return len(t.byID) }

func (t *TrustedKeys) add(kid string, k trustedKey) error {
	if t.byID == nil {
		t.byID = map[string]trustedKey{}
	}
	if old, ok := t.byID[kid]; ok && !publicEqual(old.pub, k.pub) {
		return fmt.Errorf("key id %q names two different keys", kid)
	}
	t.byID[kid] = k
	return nil
}

// AddPublicKey trusts pub under the key ids a token server may give it:
// its RFC 7638 JWK thumbprint (what Berth's token server and Distribution
// use) and its libtrust fingerprint (docker_auth and other older servers).
func (t *TrustedKeys) AddPublicKey(pub crypto.PublicKey) error {
	alg, err := algFor(pub)
	if err != nil {
		return err
	}
	for _, kid := range keyIDs(pub) {
		if err := t.add(kid, trustedKey{alg, pub}); err != nil {
			return err
		}
	}
	return nil
}

// AddCertBundle trusts the public key of every certificate in a PEM
// bundle (auth.token.rootcertbundle).
func (t *TrustedKeys) AddCertBundle(b []byte) error {
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return fmt.Errorf("certificate %d: %w", n+1, err)
		}
		if err := t.AddPublicKey(cert.PublicKey); err != nil {
			return fmt.Errorf("certificate %d (%s): %w", n+1, cert.Subject, err)
		}
		n++
	}
	if n == 0 {
		return errors.New("no PEM certificate found")
	}
	return nil
}

// jwk is one JSON Web Key (RFC 7517) of a public key.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid,omitempty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// AddJWKS trusts the keys of a JSON Web Key Set (auth.token.jwks) under
// their "kid". Every key must have a kid, a supported type, and, if
// given, "use": "sig" and the "alg" its type implies.
func (t *TrustedKeys) AddJWKS(b []byte) error {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return fmt.Errorf("JWKS: %w", err)
	}
	if len(set.Keys) == 0 {
		return errors.New("JWKS: no keys")
	}
	for i, k := range set.Keys {
		pub, err := k.publicKey()
		if err == nil && k.Kid == "" {
			err = errors.New("no kid")
		}
		alg := ""
		if err == nil {
			alg, err = algFor(pub)
		}
		if err == nil && k.Alg != "" && k.Alg != alg {
			err = fmt.Errorf("alg %q, but the key is for %s", k.Alg, alg)
		}
		if err == nil && k.Use != "" && k.Use != "sig" {
			err = fmt.Errorf("use %q, want sig", k.Use)
		}
		if err == nil {
			err = t.add(k.Kid, trustedKey{alg, pub})
		}
		if err != nil {
			return fmt.Errorf("JWKS key %d: %w", i, err)
		}
	}
	return nil
}

func (k jwk) publicKey() (crypto.PublicKey, error) {
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			return nil
		}
		return b
	}
	switch k.Kty {
	case "RSA":
		n, e := dec(k.N), dec(k.E)
		if len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("invalid RSA n or e")
		}
		ev := new(big.Int).SetBytes(e)
		if ev.Int64() < 3 || ev.Int64()%2 == 0 {
			return nil, errors.New("invalid RSA exponent")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(ev.Int64())}, nil
	case "EC":
		x, y := dec(k.X), dec(k.Y)
		if k.Crv != "P-256" || len(x) != 32 || len(y) != 32 {
			return nil, errors.New("want an EC key on P-256 with 32-byte x and y")
		}
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	case "OKP":
		x := dec(k.X)
		if k.Crv != "Ed25519" || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("want an OKP key on Ed25519")
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, fmt.Errorf("unsupported kty %q", k.Kty)
}

// publicJWK is the JWK of a supported public key, without kid.
func publicJWK(pub crypto.PublicKey) (jwk, error) {
	b64 := base64.RawURLEncoding.EncodeToString
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return jwk{Kty: "RSA", N: b64(k.N.Bytes()), E: b64(big.NewInt(int64(k.E)).Bytes())}, nil
	case *ecdsa.PublicKey:
		raw, err := k.Bytes() // 0x04 || x || y, each padded to the curve size
		if err != nil {
			return jwk{}, err
		}
		n := (len(raw) - 1) / 2
		return jwk{Kty: "EC", Crv: k.Curve.Params().Name, X: b64(raw[1 : 1+n]), Y: b64(raw[1+n:])}, nil
	case ed25519.PublicKey:
		return jwk{Kty: "OKP", Crv: "Ed25519", X: b64(k)}, nil
	}
	return jwk{}, fmt.Errorf("unsupported key type %T", pub)
}

// Thumbprint is the RFC 7638 JWK thumbprint (SHA-256, base64url) of pub:
// the key id Berth's token server puts in its tokens.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	j, err := publicJWK(pub)
	if err != nil {
		return "", err
	}
	var members string // the required members, in lexicographic order
	switch j.Kty {
	case "RSA":
		members = fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, j.E, j.N)
	case "EC":
		members = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`, j.Crv, j.X, j.Y)
	case "OKP":
		members = fmt.Sprintf(`{"crv":"Ed25519","kty":"OKP","x":%q}`, j.X)
	}
	sum := sha256.Sum256([]byte(members))
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// keyIDs are the ids a token server may give pub: the RFC 7638
// thumbprint, the same computed from unpadded EC coordinates (as some
// servers do), and the libtrust fingerprint.
func keyIDs(pub crypto.PublicKey) []string {
	var ids []string
	if tp, err := Thumbprint(pub); err == nil {
		ids = append(ids, tp)
	}
	if k, ok := pub.(*ecdsa.PublicKey); ok {
		if raw, err := k.Bytes(); err == nil {
			n := (len(raw) - 1) / 2
			x := new(big.Int).SetBytes(raw[1 : 1+n]).Bytes()
			y := new(big.Int).SetBytes(raw[1+n:]).Bytes()
			b64 := base64.RawURLEncoding.EncodeToString
			sum := sha256.Sum256(fmt.Appendf(nil, `{"crv":%q,"kty":"EC","x":%q,"y":%q}`, k.Curve.Params().Name, b64(x), b64(y)))
			if id := base64.RawURLEncoding.EncodeToString(sum[:]); len(ids) == 0 || id != ids[0] {
				ids = append(ids, id)
			}
		}
	}
	if der, err := x509.MarshalPKIXPublicKey(pub); err == nil {
		sum := sha256.Sum256(der)
		s := base32.StdEncoding.EncodeToString(sum[:30]) // 48 characters
		var groups []string
		for i := 0; i < len(s); i += 4 {
			groups = append(groups, s[i:i+4])
		}
		ids = append(ids, strings.Join(groups, ":"))
	}
	return ids
}

func publicEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// SigningKey is the private key of the built-in token server.
type SigningKey struct {
	alg    string
	kid    string
	signer crypto.Signer
}

// ParseSigningKey reads a PEM private key (PKCS#8, or PKCS#1 RSA, or SEC 1
// EC) of a supported type, as "registry keygen" writes.
func ParseSigningKey(b []byte) (*SigningKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block found")
	}
	var key any
	var err error
	switch blk.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q, want a private key", blk.Type)
	}
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", key)
	}
	return NewSigningKey(signer)
}

// NewSigningKey wraps an RSA (2048 bits or more), ECDSA P-256 or Ed25519
// private key.
func NewSigningKey(signer crypto.Signer) (*SigningKey, error) {
	alg, err := algFor(signer.Public())
	if err != nil {
		return nil, err
	}
	kid, err := Thumbprint(signer.Public())
	if err != nil {
		return nil, err
	}
	return &SigningKey{alg: alg, kid: kid, signer: signer}, nil
}

// Public is the key that verifies the tokens signed with k.
func (k *SigningKey) Public() crypto.PublicKey { return k.signer.Public() }

// KeyID is the kid of the tokens signed with k.
func (k *SigningKey) KeyID() string { return k.kid }

// Algorithm is the alg of the tokens signed with k.
func (k *SigningKey) Algorithm() string { return k.alg }

// Sign signs claims into a JWT with k's algorithm and key id.
func (k *SigningKey) Sign(claims jwt.Claims) (string, error) {
	var m jwt.SigningMethod
	switch k.alg {
	case AlgRS256:
		m = jwt.SigningMethodRS256
	case AlgES256:
		m = jwt.SigningMethodES256
	default:
		m = jwt.SigningMethodEdDSA
	}
	t := jwt.NewWithClaims(m, claims)
	t.Header["kid"] = k.kid
	return t.SignedString(k.signer)
}
