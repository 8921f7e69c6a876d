package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// leeway is the clock skew tolerated on exp, nbf and iat.
const leeway = 30 * time.Second

// maxTokenLength bounds a bearer token; real ones are a few KiB at most.
const maxTokenLength = 16 << 10

// resourceActions is one entry of a token's "access" claim.
type resourceActions struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// accessClaims are the claims of an access token, as in the Docker token
// specification.
type accessClaims struct {
	jwt.RegisteredClaims
	Access []resourceActions `json:"access"`
}

// grants reports whether the claims hold a. On a repository the action
// "*" holds every action: Distribution's token grammar allows it, and
// external token servers issue it for repository:NAME:* requests.
func (c *accessClaims) grants(a Access) bool {
	for _, ra := range c.Access {
		if ra.Type != a.Type || ra.Name != a.Name {
			continue
		}
		if slices.Contains(ra.Actions, a.Action) ||
			(a.Type == TypeRepository && slices.Contains(ra.Actions, ActionAll)) {
			return true
		}
	}
	return false
}

// toResourceActions groups accesses per resource for the access claim.
func toResourceActions(as []Access) []resourceActions {
	out := []resourceActions{}
	for _, a := range as {
		i := slices.IndexFunc(out, func(ra resourceActions) bool { return ra.Type == a.Type && ra.Name == a.Name })
		if i < 0 {
			out = append(out, resourceActions{Type: a.Type, Name: a.Name})
			i = len(out) - 1
		}
		if !slices.Contains(out[i].Actions, a.Action) {
			out[i].Actions = append(out[i].Actions, a.Action)
		}
	}
	return out
}

// Verifier checks the signature and registered claims of tokens.
type Verifier struct {
	keys   TrustedKeys
	parser *jwt.Parser
}

// VerifierOption configures a Verifier.
type VerifierOption func(*verifierOptions)

type verifierOptions struct {
	algs []string // nil: every algorithm Berth verifies
}

// WithAlgorithms accepts only tokens whose alg is one of algs, as
// Distribution's auth.token.signingalgorithms: on top of Berth's rule that
// each key verifies the one algorithm of its type. Names Berth never
// verifies (HS256, PS256, RS512...) change nothing, as no token with them
// passes anyway; NewVerifier fails when none of the trusted keys signs with
// an algorithm left.
func WithAlgorithms(algs ...string) VerifierOption {
	return func(o *verifierOptions) { o.algs = algs }
}

// NewVerifier accepts tokens signed by one of keys, issued by issuer, for
// audience.
func NewVerifier(keys TrustedKeys, issuer, audience string, opts ...VerifierOption) (*Verifier, error) {
	if keys.Len() == 0 {
		return nil, errors.New("no trusted token keys")
	}
	if issuer == "" || audience == "" {
		return nil, errors.New("token verification needs an issuer and an audience")
	}
	var o verifierOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.algs == nil {
		return &Verifier{keys: keys, parser: newParser(issuer, audience)}, nil
	}
	allowed := slices.DeleteFunc(slices.Clone(algorithms), func(a string) bool { return !slices.Contains(o.algs, a) })
	usable := false
	for _, k := range keys.byID {
		usable = usable || slices.Contains(allowed, k.alg)
	}
	if !usable {
		return nil, fmt.Errorf("no trusted token key signs with one of the allowed algorithms %v", o.algs)
	}
	return &Verifier{keys: keys, parser: newParser(issuer, audience, jwt.WithValidMethods(allowed))}, nil
}

func newParser(issuer, audience string, extra ...jwt.ParserOption) *jwt.Parser {
	return jwt.NewParser(append([]jwt.ParserOption{
		jwt.WithValidMethods(algorithms),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithStrictDecoding(),
	}, extra...)...)
}

// keyFor finds the key a token names by kid and checks that the token's
// alg is the one that key type verifies: an HMAC token "signed" with a
// public key, or an RSA key presented as ECDSA, never gets that far.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		return nil, errors.New("critical header parameters are not supported")
	}
	kid, ok := t.Header["kid"].(string)
	if !ok || kid == "" {
		return nil, errors.New("no key id (kid)")
	}
	k, ok := v.keys.byID[kid]
	if !ok {
		return nil, errors.New("unknown key id")
	}
	if alg := t.Method.Alg(); alg != k.alg {
		return nil, fmt.Errorf("alg %s does not match the key (%s)", alg, k.alg)
	}
	return k.pub, nil
}

// Verify parses raw into claims and checks it. Errors say what is wrong
// without repeating the token.
func (v *Verifier) Verify(raw string, claims jwt.Claims) error {
	if len(raw) > maxTokenLength {
		return errors.New("token too long")
	}
	_, err := v.parser.ParseWithClaims(raw, claims, v.keyFor)
	return err
}

// Bearer is the Authorizer of token mode: requests carry a JWT from the
// token server, whose access claim must hold every wanted access.
type Bearer struct {
	verifier       *Verifier
	realm, service string
	policy         *Policy
	log            *slog.Logger
}

var _ Authorizer = (*Bearer)(nil)

// NewBearer verifies tokens with v and challenges clients to fetch one
// from realm for service. policy, if not nil, filters the catalog by what
// the token's subject may pull (with the built-in token server, the same
// policy that issued the token); without one, a token holding
// registry:catalog:* sees every repository.
func NewBearer(v *Verifier, realm, service string, policy *Policy, log *slog.Logger) (*Bearer, error) {
	if v == nil || realm == "" || service == "" {
		return nil, errors.New("token auth needs a verifier, a realm and a service")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Bearer{verifier: v, realm: realm, service: service, policy: policy, log: log}, nil
}

// Authorize implements Authorizer: 401 without a bearer token, 401
// error="invalid_token" with one that does not verify, 401
// error="insufficient_scope" when it lacks a wanted access; the challenge
// names the scope to ask for.
func (b *Bearer) Authorize(ctx context.Context, r *http.Request, wanted ...Access) (*Grant, error) {
	hdr := r.Header.Values("Authorization")
	scheme, raw, _ := strings.Cut(strings.Join(hdr, ""), " ")
	if len(hdr) != 1 || !strings.EqualFold(scheme, "Bearer") {
		return nil, b.challenge(wanted, "", "bearer token required")
	}
	var c accessClaims
	if err := b.verifier.Verify(strings.TrimSpace(raw), &c); err != nil {
		b.log.InfoContext(ctx, "token rejected", "remote", r.RemoteAddr, "err", err)
		return nil, b.challenge(wanted, "invalid_token", "invalid token")
	}
	for _, a := range wanted {
		if !c.grants(a) {
			return nil, b.challenge(wanted, "insufficient_scope", "the token does not grant "+FormatScopes(wanted))
		}
	}
	who := Principal{Name: c.Subject, Authenticated: c.Subject != ""}
	return &Grant{Subject: c.Subject, pullsAll: b.policy != nil && b.policy.AllowedEverywhere(who, ActionPull), lists: func(name string) bool {
		if b.policy != nil {
			return b.policy.Allowed(who, Access{TypeRepository, name, ActionPull})
		}
		return c.grants(Catalog) || c.grants(Access{TypeRepository, name, ActionPull})
	}}, nil
}

func (b *Bearer) challenge(wanted []Access, errCode, msg string) *Challenge {
	h := "Bearer realm=" + quote(b.realm) + ",service=" + quote(b.service)
	if len(wanted) > 0 {
		h += ",scope=" + quote(FormatScopes(wanted))
	}
	if errCode != "" {
		h += ",error=" + quote(errCode)
	}
	return &Challenge{Status: http.StatusUnauthorized, Wanted: wanted, Header: h, msg: msg}
}

// newJTI is a random token id.
func newJTI() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
