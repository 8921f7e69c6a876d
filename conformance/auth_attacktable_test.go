package conformance_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	digest "github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/auth"
)

const (
	unauthorized = "UNAUTHORIZED"
	invalidToken = `error="invalid_token"`
	insufficient = `error="insufficient_scope"`
)

var (
	onlyToken    = []string{authModeToken}
	onlyHtpasswd = []string{authModeHtpasswd}
)

// attackTable is every attack the auth tests make. Requests for content
// go to repositories alice filled; the users and policy are authUsers and
// authPolicy.
func attackTable() []attack {
	var table []attack
	add := func(as ...attack) { table = append(table, as...) }

	// A blob pushed into private/secret, which only alice may write.
	blob := []byte("planted by an attacker")
	plant := func(t *testing.T, f *attackFixture, authz string) *http.Request {
		return newRequest(t, "POST", f.URL+"/v2/private/secret/blobs/uploads/?digest="+digest.FromBytes(blob).String(), authz, blob)
	}
	// forged sends plant with a token made by make.
	forged := func(name string, mk func(t *testing.T, f *attackFixture) string) attack {
		return attack{name: "forged token: " + name, modes: onlyToken, status: 401, code: unauthorized, challenge: invalidToken,
			req: func(t *testing.T, f *attackFixture) *http.Request { return plant(t, f, "Bearer "+mk(t, f)) }}
	}
	// refused is a request the policy refuses to user: 403 DENIED with
	// basic auth, 401 insufficient_scope with the token the token server
	// gave for what the request needs.
	refused := func(name, user, method, path string, scopes ...string) []attack {
		req := func(t *testing.T, f *attackFixture) *http.Request {
			p := strings.NewReplacer("{secret}", f.secretBlob.String(), "{team}", f.teamBlob.String(),
				"{app}", f.manifest["team/app"].String(), "{base}", f.manifest["public/base"].String()).Replace(path)
			var body []byte
			if method == "POST" || method == "PUT" {
				body = blob
			}
			return newRequest(t, method, f.URL+p, f.authHeader(t, user, scopes...), body)
		}
		return []attack{
			{name: name, modes: onlyHtpasswd, req: req, status: 403, code: "DENIED"},
			{name: name, modes: onlyToken, req: req, status: 401, code: unauthorized, challenge: insufficient},
		}
	}
	d := digest.FromBytes(blob).String()

	// Without credentials.
	add(
		attack{name: "anonymous push", req: func(t *testing.T, f *attackFixture) *http.Request { return plant(t, f, "") },
			status: 401, code: unauthorized},
		attack{name: "anonymous delete in a public repository", status: 401, code: unauthorized,
			req: func(t *testing.T, f *attackFixture) *http.Request {
				return newRequest(t, "DELETE", f.URL+"/v2/public/base/manifests/"+f.manifest["public/base"].String(), "", nil)
			}},
		attack{name: "anonymous pull of a private manifest", status: 401, code: unauthorized,
			req: func(t *testing.T, f *attackFixture) *http.Request {
				return newRequest(t, "GET", f.URL+"/v2/private/secret/manifests/v1", "", nil)
			}},
		attack{name: "anonymous path traversal out of a public repository", status: 401, code: unauthorized,
			req: func(t *testing.T, f *attackFixture) *http.Request {
				return newRequest(t, "GET", f.URL+"/v2/public/../private/secret/manifests/v1", "", nil)
			}},
	)

	// Authenticated, not allowed by the policy.
	add(refused("push into a repository outside one's own", "bob", "POST", "/v2/private/secret/blobs/uploads/?digest="+d, "repository:private/secret:pull,push")...)
	add(refused("push a manifest into a pull-only repository", "bob", "PUT", "/v2/public/base/manifests/evil", "repository:public/base:pull,push")...)
	add(refused("delete with push rights only", "bob", "DELETE", "/v2/team/app/manifests/{app}", "repository:team/app:delete")...)
	add(refused("delete a blob with push rights only", "bob", "DELETE", "/v2/team/app/blobs/{team}", "repository:team/app:delete")...)
	add(refused("push where any user may only pull", "carol", "POST", "/v2/shared/x/blobs/uploads/?digest="+d, "repository:shared/x:pull,push")...)
	add(refused("pull another team's manifest", "carol", "GET", "/v2/private/secret/manifests/v1", "repository:private/secret:pull")...)
	add(refused("list another team's tags", "bob", "GET", "/v2/private/secret/tags/list", "repository:private/secret:pull")...)
	add(refused("referrers of another team's image", "bob", "GET", "/v2/private/secret/referrers/{secret}", "repository:private/secret:pull")...)
	add(refused("mount from a repository one may not pull", "bob", "POST", "/v2/team/app/blobs/uploads/?mount={secret}&from=private/secret",
		"repository:team/app:pull,push", "repository:private/secret:pull")...)
	add(attack{name: "fetch another repository's blob through one's own", status: 404, code: "BLOB_UNKNOWN",
		req: func(t *testing.T, f *attackFixture) *http.Request {
			return newRequest(t, "GET", f.URL+"/v2/team/app/blobs/"+f.secretBlob.String(), f.authHeader(t, "bob", "repository:team/app:pull"), nil)
		}})

	// Basic credentials (htpasswd mode).
	basic := func(name, user, password string, status int) attack {
		return attack{name: name, modes: onlyHtpasswd, status: status, code: unauthorized, challenge: `Basic realm="berth-test"`,
			req: func(t *testing.T, f *attackFixture) *http.Request {
				req := plant(t, f, "")
				req.SetBasicAuth(user, password)
				return req
			}}
	}
	add(
		basic("wrong password", "alice", "alice-secret-2", 401),
		basic("unknown user", "mallory", "alice-secret-1", 401),
		basic("empty password", "alice", "", 401),
		basic("another user's password", "alice", authUsers["bob"], 401),
		attack{name: "malformed basic credentials", modes: onlyHtpasswd, status: 401, code: unauthorized,
			req: func(t *testing.T, f *attackFixture) *http.Request { return plant(t, f, "Basic !!!not-base64") }},
		attack{name: "a bearer token where basic auth is expected", modes: onlyHtpasswd, status: 401, code: unauthorized,
			req: func(t *testing.T, f *attackFixture) *http.Request {
				return plant(t, f, "Bearer eyJhbGciOiJub25lIn0.e30.")
			}},
	)

	// Forged and misused tokens (token mode).
	add(
		forged("alg none", func(t *testing.T, f *attackFixture) string {
			return unsigned(map[string]any{"alg": "none", "typ": "JWT", "kid": f.Key.KeyID()}, f.claims("alice", "private/secret"))
		}),
		forged("HS256 keyed with the public key (PEM)", func(t *testing.T, f *attackFixture) string {
			der, err := x509.MarshalPKIXPublicKey(f.Key.Public())
			must(t, err)
			return hmacToken(t, f, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		}),
		forged("HS256 keyed with the public key (DER)", func(t *testing.T, f *attackFixture) string {
			der, err := x509.MarshalPKIXPublicKey(f.Key.Public())
			must(t, err)
			return hmacToken(t, f, der)
		}),
		forged("expired", func(t *testing.T, f *attackFixture) string {
			return f.signed(t, f.claims("alice", "private/secret", "exp", time.Now().Add(-time.Hour)))
		}),
		forged("not yet valid", func(t *testing.T, f *attackFixture) string {
			return f.signed(t, f.claims("alice", "private/secret", "nbf", time.Now().Add(time.Hour)))
		}),
		forged("issued in the future", func(t *testing.T, f *attackFixture) string {
			return f.signed(t, f.claims("alice", "private/secret", "iat", time.Now().Add(2*time.Hour)))
		}),
		forged("wrong issuer", func(t *testing.T, f *attackFixture) string {
			return f.signed(t, f.claims("alice", "private/secret", "iss", "evil-issuer"))
		}),
		forged("wrong audience", func(t *testing.T, f *attackFixture) string {
			return f.signed(t, f.claims("alice", "private/secret", "aud", "another-registry"))
		}),
		forged("no audience", func(t *testing.T, f *attackFixture) string {
			return f.signed(t, f.claims("alice", "private/secret", "aud", nil))
		}),
		forged("no expiry", func(t *testing.T, f *attackFixture) string {
			return f.signed(t, f.claims("alice", "private/secret", "exp", nil))
		}),
		forged("unknown key", func(t *testing.T, f *attackFixture) string {
			k, err := auth.GenerateKey(auth.AlgES256)
			must(t, err)
			tok, err := k.Sign(f.claims("alice", "private/secret"))
			must(t, err)
			return tok
		}),
		forged("no key id", func(t *testing.T, f *attackFixture) string {
			k := newECKey(t)
			return signWith(t, jwt.SigningMethodES256, k, nil, f.claims("alice", "private/secret"))
		}),
		forged("trusted key id, another key's signature", func(t *testing.T, f *attackFixture) string {
			k := newECKey(t)
			return signWith(t, jwt.SigningMethodES256, k, map[string]any{"kid": f.Key.KeyID()}, f.claims("alice", "private/secret"))
		}),
		forged("RS256 under the ES256 key's id", func(t *testing.T, f *attackFixture) string {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			must(t, err)
			return signWith(t, jwt.SigningMethodRS256, k, map[string]any{"kid": f.Key.KeyID()}, f.claims("alice", "private/secret"))
		}),
		forged("payload swapped under a valid signature", func(t *testing.T, f *attackFixture) string {
			good := strings.Split(f.token(t, "bob", "repository:team/app:pull,push"), ".")
			evil := strings.Split(unsigned(nil, f.claims("bob", "private/secret")), ".")
			return good[0] + "." + evil[1] + "." + good[2]
		}),
		forged("a refresh token", func(t *testing.T, f *attackFixture) string { return f.refreshToken(t, "bob") }),
		forged("garbage", func(t *testing.T, f *attackFixture) string { return "abc.def.ghi" }),
		attack{name: "basic credentials where a token is expected", modes: onlyToken, status: 401, code: unauthorized,
			challenge: `Bearer realm=`,
			req: func(t *testing.T, f *attackFixture) *http.Request {
				req := plant(t, f, "")
				req.SetBasicAuth("alice", authUsers["alice"])
				return req
			}},
		attack{name: "token for repository a used on b", modes: onlyToken, status: 401, code: unauthorized, challenge: insufficient,
			req: func(t *testing.T, f *attackFixture) *http.Request {
				return plant(t, f, "Bearer "+f.token(t, "bob", "repository:team/app:pull,push"))
			}},
		attack{name: "pull token used to push", modes: onlyToken, status: 401, code: unauthorized, challenge: insufficient,
			req: func(t *testing.T, f *attackFixture) *http.Request {
				return newRequest(t, "POST", f.URL+"/v2/team/app/blobs/uploads/?digest="+d,
					"Bearer "+f.token(t, "bob", "repository:team/app:pull"), blob)
			}},
		attack{name: "pull token used to delete", modes: onlyToken, status: 401, code: unauthorized, challenge: insufficient,
			req: func(t *testing.T, f *attackFixture) *http.Request {
				return newRequest(t, "DELETE", f.URL+"/v2/team/app/manifests/"+f.manifest["team/app"].String(),
					"Bearer "+f.token(t, "alice", "repository:team/app:pull"), nil)
			}},
		attack{name: "anonymous token used to push", modes: onlyToken, status: 401, code: unauthorized, challenge: insufficient,
			req: func(t *testing.T, f *attackFixture) *http.Request {
				return newRequest(t, "PUT", f.URL+"/v2/public/base/manifests/evil",
					"Bearer "+f.token(t, "", "repository:public/base:pull,push"), blob)
			}},
	)

	// The token endpoint.
	badScope := func(name, scope string) attack {
		return attack{name: "token endpoint: " + name, modes: onlyToken, status: 400, code: "invalid_scope",
			req: func(t *testing.T, f *attackFixture) *http.Request {
				return tokenRequest(t, f, "bob", authUsers["bob"], "repository:team/app:pull", scope)
			}}
	}
	add(
		badScope("scope with ..", "repository:team/../private/secret:pull,push"),
		badScope("scope with a wildcard name", "repository:*:pull"),
		badScope("scope with a glob", "repository:team/*:push"),
		badScope("scope with an injected comma", "repository:team/app,private/secret:pull"),
		badScope("scope with an injected quote", `repository:team/app",scope="repository:private/secret:push:pull`),
		badScope("scope with an injected colon", "repository:private/secret:pull:push"),
		badScope("scope with a wildcard among actions", "repository:team/app:pull,*"),
		badScope("scope with an empty action", "repository:team/app:pull,,push"),
		badScope("scope with a resource class", "repository(plugin):team/app:pull"),
	)
	login := func(name, user, password string) attack {
		return attack{name: "token endpoint: " + name, modes: onlyToken, status: 401, code: "invalid_grant",
			req: func(t *testing.T, f *attackFixture) *http.Request {
				return tokenRequest(t, f, user, password, "repository:team/app:pull")
			}}
	}
	add(
		login("wrong password", "bob", "bob-secret-3"),
		login("unknown user", "mallory", "bob-secret-2"),
		attack{name: "token endpoint: wrong password (OAuth2 password grant)", modes: onlyToken, status: 401, code: "invalid_grant",
			req: func(t *testing.T, f *attackFixture) *http.Request {
				return tokenPost(t, f, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"guess"},
					"service": {authService}, "scope": {"repository:private/secret:pull"}})
			}},
		attack{name: "token endpoint: refresh token of a user removed from htpasswd", modes: onlyToken, status: 401, code: "invalid_grant",
			req: func(t *testing.T, f *attackFixture) *http.Request { return f.refreshRequest(t, f.revoked(t, "dave")) }},
		attack{name: "token endpoint: refresh token from before a password change", modes: onlyToken, status: 401, code: "invalid_grant",
			req: func(t *testing.T, f *attackFixture) *http.Request { return f.refreshRequest(t, f.revoked(t, "erin")) }},
		attack{name: "token endpoint: refresh token signed by another key", modes: onlyToken, status: 401, code: "invalid_grant",
			req: func(t *testing.T, f *attackFixture) *http.Request {
				k := newECKey(t)
				c := jwt.MapClaims{"iss": authIssuer, "sub": "alice", "aud": authService + "#refresh", "typ": "refresh",
					"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
				return f.refreshRequest(t, signWith(t, jwt.SigningMethodES256, k, map[string]any{"kid": f.Key.KeyID()}, c))
			}},
		attack{name: "token endpoint: access token used as a refresh token", modes: onlyToken, status: 401, code: "invalid_grant",
			req: func(t *testing.T, f *attackFixture) *http.Request {
				return f.refreshRequest(t, f.token(t, "alice", "repository:private/secret:pull"))
			}},
		attack{name: "token endpoint: unknown grant type", modes: onlyToken, status: 400, code: "unsupported_grant_type",
			req: func(t *testing.T, f *attackFixture) *http.Request {
				return tokenPost(t, f, url.Values{"grant_type": {"client_credentials"}, "service": {authService}})
			}},
		attack{name: "token endpoint: another service", modes: onlyToken, status: 400, code: "invalid_request",
			req: func(t *testing.T, f *attackFixture) *http.Request {
				req := tokenRequest(t, f, "alice", authUsers["alice"], "repository:private/secret:pull")
				q := req.URL.Query()
				q.Set("service", "another-registry")
				req.URL.RawQuery = q.Encode()
				return req
			}},
		attack{name: "token endpoint: account other than the credentials", modes: onlyToken, status: 400, code: "invalid_request",
			req: func(t *testing.T, f *attackFixture) *http.Request {
				req := tokenRequest(t, f, "carol", authUsers["carol"], "repository:private/secret:pull")
				q := req.URL.Query()
				q.Set("account", "alice")
				req.URL.RawQuery = q.Encode()
				return req
			}},
	)
	return table
}

// claims are access-token claims for sub granting push and pull on repo,
// from the right issuer for the right audience, valid now; pairs of
// extra override a claim (nil deletes it).
func (f *attackFixture) claims(sub, repo string, extra ...any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"iss": authIssuer, "sub": sub, "aud": authService,
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
		"access": []map[string]any{{"type": "repository", "name": repo, "actions": []string{"pull", "push"}}},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		k := extra[i].(string)
		switch v := extra[i+1].(type) {
		case nil:
			delete(c, k)
		case time.Time:
			c[k] = v.Unix()
		default:
			c[k] = v
		}
	}
	return c
}

// signed signs claims with the registry's own key.
func (f *attackFixture) signed(t *testing.T, c jwt.MapClaims) string {
	t.Helper()
	tok, err := f.Key.Sign(c)
	must(t, err)
	return tok
}

func unsigned(header map[string]any, c jwt.MapClaims) string {
	if header == nil {
		header = map[string]any{"alg": "ES256", "typ": "JWT"}
	}
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "."
}

func hmacToken(t *testing.T, f *attackFixture, secret []byte) string {
	t.Helper()
	return signWith(t, jwt.SigningMethodHS256, secret, map[string]any{"kid": f.Key.KeyID()}, f.claims("alice", "private/secret"))
}

func signWith(t *testing.T, m jwt.SigningMethod, key any, header map[string]any, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	must(t, err)
	return s
}

func newECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	return k
}

// refreshToken logs user in with the OAuth2 password grant, asking for a
// refresh token.
func (f *attackFixture) refreshToken(t *testing.T, user string) string {
	t.Helper()
	req := tokenPost(t, f, url.Values{"grant_type": {"password"}, "username": {user}, "password": {authUsers[user]},
		"access_type": {"offline"}, "client_id": {"berth-test"}, "service": {authService}})
	resp, body := send(t, req)
	var b struct {
		RefreshToken string `json:"refresh_token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &b) != nil || b.RefreshToken == "" {
		t.Fatalf("password grant for %s: %s %s", user, resp.Status, body)
	}
	// It works before the user is touched.
	if resp, body := send(t, f.refreshRequest(t, b.RefreshToken)); resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh grant for %s: %s %s", user, resp.Status, body)
	}
	return b.RefreshToken
}

// revoked returns a refresh token of user issued before user was removed
// from htpasswd ("dave") or changed password (anyone else).
func (f *attackFixture) revoked(t *testing.T, user string) string {
	t.Helper()
	tok := f.refreshToken(t, user)
	if user == "dave" {
		delete(f.users, user)
	} else {
		f.users[user] += "-changed"
	}
	writeHtpasswd(t, f.Htpasswd, f.users)
	return tok
}

func (f *attackFixture) refreshRequest(t *testing.T, refresh string) *http.Request {
	t.Helper()
	return tokenPost(t, f, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh},
		"client_id": {"berth-test"}, "service": {authService}, "scope": {"repository:team/app:pull"}})
}
