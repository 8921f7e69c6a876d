package hatest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil/disttest"
)

// Server is a registry serving plain HTTP on loopback.
type Server struct {
	Host string // 127.0.0.1:port
	URL  string
}

// StartDistribution serves distribution/v3's registry in-process, in
// memory, until the test ends. With users (name → password), it requires
// htpasswd basic auth.
func StartDistribution(t testing.TB, users map[string]string) *Server {
	t.Helper()
	o := disttest.Options{}
	if len(users) > 0 {
		o.Auth, o.Users = disttest.Htpasswd, users
	}
	srv := disttest.Start(t, o)
	return &Server{Host: srv.Host, URL: srv.URL}
}

// Proxy sits in front of a registry: it counts the body bytes of every blob
// GET, per digest, and can stall one blob's download part way.
type Proxy struct {
	Server
	mu     sync.Mutex
	served map[digest.Digest]int64
	stall  *stall
	srv    *httptest.Server
}

type stall struct {
	d       digest.Digest
	after   int64
	reached chan struct{}
	once    sync.Once
}

// NewProxy proxies to the registry at target (a URL) until the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{served: map[digest.Digest]int64{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1 // every write reaches the client at once
	rp.ErrorLog = nil
	rp.ModifyResponse = func(resp *http.Response) error {
		d, ok := blobDigest(resp.Request)
		if !ok {
			return nil
		}
		p.mu.Lock()
		st := p.stall
		p.mu.Unlock()
		if st != nil && st.d != d {
			st = nil
		}
		resp.Body = &countingBody{rc: resp.Body, p: p, d: d, st: st, ctx: resp.Request.Context()}
		return nil
	}
	p.srv = httptest.NewServer(rp)
	t.Cleanup(p.srv.Close)
	p.Host, p.URL = p.srv.Listener.Addr().String(), p.srv.URL
	return p
}

// Close stops the proxy.
func (p *Proxy) Close() { p.srv.Close() }

// Served is how many bytes of blob d the proxy passed on so far.
func (p *Proxy) Served(d digest.Digest) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.served[d]
}

// Reset zeroes the counts.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.served = map[digest.Digest]int64{}
}

// StallAfter makes downloads of blob d stop after n bytes, hanging until the
// client goes away; the channel closes when n bytes have been sent.
// Stall(nil) ends the stalling for later requests.
func (p *Proxy) StallAfter(d digest.Digest, n int64) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stall = &stall{d: d, after: n, reached: make(chan struct{})}
	return p.stall.reached
}

// NoStall ends stalling for later requests.
func (p *Proxy) NoStall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stall = nil
}

func blobDigest(r *http.Request) (digest.Digest, bool) {
	if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
		return "", false
	}
	d, err := digest.Parse(r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:])
	return d, err == nil
}

type countingBody struct {
	rc   io.ReadCloser
	p    *Proxy
	d    digest.Digest
	st   *stall
	ctx  context.Context
	sent int64
}

func (c *countingBody) Read(b []byte) (int, error) {
	if c.st != nil {
		left := c.st.after - c.sent
		if left <= 0 {
			c.st.once.Do(func() { close(c.st.reached) })
			<-c.ctx.Done()
			return 0, c.ctx.Err()
		}
		if int64(len(b)) > left {
			b = b[:left]
		}
	}
	n, err := c.rc.Read(b)
	c.sent += int64(n)
	c.p.mu.Lock()
	c.p.served[c.d] += int64(n)
	c.p.mu.Unlock()
	return n, err
}

func (c *countingBody) Close() error { return c.rc.Close() }
