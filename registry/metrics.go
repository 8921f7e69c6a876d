package registry

import (
	"errors"
	"io"
	"net/http"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry/metrics"
)

// Route names, the "route" label of the HTTP metrics.
const (
	routeBase             = "base"
	routeCatalog          = "catalog"
	routeTags             = "tags"
	routeManifest         = "manifest"
	routeUpload           = "blob_upload"
	routeUploadChunk      = "blob_upload_chunk"
	routeBlob             = "blob"
	routeReferrers        = "referrers"
	routeRepository       = "berth_repository"
	routeToken            = "token"
	routeNotFound         = "not_found"
	routeMethodNotAllowed = "method_not_allowed"
)

// WithMetrics records the registry's HTTP requests, uploads, access checks
// and pull-through cache hits in m. Without it nothing is recorded. The
// storage driver's operations are recorded by wrapping the driver
// (storagedriver/observed) before New, and the cache's misses by giving it
// m (proxy.WithObserver).
func WithMetrics(m *metrics.Metrics) Option { return func(o *options) { o.metrics = m } }

// instrument records every request of route in the HTTP metrics. It runs
// inside ServeHTTP, whose statusWriter it reads for the status and the
// response's size.
func (a *App) instrument(route string, h http.Handler) http.Handler {
	m := a.opts.metrics
	if m == nil {
		return h
	}
	upload := route == routeUpload || route == routeUploadChunk
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := m.StartRequest(route, r.Method)
		sw, ok := w.(*statusWriter)
		if !ok {
			sw = &statusWriter{ResponseWriter: w}
		}
		cb := &countingBody{rc: r.Body}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = cb
		}
		defer func() {
			status := sw.status
			if status == 0 {
				status = http.StatusOK // what net/http sends for a handler that wrote nothing
			}
			q.End(status, cb.n, sw.bytes)
			if upload {
				m.UploadBytes(cb.n)
			}
		}()
		h.ServeHTTP(sw, r)
	})
}

// countingBody counts the bytes read from a request body.
type countingBody struct {
	rc io.ReadCloser
	n  int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

// countAuth records the result of an access check. Auth's own error
// classes say what happened, so auth needs no hook: a Challenge's status
// tells a refusal (403) and a throttled login (429) from a 401, and a 401
// is a failure when the client sent credentials, the normal first step of
// the challenge flow when it sent none.
func (a *App) countAuth(r *http.Request, n need, err error) {
	m := a.opts.metrics
	if m == nil || a.opts.auth == nil || n == needNothing {
		return
	}
	m.Auth("registry", authResult(r, err))
}

func authResult(r *http.Request, err error) string {
	var ch *auth.Challenge
	switch {
	case err == nil:
		return metrics.AuthSuccess
	case !errors.As(err, &ch):
		return metrics.AuthFailure
	case ch.Status == http.StatusTooManyRequests:
		return metrics.AuthThrottled
	case ch.Status == http.StatusForbidden:
		return metrics.AuthDenied
	case r.Header.Get("Authorization") == "":
		return metrics.AuthChallenged
	}
	return metrics.AuthFailure
}

// countTokens records the token server's answers: 200 is a token issued,
// 401 a failed login, 429 a throttled one, anything else (a malformed
// request) a failure.
func (a *App) countTokens(h http.Handler) http.Handler {
	m := a.opts.metrics
	if m == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw, ok := w.(*statusWriter)
		if !ok {
			sw = &statusWriter{ResponseWriter: w}
		}
		h.ServeHTTP(sw, r)
		switch sw.status {
		case 0, http.StatusOK:
			m.TokenIssued()
			m.Auth("token", metrics.AuthSuccess)
		case http.StatusTooManyRequests:
			m.Auth("token", metrics.AuthThrottled)
		case http.StatusUnauthorized:
			if r.Header.Get("Authorization") == "" && r.Method == http.MethodGet {
				m.Auth("token", metrics.AuthChallenged)
				return
			}
			m.Auth("token", metrics.AuthFailure)
		default:
			m.Auth("token", metrics.AuthFailure)
		}
	})
}
