package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// failing answers the first n requests matching match with status (or, for
// status 0, by dropping the connection), then lets them through.
func failing(n, status int, retryAfter string, match func(*http.Request) bool) func(http.Handler) http.Handler {
	var mu sync.Mutex
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			fail := match(r) && n > 0
			if fail {
				n--
			}
			mu.Unlock()
			switch {
			case !fail:
				h.ServeHTTP(w, r)
			case status == 0:
				conn, _, err := http.NewResponseController(w).Hijack()
				if err == nil {
					conn.Close()
				}
			default:
				if retryAfter != "" {
					w.Header().Set("Retry-After", retryAfter)
				}
				w.WriteHeader(status)
			}
		})
	}
}

func is(method, kind string) func(*http.Request) bool {
	return func(r *http.Request) bool { return r.Method == method && pathKind(r.URL.Path) == kind }
}

// TestRetry: which failures are retried, how often, and which are not.
func TestRetry(t *testing.T) {
	img := newImage(t, 1, nil, "", 100)
	for _, tc := range []struct {
		name     string
		fail     func(http.Handler) http.Handler
		op       func(ctx context.Context, c *Client, ref Reference) error
		kind     string // "METHOD kind" of the requests to count
		requests int
		wantErr  error
	}{
		{"GET after two 503s", failing(2, 503, "", is("GET", "manifests")), manifestGet, "GET manifests", 3, nil},
		{"GET after a dropped connection", failing(1, 0, "", is("GET", "manifests")), manifestGet, "GET manifests", 2, nil},
		{"HEAD after two 502s", failing(2, 502, "", is("HEAD", "blobs")), blobHead(img), "HEAD blobs", 3, nil},
		{"GET gives up after the attempts", failing(10, 500, "", is("GET", "manifests")), manifestGet, "GET manifests", 4, ErrUnavailable},
		{"501 is not retried", failing(1, 501, "", is("GET", "manifests")), manifestGet, "GET manifests", 1, ErrUnavailable},
		{"404 is not retried", nil, func(ctx context.Context, c *Client, ref Reference) error {
			return manifestGet(ctx, c, ref.WithTag("nope"))
		}, "GET manifests", 1, ErrNotFound},
		{"POST is not retried", failing(1, 503, "", is("POST", "uploads")), blobPut(func(b []byte) io.Reader { return bytes.NewReader(b) }), "POST uploads", 1, ErrUnavailable},
		{"replayable PUT is retried", failing(1, 503, "", is("PUT", "manifests")), manifestPut(img), "PUT manifests", 2, nil},
		{"non-replayable PUT is not retried", failing(1, 503, "", is("PUT", "uploads")),
			blobPut(func(b []byte) io.Reader { return io.MultiReader(bytes.NewReader(b)) }), "PUT uploads", 1, ErrUnavailable},
		{"Retry-After beyond MaxDelay is not waited for", failing(1, 429, "3600", is("GET", "manifests")), manifestGet, "GET manifests", 1, ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			var armed atomic.Bool // failures start after the set-up push
			host := startBerth(t, func(h http.Handler) http.Handler {
				failed := h
				if tc.fail != nil {
					failed = tc.fail(h)
				}
				return rec.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if armed.Load() {
						failed.ServeHTTP(w, r)
					} else {
						h.ServeHTTP(w, r)
					}
				}))
			})
			ref := mustRef(t, host+"/retry:1")
			img.push(t, New(), ref)
			rec.reset()
			armed.Store(true)
			err := tc.op(t.Context(), New(fastRetry()), ref)
			if (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			if got := rec.count(tc.kind); got != tc.requests {
				t.Errorf("%d %s requests, want %d", got, tc.kind, tc.requests)
			}
		})
	}
}

func manifestGet(ctx context.Context, c *Client, ref Reference) error {
	_, err := c.ManifestGet(ctx, ref)
	return err
}

func blobHead(img testImage) func(context.Context, *Client, Reference) error {
	return func(ctx context.Context, c *Client, ref Reference) error {
		_, err := c.BlobHead(ctx, ref, blobDesc(img.Config, "").Digest)
		return err
	}
}

func manifestPut(img testImage) func(context.Context, *Client, Reference) error {
	return func(ctx context.Context, c *Client, ref Reference) error {
		_, err := c.ManifestPut(ctx, ref.WithTag("again"), "application/vnd.oci.image.manifest.v1+json", img.Manifest)
		return err
	}
}

func blobPut(reader func([]byte) io.Reader) func(context.Context, *Client, Reference) error {
	return func(ctx context.Context, c *Client, ref Reference) error {
		b := randomBytes(100, 42)
		return c.BlobPut(ctx, ref, blobDesc(b, ""), reader(b))
	}
}

// TestRetryAfter: a Retry-After within MaxDelay is honoured.
func TestRetryAfter(t *testing.T) {
	rec := newRecorder()
	host := startBerth(t, func(h http.Handler) http.Handler {
		return rec.wrap(failing(1, 429, "1", is("GET", "base"))(h))
	})
	c := New(WithRetry(RetryPolicy{Attempts: 3, MinDelay: time.Millisecond, MaxDelay: 3 * time.Second}))
	start := time.Now()
	if err := c.Ping(t.Context(), host); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("retried after %v, before the Retry-After of 1s", d)
	}
	if got := rec.count("GET base"); got != 2 {
		t.Errorf("%d requests, want 2", got)
	}
}

// TestRetryCancel: a cancelled context ends the backoff at once.
func TestRetryCancel(t *testing.T) {
	host := startBerth(t, failing(100, 503, "", is("GET", "base")))
	c := New(WithRetry(RetryPolicy{Attempts: 5, MinDelay: 10 * time.Second, MaxDelay: 10 * time.Second}))
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Ping(ctx, host)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ping: %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Ping returned after %v", d)
	}
}

func TestBackoff(t *testing.T) {
	rt := &retryTransport{policy: RetryPolicy{Attempts: 10, MinDelay: 100 * time.Millisecond, MaxDelay: time.Second}}
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 9: time.Second} {
		for range 20 {
			if d := rt.backoff(attempt); d < want/2 || d > want {
				t.Errorf("backoff(%d) = %v, want within [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{"5": 5 * time.Second, now.Add(3 * time.Second).Format(http.TimeFormat): 3 * time.Second, "0": 0} {
		if d, ok := retryAfter(http.Header{"Retry-After": {v}}, now); !ok || d != want {
			t.Errorf("retryAfter(%q) = %v, %v; want %v", v, d, ok, want)
		}
	}
	for _, v := range []string{"", "soon", "-1"} {
		if _, ok := retryAfter(http.Header{"Retry-After": {v}}, now); ok {
			t.Errorf("retryAfter(%q) accepted", v)
		}
	}
}

// TestUserAgent: every request, token requests included, names the client.
func TestUserAgent(t *testing.T) {
	f := &fakeAuth{users: map[string]string{"alice": "secret"}}
	rec := newRecorder()
	_ = f.start(t)
	host := startBerth(t, func(h http.Handler) http.Handler { return rec.wrap(f.wrap(h)) })
	c := New(WithUserAgent("hostagent/9.9"), creds(host, "alice", "secret"))
	newImage(t, 1, nil, "", 10).push(t, c, mustRef(t, host+"/ua:1"))
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, r := range rec.requests {
		if r.UserAgent() != "hostagent/9.9" {
			t.Errorf("%s %s: User-Agent %q", r.Method, r.URL, r.UserAgent())
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ua := range f.userAgents {
		if ua != "hostagent/9.9" {
			t.Errorf("token request User-Agent %q", ua)
		}
	}
}
