package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
)

// Basic is the Authorizer of htpasswd mode: HTTP basic auth against an
// htpasswd file, then the policy.
type Basic struct {
	realm   string
	users   *Users
	policy  *Policy
	limiter *Limiter
	log     *slog.Logger
}

var _ Authorizer = (*Basic)(nil)

// NewBasic checks credentials against users and access against policy
// (nil: authenticated users may do everything). Failed logins are counted
// in limiter (nil: not limited). realm is sent in the Basic challenge.
func NewBasic(realm string, users *Users, policy *Policy, limiter *Limiter, log *slog.Logger) (*Basic, error) {
	if users == nil {
		return nil, errors.New("basic auth needs an htpasswd file")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Basic{realm: realm, users: users, policy: policy, limiter: limiter, log: log}, nil
}

// Authorize implements Authorizer. Without an Authorization header the
// request is anonymous: it passes when the policy lets anonymous users do
// everything wanted (and something is wanted), else 401. With one, the
// credentials must be valid (else 401, or 429 once too many failed from
// this address), and the policy must allow the user every wanted access
// (else 403).
func (b *Basic) Authorize(ctx context.Context, r *http.Request, wanted ...Access) (*Grant, error) {
	if anonymous(r) {
		who := Principal{}
		if len(wanted) > 0 && b.policy != nil && b.policy.AllowedAll(who, wanted) {
			return b.grant(who), nil
		}
		return nil, b.challenge(wanted, "authentication required")
	}
	user, err := login(r, b.users, b.limiter)
	if err != nil {
		var ch *Challenge
		if errors.As(err, &ch) {
			return nil, ch
		}
		b.log.InfoContext(r.Context(), "login failed", "remote", r.RemoteAddr, "user", logUser(b.users, user), "err", err)
		return nil, b.challenge(wanted, err.Error())
	}
	who := Principal{Name: user, Authenticated: true}
	if !b.policy.AllowedAll(who, wanted) {
		return nil, denied(wanted, "%s may not %s", user, FormatScopes(wanted))
	}
	return b.grant(who), nil
}

func (b *Basic) grant(who Principal) *Grant {
	return &Grant{
		Subject:  who.Name,
		pullsAll: b.policy.AllowedEverywhere(who, ActionPull),
		lists: func(name string) bool {
			return b.policy.Allowed(who, Access{TypeRepository, name, ActionPull})
		},
	}
}

func (b *Basic) challenge(wanted []Access, msg string) *Challenge {
	return &Challenge{Status: http.StatusUnauthorized, Wanted: wanted, Header: basicChallenge(b.realm), msg: msg}
}

// anonymous reports whether r carries no credentials: no Authorization
// header, or basic auth with an empty user name and password, which some
// clients (skopeo) send when they have none.
func anonymous(r *http.Request) bool {
	hdr := r.Header.Values("Authorization")
	if len(hdr) == 0 {
		return true
	}
	user, password, ok := r.BasicAuth()
	return len(hdr) == 1 && ok && user == "" && password == ""
}

// login checks the basic credentials of r. A password verified recently
// passes without counting; otherwise the client's address must have
// attempts left (else a 429 *Challenge), a check takes one, and a right
// password gives it back. It returns the user name, also on failure (for
// the log).
func login(r *http.Request, users *Users, limiter *Limiter) (string, error) {
	hdr := r.Header.Values("Authorization")
	user, password, ok := r.BasicAuth()
	if len(hdr) != 1 || !ok {
		return "", errors.New("want one Authorization: Basic header")
	}
	return user, checkPassword(r, users, limiter, user, password)
}

// checkPassword is login for credentials taken from elsewhere (a form).
func checkPassword(r *http.Request, users *Users, limiter *Limiter, user, password string) error {
	if users.cached(user, password) {
		return nil
	}
	if _, err := users.file.Get(); err != nil {
		// Nobody can log in; not counted against the client, whose
		// password may well be right once the file is back.
		return errUsersUnavailable
	}
	// The token is taken before bcrypt runs and given back only for a
	// right password, so concurrent guesses cannot outrun the count.
	check, err := limiter.begin(r.Context(), clientKey(r))
	if err != nil {
		return err
	}
	// Verify looks at the cache again: a check that waited behind one
	// verifying the same password finds it there, without bcrypt.
	ok := users.Verify(user, password)
	check.end(ok)
	if !ok {
		return errBadCredentials
	}
	return nil
}

// logUser is a user name as logged after a failed login: only names that
// exist are written, since a client may send anything there, including a
// password typed into the wrong field.
func logUser(users *Users, user string) string {
	if user != "" && users.Has(user) {
		return user
	}
	return "(unknown)"
}
