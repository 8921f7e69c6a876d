package auth

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Authorizer decides whether a request may do what its route wants.
type Authorizer interface {
	// Authorize returns the caller's Grant when r carries credentials that
	// allow every access in wanted (with none wanted: any valid
	// credentials), and a *Challenge otherwise.
	Authorize(ctx context.Context, r *http.Request, wanted ...Access) (*Grant, error)
}

// Grant is what Authorize found out about a caller it let through.
type Grant struct {
	// Subject is the user name, "" for an anonymous caller.
	Subject string
	lists   func(repository string) bool
	// pullsAll is set when the caller may pull every repository.
	pullsAll bool
}

// PullsAll reports whether the caller may pull from every repository,
// which a blob mount without a source repository (?mount= without from=)
// needs: it takes the blob from wherever it is. A nil Grant (no access
// control) may.
func (g *Grant) PullsAll() bool { return g == nil || g.pullsAll }

// MayList reports whether repository appears in the lists the caller
// gets (the catalog): whether the policy lets the caller pull it, or,
// with tokens from an external server and no policy, whether the token
// holds registry:catalog:*. A nil Grant (no access control) lists
// everything.
func (g *Grant) MayList(repository string) bool {
	if g == nil || g.lists == nil {
		return true
	}
	return g.lists(repository)
}

// Challenge is the error of a refused request: its HTTP status, the
// registry error code that goes with it, and the headers to set.
type Challenge struct {
	// Status is 401 (no or bad credentials, or in token mode a token
	// without the wanted scope), 403 (authenticated, not allowed) or 429
	// (too many failed logins from this address).
	Status int
	// Wanted is the access that was refused, for the error detail.
	Wanted []Access
	// Header is the WWW-Authenticate value, set with 401.
	Header string
	// RetryAfter is set with 429.
	RetryAfter time.Duration
	msg        string
}

func (c *Challenge) Error() string { return c.msg }

// Code is the registry error code of the status: UNAUTHORIZED, DENIED or
// TOOMANYREQUESTS.
func (c *Challenge) Code() string {
	switch c.Status {
	case http.StatusForbidden:
		return "DENIED"
	case http.StatusTooManyRequests:
		return "TOOMANYREQUESTS"
	}
	return "UNAUTHORIZED"
}

// SetHeaders sets WWW-Authenticate (401) or Retry-After (429) on h.
func (c *Challenge) SetHeaders(h http.Header) {
	if c.Header != "" {
		h.Set("WWW-Authenticate", c.Header)
	}
	if c.Status == http.StatusTooManyRequests {
		secs := int((c.RetryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.Itoa(max(secs, 1)))
	}
}

func denied(wanted []Access, format string, args ...any) *Challenge {
	return &Challenge{Status: http.StatusForbidden, Wanted: wanted, msg: fmt.Sprintf(format, args...)}
}

func tooMany(wait time.Duration) *Challenge {
	return &Challenge{Status: http.StatusTooManyRequests, RetryAfter: wait,
		msg: "too many failed logins from this address; try again later"}
}

// basicChallenge is the WWW-Authenticate value of htpasswd mode.
func basicChallenge(realm string) string { return "Basic realm=" + quote(realm) }

// quote makes s a quoted-string of RFC 9110. The values quoted here come
// from the configuration or from validated names, but a quote or backslash
// must still never end the string early.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			// control characters cannot be sent in a header
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// clientKey is what failed logins are counted by: the client's IP address
// (an IPv6 address by its /64, which one host commonly owns whole). The
// connection's address is used, never X-Forwarded-For, which any client
// can set.
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil:
		return host
	case ip.To4() != nil:
		return ip.To4().String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
