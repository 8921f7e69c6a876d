package main

import (
	"crypto"
	"fmt"
	"log/slog"
	"net/url"
	"os"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/config"
	"github.com/berth-registry/berth/registry/ui"
)

// authOptions opens what the auth section names (htpasswd and policy
// files, token keys) and returns the registry options that put access
// control in front of every route, and a note for the start-up line. A
// file that is missing or invalid is an error: the registry never serves
// with less access control than configured. prefix is http.prefix, which
// the built-in token server is served under. It fills access with the
// users, policy and limiter it opened, for the web UI.
func authOptions(c *config.Auth, prefix string, logger *slog.Logger, access *ui.Options) ([]registry.Option, string, error) {
	var policy *auth.Policy
	if c.Policy != nil {
		var err error
		if policy, err = auth.OpenPolicy(c.Policy.Path, logger); err != nil {
			return nil, "", err
		}
	}
	limiter := auth.NewLimiter(auth.DefaultLoginBurst, auth.DefaultLoginEvery)
	policyNote := ""
	if policy != nil {
		policyNote = ", policy " + c.Policy.Path
	}

	switch c.Method() {
	case "htpasswd":
		users, err := auth.OpenHtpasswd(c.Htpasswd.Path, logger)
		if err != nil {
			return nil, "", err
		}
		az, err := auth.NewBasic(c.Htpasswd.Realm, users, policy, limiter, logger)
		if err != nil {
			return nil, "", err
		}
		access.AccessControl, access.Users, access.Policy, access.Limiter = true, users, policy, limiter
		return []registry.Option{registry.WithAuth(az)}, ", htpasswd auth" + policyNote, nil

	case "token":
		t := c.Token
		var keys auth.TrustedKeys
		if t.RootCertBundle != "" {
			b, err := os.ReadFile(t.RootCertBundle)
			if err == nil {
				err = keys.AddCertBundle(b)
			}
			if err != nil {
				return nil, "", fmt.Errorf("rootcertbundle %s: %w", t.RootCertBundle, err)
			}
		}
		if t.JWKS != "" {
			b, err := os.ReadFile(t.JWKS)
			if err == nil {
				err = keys.AddJWKS(b)
			}
			if err != nil {
				return nil, "", fmt.Errorf("jwks %s: %w", t.JWKS, err)
			}
		}
		var opts []registry.Option
		note := ", token auth"
		access.AccessControl, access.Policy, access.Limiter = true, policy, limiter
		if s := t.Server; s != nil {
			ts, pub, users, err := tokenServer(t, policy, limiter, logger)
			if err != nil {
				return nil, "", err
			}
			access.Users = users
			if err := keys.AddPublicKey(pub); err != nil {
				return nil, "", err
			}
			opts = append(opts, registry.WithTokenServer(ts))
			note += " with its token server at " + prefix + registry.TokenPath
			if u, err := url.Parse(t.Realm); err == nil && u.Path != prefix+registry.TokenPath {
				// A proxy may map the realm's path there; say so in case not.
				logger.Warn("auth.token.realm's path is not where the token server answers: clients fetch tokens at the realm, so a proxy must send it there",
					"realm", t.Realm, "tokenpath", prefix+registry.TokenPath)
			}
		}
		var vopts []auth.VerifierOption
		if len(t.SigningAlgorithms) > 0 {
			vopts = append(vopts, auth.WithAlgorithms(t.SigningAlgorithms...))
		}
		v, err := auth.NewVerifier(keys, t.Issuer, t.Service, vopts...)
		if err != nil {
			return nil, "", err
		}
		az, err := auth.NewBearer(v, t.Realm, t.Service, policy, logger)
		if err != nil {
			return nil, "", err
		}
		return append(opts, registry.WithAuth(az)), note + policyNote, nil
	}
	return nil, "", nil
}

// tokenServer opens the built-in token server's key and users.
func tokenServer(t *config.Token, policy *auth.Policy, limiter *auth.Limiter, logger *slog.Logger) (*auth.TokenServer, crypto.PublicKey, *auth.Users, error) {
	s := t.Server
	fi, err := os.Stat(s.Key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("token server key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		logger.Warn("the token signing key can be read by other users; chmod 600 it", "path", s.Key, "mode", fi.Mode().Perm())
	}
	b, err := os.ReadFile(s.Key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("token server key: %w", err)
	}
	key, err := auth.ParseSigningKey(b)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("token server key %s: %w", s.Key, err)
	}
	users, err := auth.OpenHtpasswd(s.Htpasswd, logger)
	if err != nil {
		return nil, nil, nil, err
	}
	refresh := config.DefaultRefreshExpiration
	if s.RefreshExpiration != nil {
		refresh = *s.RefreshExpiration
	}
	ts, err := auth.NewTokenServer(auth.TokenServerConfig{
		Issuer:            t.Issuer,
		Service:           t.Service,
		Realm:             t.Service,
		Key:               key,
		Users:             users,
		Policy:            policy,
		Limiter:           limiter,
		Expiration:        s.Expiration,
		RefreshExpiration: refresh,
		Log:               logger,
	})
	return ts, key.Public(), users, err
}
