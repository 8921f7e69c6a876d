package config

import "time"

// Auth is the auth section: at most one method (htpasswd or token), and
// optionally an access policy.
type Auth struct {
	Htpasswd *Htpasswd   `yaml:"htpasswd,omitempty"`
	Token    *Token      `yaml:"token,omitempty"`
	Silly    Unsupported `yaml:"silly"`
	// Policy is a Berth extension: who may pull, push and delete where.
	// Without it, every authenticated user may do everything.
	Policy *Policy `yaml:"policy,omitempty"`
}

// Method names the configured auth method, or "" for none.
func (a *Auth) Method() string {
	switch {
	case a.Htpasswd != nil:
		return "htpasswd"
	case a.Token != nil:
		return "token"
	}
	return ""
}

// Htpasswd is auth.htpasswd: HTTP basic auth against an htpasswd file of
// bcrypt entries, re-read when it changes.
type Htpasswd struct {
	Realm string `yaml:"realm"`
	Path  string `yaml:"path"`
}

// Token is auth.token: bearer tokens from a token server, verified with the
// keys of RootCertBundle and JWKS and, with Server, the server's own key.
type Token struct {
	Realm          string `yaml:"realm"` // absolute URL of the token endpoint
	Service        string `yaml:"service"`
	Issuer         string `yaml:"issuer"`
	RootCertBundle string `yaml:"rootcertbundle"`
	JWKS           string `yaml:"jwks"`
	// AutoRedirect and AutoRedirectPath are refused (distkeys.go).
	AutoRedirect     bool   `yaml:"autoredirect"`
	AutoRedirectPath string `yaml:"autoredirectpath"`
	// SigningAlgorithms, when set, are the only algs tokens may use.
	SigningAlgorithms []string `yaml:"signingalgorithms,omitempty"`
	// Server is a Berth extension: run the token server at /auth/token.
	Server *TokenServer `yaml:"server,omitempty"`
}

// TokenServer is auth.token.server, the built-in token server.
type TokenServer struct {
	// Key is the PEM private key tokens are signed with ("registry
	// keygen" makes one).
	Key string `yaml:"key"`
	// Htpasswd is the file of users who may log in.
	Htpasswd string `yaml:"htpasswd"`
	// Expiration is the lifetime of access tokens: default 5m, at most 1h.
	Expiration time.Duration `yaml:"expiration"`
	// RefreshExpiration is the lifetime of refresh (offline) tokens; nil
	// means DefaultRefreshExpiration, 0 issues none.
	RefreshExpiration *time.Duration `yaml:"refreshexpiration,omitempty"`
}

// Default lifetimes of the token server's tokens.
const (
	DefaultTokenExpiration   = 5 * time.Minute
	MaxTokenExpiration       = time.Hour
	DefaultRefreshExpiration = 7 * 24 * time.Hour
)

// Policy is auth.policy.
type Policy struct {
	Path string `yaml:"path"` // the policy file (YAML), re-read when it changes
}
