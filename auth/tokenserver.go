package auth

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults and bounds of token lifetimes.
const (
	DefaultTokenExpiration   = 5 * time.Minute
	DefaultRefreshExpiration = 7 * 24 * time.Hour
	MaxTokenExpiration       = time.Hour
)

// maxTokenForm bounds the body of a POST to the token endpoint.
const maxTokenForm = 64 << 10

// TokenServerConfig configures a TokenServer.
type TokenServerConfig struct {
	Issuer  string      // iss of the tokens; what the registry trusts
	Service string      // aud of the tokens; the registry's service name
	Realm   string      // realm of the Basic challenge of a failed GET
	Key     *SigningKey // signs access and refresh tokens
	Users   *Users      // who may log in
	Policy  *Policy     // what they may get; nil: everything when logged in
	Limiter *Limiter    // failed logins per client address; nil: unlimited
	// Expiration is the lifetime of access tokens (DefaultTokenExpiration
	// when zero, at most MaxTokenExpiration).
	Expiration time.Duration
	// RefreshExpiration is the lifetime of refresh tokens; zero: none are
	// issued.
	RefreshExpiration time.Duration
	Log               *slog.Logger
}

// TokenServer is the built-in token endpoint (/auth/token) of the Docker
// token flow:
//
//   - GET with optional basic auth, as crane, skopeo and regctl use:
//     ?service=&scope=&scope=&account=&offline_token=true. Without
//     credentials the token holds what anonymous users may do.
//   - POST application/x-www-form-urlencoded, as docker and oras use:
//     grant_type=password (username, password, access_type=offline for a
//     refresh token) or grant_type=refresh_token (refresh_token); scope
//     holds scopes separated by spaces.
//
// The token holds the part of the asked scopes the policy grants (nothing
// else, and possibly nothing). Answers: 200 with the token; 400 for a
// malformed request or scope, an unknown service or grant type; 401 for
// bad credentials or an invalid, expired or orphaned refresh token; 429
// when this address failed too often.
type TokenServer struct {
	cfg     TokenServerConfig
	refresh *Verifier
	now     func() time.Time
}

var _ http.Handler = (*TokenServer)(nil)

// refreshClaims are the claims of a refresh token: bound to the user's
// htpasswd entry, for an audience no registry accepts.
type refreshClaims struct {
	jwt.RegisteredClaims
	Type    string `json:"typ"`
	Binding string `json:"bnd"`
}

func refreshAudience(service string) string { return service + "#refresh" }

// NewTokenServer checks cfg and returns the handler.
func NewTokenServer(cfg TokenServerConfig) (*TokenServer, error) {
	switch {
	case cfg.Issuer == "" || cfg.Service == "":
		return nil, errors.New("token server: issuer and service are required")
	case cfg.Key == nil:
		return nil, errors.New("token server: a signing key is required")
	case cfg.Users == nil:
		return nil, errors.New("token server: an htpasswd file is required")
	case cfg.Expiration < 0 || cfg.Expiration > MaxTokenExpiration:
		return nil, fmt.Errorf("token server: expiration %v, want at most %v", cfg.Expiration, MaxTokenExpiration)
	case cfg.RefreshExpiration < 0:
		return nil, errors.New("token server: negative refresh expiration")
	}
	if cfg.Expiration == 0 {
		cfg.Expiration = DefaultTokenExpiration
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	var own TrustedKeys
	if err := own.add(cfg.Key.kid, trustedKey{cfg.Key.alg, cfg.Key.Public()}); err != nil {
		return nil, err
	}
	s := &TokenServer{cfg: cfg, now: time.Now}
	s.refresh = &Verifier{keys: own, parser: newParser(cfg.Issuer, refreshAudience(cfg.Service),
		jwt.WithTimeFunc(func() time.Time { return s.now() }))}
	return s, nil
}

// tokenError is a refusal of the token endpoint.
type tokenError struct {
	status int
	code   string // OAuth2 error code
	msg    string
	ch     *Challenge // headers to set, for 401 and 429
}

func (e *tokenError) Error() string { return e.msg }

func badRequest(code, format string, args ...any) *tokenError {
	return &tokenError{status: http.StatusBadRequest, code: code, msg: fmt.Sprintf(format, args...)}
}

// ServeHTTP implements http.Handler.
func (s *TokenServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	var resp map[string]any
	var err error
	switch r.Method {
	case http.MethodGet:
		resp, err = s.get(r)
	case http.MethodPost:
		resp, err = s.post(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		err = &tokenError{status: http.StatusMethodNotAllowed, code: "invalid_request", msg: "use GET or POST"}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b, _ := json.Marshal(resp)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func (s *TokenServer) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var te *tokenError
	var ch *Challenge
	switch {
	case errors.As(err, &te):
	case errors.As(err, &ch):
		te = &tokenError{status: ch.Status, code: "invalid_grant", msg: ch.msg, ch: ch}
	default:
		s.cfg.Log.Error("token request failed", "remote", r.RemoteAddr, "err", err)
		te = &tokenError{status: http.StatusInternalServerError, code: "server_error", msg: "internal error"}
	}
	if te.ch != nil {
		te.ch.SetHeaders(w.Header())
	}
	body := map[string]any{"error": te.code, "error_description": te.msg}
	if te.status == http.StatusUnauthorized || te.status == http.StatusTooManyRequests {
		code := (&Challenge{Status: te.status}).Code()
		body["errors"] = []map[string]string{{"code": code, "message": te.msg}}
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(te.status)
	_, _ = w.Write(b)
}

// unauthorized is a failed login or refresh; GET gets a Basic challenge
// so that a client knows to send credentials.
func (s *TokenServer) unauthorized(r *http.Request, msg string) *tokenError {
	te := &tokenError{status: http.StatusUnauthorized, code: "invalid_grant", msg: msg}
	if r.Method == http.MethodGet {
		te.ch = &Challenge{Status: http.StatusUnauthorized, Header: basicChallenge(s.cfg.Realm)}
	}
	return te
}

func (s *TokenServer) checkService(svc string) error {
	if svc != "" && svc != s.cfg.Service {
		return badRequest("invalid_request", "unknown service %q", svc)
	}
	return nil
}

func (s *TokenServer) get(r *http.Request) (map[string]any, error) {
	q := r.URL.Query()
	if err := s.checkService(q.Get("service")); err != nil {
		return nil, err
	}
	wanted, err := ParseScopes(q["scope"])
	if err != nil {
		return nil, badRequest("invalid_scope", "%v", err)
	}
	who := Principal{}
	if !anonymous(r) {
		user, err := login(r, s.cfg.Users, s.cfg.Limiter)
		if err != nil {
			return nil, s.loginFailed(r, user, err)
		}
		if acct := q.Get("account"); acct != "" && acct != user {
			return nil, badRequest("invalid_request", "account does not match the credentials")
		}
		who = Principal{Name: user, Authenticated: true}
	}
	resp, err := s.issue(r, who, wanted)
	if err != nil {
		return nil, err
	}
	resp["token"] = resp["access_token"]
	if q.Get("offline_token") == "true" && who.Authenticated {
		if err := s.addRefreshToken(resp, who.Name); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

func (s *TokenServer) post(w http.ResponseWriter, r *http.Request) (map[string]any, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenForm)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return nil, badRequest("invalid_request", "want an application/x-www-form-urlencoded body")
	}
	if err := r.ParseForm(); err != nil {
		return nil, badRequest("invalid_request", "unreadable form")
	}
	f := r.PostForm
	if err := s.checkService(f.Get("service")); err != nil {
		return nil, err
	}
	wanted, err := ParseScopes(f["scope"])
	if err != nil {
		return nil, badRequest("invalid_scope", "%v", err)
	}
	var user string
	offline := false
	switch f.Get("grant_type") {
	case "password":
		user = f.Get("username")
		if user == "" {
			return nil, badRequest("invalid_request", "username is required")
		}
		if err := checkPassword(r, s.cfg.Users, s.cfg.Limiter, user, f.Get("password")); err != nil {
			return nil, s.loginFailed(r, user, err)
		}
		offline = f.Get("access_type") == "offline"
	case "refresh_token":
		if user, err = s.redeem(f.Get("refresh_token")); err != nil {
			s.cfg.Log.Info("refresh token rejected", "remote", r.RemoteAddr, "err", err)
			return nil, s.unauthorized(r, "invalid refresh token")
		}
	default:
		return nil, badRequest("unsupported_grant_type", "grant_type must be password or refresh_token")
	}
	resp, err := s.issue(r, Principal{Name: user, Authenticated: true}, wanted)
	if err != nil {
		return nil, err
	}
	resp["token_type"] = "Bearer"
	if offline {
		if err := s.addRefreshToken(resp, user); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

func (s *TokenServer) loginFailed(r *http.Request, user string, err error) error {
	var ch *Challenge
	if errors.As(err, &ch) {
		s.cfg.Log.Warn("token request refused: too many failed logins", "remote", r.RemoteAddr)
		return ch
	}
	s.cfg.Log.Info("login failed", "remote", r.RemoteAddr, "user", logUser(s.cfg.Users, user))
	return s.unauthorized(r, errBadCredentials.Error())
}

// issue signs an access token for who holding what the policy grants of
// wanted. A repository:NAME:* request arrives here as its three actions,
// so the token names each granted action, never "*": it says exactly
// what was granted, and any verifier reads it, including those that do
// not expand "*".
func (s *TokenServer) issue(r *http.Request, who Principal, wanted []Access) (map[string]any, error) {
	var granted []Access
	for _, a := range wanted {
		if s.cfg.Policy.Allowed(who, a) {
			granted = append(granted, a)
		}
	}
	now := s.now()
	claims := accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.cfg.Issuer,
			Subject:   who.Name,
			Audience:  jwt.ClaimStrings{s.cfg.Service},
			ExpiresAt: jwt.NewNumericDate(now.Add(s.cfg.Expiration)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        newJTI(),
		},
		Access: toResourceActions(granted),
	}
	tok, err := s.cfg.Key.Sign(claims)
	if err != nil {
		return nil, err
	}
	s.cfg.Log.Info("token issued", "remote", r.RemoteAddr, "subject", who.Name,
		"asked", FormatScopes(wanted), "granted", FormatScopes(granted))
	return map[string]any{
		"access_token": tok,
		"expires_in":   int(s.cfg.Expiration / time.Second),
		"issued_at":    now.UTC().Format(time.RFC3339),
		"scope":        FormatScopes(granted),
	}, nil
}

func (s *TokenServer) addRefreshToken(resp map[string]any, user string) error {
	if s.cfg.RefreshExpiration == 0 {
		return nil
	}
	binding, ok := s.cfg.Users.Binding(user)
	if !ok { // removed since the login a moment ago
		return &tokenError{status: http.StatusUnauthorized, code: "invalid_grant", msg: errBadCredentials.Error()}
	}
	now := s.now()
	tok, err := s.cfg.Key.Sign(refreshClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.cfg.Issuer,
			Subject:   user,
			Audience:  jwt.ClaimStrings{refreshAudience(s.cfg.Service)},
			ExpiresAt: jwt.NewNumericDate(now.Add(s.cfg.RefreshExpiration)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        newJTI(),
		},
		Type:    "refresh",
		Binding: binding,
	})
	if err != nil {
		return err
	}
	resp["refresh_token"] = tok
	return nil
}

// redeem checks a refresh token and returns its user, who must still be
// in the htpasswd file with the same password.
func (s *TokenServer) redeem(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("no refresh_token")
	}
	var c refreshClaims
	if err := s.refresh.Verify(raw, &c); err != nil {
		return "", err
	}
	if c.Type != "refresh" || c.Subject == "" {
		return "", errors.New("not a refresh token")
	}
	binding, ok := s.cfg.Users.Binding(c.Subject)
	if !ok {
		return "", fmt.Errorf("user %q no longer exists", c.Subject)
	}
	if subtle.ConstantTimeCompare([]byte(binding), []byte(c.Binding)) != 1 {
		return "", fmt.Errorf("the password of %q changed since the token was issued", c.Subject)
	}
	return c.Subject, nil
}
