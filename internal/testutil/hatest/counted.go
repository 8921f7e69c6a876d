package hatest

import (
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testutil/disttest"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// Counted is a registry whose requests are counted by kind (see
// RequestKind), for tests that prove what a client did not ask for.
type Counted struct {
	Server
	mu       sync.Mutex
	counts   map[string]int
	slow     time.Duration
	inFlight int // blob GETs being answered
	maxBlobs int // the most at once
}

// StartCountedBerth serves Berth in memory, counting its requests, until
// the test ends.
func StartCountedBerth(t testing.TB, opts ...registry.Option) *Counted {
	t.Helper()
	app, err := registry.New(t.Context(), inmemory.New(), opts...)
	if err != nil {
		t.Fatalf("registry.New: %v", err)
	}
	return serveCounted(t, app)
}

// StartCountedDistribution serves distribution/v3 in memory, counting its
// requests, until the test ends. With users (name → password) it uses
// Distribution's token auth, with a token server of the test's own that
// grants users what they ask and anonymous callers pull only.
func StartCountedDistribution(t testing.TB, users map[string]string) *Counted {
	t.Helper()
	o := disttest.Options{}
	if len(users) > 0 {
		o = disttest.Options{Auth: disttest.Token, Users: users}
	}
	return serveCounted(t, disttest.New(t, o))
}

func serveCounted(t testing.TB, h http.Handler) *Counted {
	c := &Counted{counts: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := RequestKind(r)
		c.mu.Lock()
		c.counts[kind]++
		slow := c.slow
		if kind == "GET blob" {
			c.inFlight++
			c.maxBlobs = max(c.maxBlobs, c.inFlight)
			defer func() {
				c.mu.Lock()
				c.inFlight--
				c.mu.Unlock()
			}()
		}
		c.mu.Unlock()
		if slow > 0 && kind == "GET blob" {
			w = &slowWriter{ResponseWriter: w, delay: slow}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c.Host, c.URL = srv.Listener.Addr().String(), srv.URL
	return c
}

// RequestKind names what a registry request does: "GET /v2/", "HEAD
// manifest", "GET manifest", "PUT manifest", "HEAD blob", "GET blob",
// "POST upload", "PATCH upload", "PUT upload", "GET tags", "GET
// catalog", "GET referrers", or the method and path.
func RequestKind(r *http.Request) string {
	p := r.URL.Path
	switch {
	case p == "/v2/" || p == "/v2":
		return r.Method + " /v2/"
	case strings.Contains(p, "/blobs/uploads"):
		return r.Method + " upload"
	case strings.Contains(p, "/blobs/"):
		return r.Method + " blob"
	case strings.Contains(p, "/manifests/"):
		return r.Method + " manifest"
	case strings.HasSuffix(p, "/tags/list"):
		return r.Method + " tags"
	case strings.HasPrefix(p, "/v2/_catalog"):
		return r.Method + " catalog"
	case strings.Contains(p, "/referrers/"):
		return r.Method + " referrers"
	}
	return r.Method + " " + p
}

// Counts returns the requests counted since the start or the last Reset.
func (c *Counted) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

// Count is how many requests of kind were counted.
func (c *Counted) Count(kind string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[kind]
}

// MaxBlobGets is the most blob GETs answered at once since the start or
// the last Reset.
func (c *Counted) MaxBlobGets() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxBlobs
}

// Reset zeroes the counts.
func (c *Counted) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts = map[string]int{}
	c.maxBlobs = c.inFlight
}

// SlowBlobs makes each write of a blob download's body wait d (0: no wait).
func (c *Counted) SlowBlobs(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slow = d
}

// FormatCounts prints counts sorted by kind: "GET blob=3 HEAD manifest=2".
func FormatCounts(counts map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, counts[k]))
	}
	return strings.Join(parts, " ")
}

// slowWriter sends a body in pieces of at most 32 KiB, waiting before each.
type slowWriter struct {
	http.ResponseWriter
	delay time.Duration
}

func (s *slowWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		time.Sleep(s.delay)
		k := min(len(b), 32<<10)
		m, err := s.ResponseWriter.Write(b[:k])
		n += m
		if err != nil {
			return n, err
		}
		if f, ok := s.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		b = b[k:]
	}
	return n, nil
}
