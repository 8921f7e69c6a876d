package client

import (
	"context"
	"crypto/tls"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// userAgentTransport sets the User-Agent of every request.
type userAgentTransport struct {
	next  http.RoundTripper
	agent string
}

func (t *userAgentTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.agent == "" || req.Header.Get("User-Agent") == t.agent {
		return t.next.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	r.Header.Set("User-Agent", t.agent)
	return t.next.RoundTrip(r)
}

// RetryPolicy says how idempotent requests (GET, HEAD, PUT, DELETE,
// OPTIONS) whose body can be replayed are retried after a network error, a
// 429, or a 5xx other than 501 and 505.
type RetryPolicy struct {
	// Attempts is the number of tries including the first; 1 or less
	// disables retries.
	Attempts int
	// MinDelay is the first backoff; each retry doubles it, up to MaxDelay,
	// and waits a random time between half of it and all of it.
	MinDelay time.Duration
	// MaxDelay caps one wait. A Retry-After longer than MaxDelay is not
	// waited for: the answer is returned as it is.
	MaxDelay time.Duration
}

// DefaultRetryPolicy is 4 attempts, backing off from 250ms to at most 10s.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{Attempts: 4, MinDelay: 250 * time.Millisecond, MaxDelay: 10 * time.Second}
}

// retryTransport retries what is safe to retry: an idempotent method and a
// body that can be produced again (none, or one with GetBody). Anything
// else goes through once.
type retryTransport struct {
	next   http.RoundTripper
	policy RetryPolicy
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.policy.Attempts <= 1 || !idempotent(req.Method) || !replayable(req) {
		return t.next.RoundTrip(req)
	}
	ctx := req.Context()
	for attempt := 1; ; attempt++ {
		r := req
		if attempt > 1 {
			var err error
			if r, err = rewind(req); err != nil {
				return nil, err
			}
		}
		resp, err := t.next.RoundTrip(r)
		if attempt >= t.policy.Attempts || !retryable(resp, err) || ctx.Err() != nil {
			return resp, err
		}
		delay := t.backoff(attempt)
		if resp != nil {
			if after, ok := retryAfter(resp.Header, time.Now()); ok {
				if after > t.policy.MaxDelay {
					return resp, nil // the server asks for more patience than we have
				}
				delay = max(delay, after)
			}
			drain(resp.Body)
		}
		if err := sleep(ctx, delay); err != nil {
			return nil, err
		}
	}
}

func (t *retryTransport) backoff(attempt int) time.Duration { return t.policy.backoff(attempt) }

// backoff is the wait before retry number attempt (1-based): exponential
// from MinDelay, capped at MaxDelay, with jitter over its upper half.
func (p RetryPolicy) backoff(attempt int) time.Duration {
	d := p.MinDelay
	for i := 1; i < attempt && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	if d <= 1 {
		return max(d, 0)
	}
	return d/2 + rand.N(d/2)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// replayable reports whether req's body can be sent again.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// rewind copies req with a fresh body for another try.
func rewind(req *http.Request) (*http.Request, error) {
	r := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = body
	}
	return r, nil
}

// retryable reports whether an answer (or its absence) is worth another try.
func retryable(resp *http.Response, err error) bool {
	if err != nil {
		var certErr *tls.CertificateVerificationError
		return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) &&
			!errors.As(err, &certErr)
	}
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests, s == http.StatusRequestTimeout:
		return true
	case s == http.StatusNotImplemented, s == http.StatusHTTPVersionNotSupported:
		return false
	case s >= 500:
		return true
	}
	return false
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			return 24 * time.Hour, true
		}
		return time.Duration(secs) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

// scopeKey is the context key of a request's scope.
type scopeKey struct{}

// requestScope is what the auth transport needs to know of a request: the
// registry it was built for (whose credentials to use), the registry's
// origin (only requests to it get credentials, not redirects elsewhere;
// its scheme also decides which token realms are acceptable), and the token
// scopes it needs.
type requestScope struct {
	registry string
	origin   *url.URL
	scopes   []string
}

// key names the registry's origin in the auth transport's maps.
func (s requestScope) key() string { return s.origin.Scheme + "://" + hostPort(s.origin) }

func withScope(ctx context.Context, registry string, origin *url.URL, scopes []string) context.Context {
	return context.WithValue(ctx, scopeKey{}, requestScope{registry: registry, origin: origin, scopes: scopes})
}

func scopeFrom(ctx context.Context) (requestScope, bool) {
	s, ok := ctx.Value(scopeKey{}).(requestScope)
	return s, ok
}

// Scopes of the registry token flow.
func pullScope(repo string) string   { return "repository:" + repo + ":pull" }
func pushScope(repo string) string   { return "repository:" + repo + ":pull,push" }
func deleteScope(repo string) string { return "repository:" + repo + ":delete" }
func catalogScope() string           { return "registry:catalog:*" }
