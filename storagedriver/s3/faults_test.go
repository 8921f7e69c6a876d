package s3_test

// Faults: S3 down, S3 silent, S3 restarted under an upload, and a wrong
// configuration. Each test runs a versitygw of its own (s3test.Start), since
// it stops it.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/s3"
)

// faultTimeout is storage.s3.timeout in the fault tests.
const faultTimeout = 2 * time.Second

// hangBound separates "fails within the timeout" from "hangs": without the
// driver's timeouts a stalled S3 holds a request for minutes. It is far above
// faultTimeout on purpose: the machine is shared and noisy, and this proves
// the request does not hang, not how fast it fails.
const hangBound = 8 * faultTimeout

// ownServer starts a versitygw of the test's own with a bucket, and
// returns parameters for it with a short timeout.
func ownServer(t *testing.T) (*s3test.Server, s3.Params) {
	t.Helper()
	srv := s3test.Start(t)
	srv.CreateBucket(t, "faults")
	p := srv.Params("faults", "registry")
	p.Timeout = faultTimeout
	return srv, p
}

// TestNewRefusesBadConfiguration proves that New checks the bucket: wrong
// credentials, a missing bucket, nothing listening and a server that never
// answers each fail at once (the last within the timeout) with a message
// that says which.
func TestNewRefusesBadConfiguration(t *testing.T) {
	srv, good := ownServer(t)
	closed := closedAddr(t)
	silent := newStallProxy(t, srv.Addr)
	silent.stall()
	tests := []struct {
		name        string
		edit        func(*s3.Params)
		msg         string
		unavailable bool
	}{
		{"wrong secret key", func(p *s3.Params) { p.SecretKey = "wrong" }, "access denied: check storage.s3.accesskey and secretkey", false},
		// versitygw answers an unknown key with its own code; its words pass through.
		{"unknown access key", func(p *s3.Params) { p.AccessKey = "nobody" }, "No user exists with the provided access key ID", false},
		{"missing bucket", func(p *s3.Params) { p.Bucket = "no-such-bucket" }, "bucket no-such-bucket at " + srv.Endpoint + ": the bucket does not exist", false},
		{"nothing listening", func(p *s3.Params) { p.RegionEndpoint = "http://" + closed }, "cannot reach S3", true},
		{"server never answers", func(p *s3.Params) { p.RegionEndpoint = "http://" + silent.addr() }, "cannot reach S3", true},
		{"chunk size below S3's minimum", func(p *s3.Params) { p.ChunkSize = 1 << 20 }, "chunksize 1048576 out of range", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := good
			tt.edit(&p)
			start := time.Now()
			d, err := s3.New(t.Context(), p)
			took := time.Since(start)
			if err == nil {
				t.Fatalf("New succeeded: %v", d)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("New: %v\nwant it to say %q", err, tt.msg)
			}
			if errors.Is(err, storagedriver.ErrUnavailable) != tt.unavailable {
				t.Errorf("New: %v; ErrUnavailable %v, want %v", err, !tt.unavailable, tt.unavailable)
			}
			if took > hangBound {
				t.Errorf("New took %v, want it to fail rather than hang (bound %v)", took, hangBound)
			}
		})
	}
	if _, err := s3.New(t.Context(), good); err != nil {
		t.Fatalf("New with the good parameters: %v", err)
	}
}

// TestUnavailableWithinTimeout proves that once the driver is running, S3
// stopping or going silent makes every operation fail with ErrUnavailable
// within the timeout (refused connections at once, after the retries;
// a silent server after one timeout, not one per attempt), and that the
// driver recovers when S3 is back.
func TestUnavailableWithinTimeout(t *testing.T) {
	srv, p := ownServer(t)
	direct, err := s3.New(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newStallProxy(t, srv.Addr)
	p.RegionEndpoint = "http://" + proxy.addr()
	proxied, err := s3.New(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := direct.PutContent(ctx, "/a/file", []byte("content")); err != nil {
		t.Fatal(err)
	}
	w, err := direct.Writer(ctx, "/a/pending", false)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	// All at once, as a busy registry's requests would be.
	check := func(t *testing.T, d *s3.Driver, bound time.Duration) {
		var wg sync.WaitGroup
		for name, op := range ops(ctx, d) {
			wg.Go(func() {
				start := time.Now()
				err := op()
				took := time.Since(start)
				if !errors.Is(err, storagedriver.ErrUnavailable) {
					t.Errorf("%s: %v, want ErrUnavailable", name, err)
				}
				if took > bound {
					t.Errorf("%s took %v, want at most %v", name, took, bound)
				}
			})
		}
		wg.Wait()
	}
	t.Run("stopped", func(t *testing.T) {
		srv.Stop()
		check(t, direct, hangBound) // three attempts, backoffs of at most a second
		srv.Restart(t)
	})
	t.Run("silent", func(t *testing.T) {
		proxy.stall()
		check(t, proxied, hangBound)
		proxy.resume()
	})
	t.Run("back", func(t *testing.T) {
		for _, d := range []*s3.Driver{direct, proxied} {
			if b, err := d.GetContent(ctx, "/a/file"); err != nil || string(b) != "content" {
				t.Fatalf("GetContent after S3 came back: %q, %v", b, err)
			}
		}
	})
}

// ops are calls of every kind on d, for the fault tests.
func ops(ctx context.Context, d *s3.Driver) map[string]func() error {
	return map[string]func() error{
		"GetContent": func() error { _, err := d.GetContent(ctx, "/a/file"); return err },
		"PutContent": func() error { return d.PutContent(ctx, "/a/other", []byte("x")) },
		"Stat":       func() error { _, err := d.Stat(ctx, "/a/file"); return err },
		"List":       func() error { _, err := d.List(ctx, "/a"); return err },
		"Writer":     func() error { _, err := d.Writer(ctx, "/a/pending", true); return err },
		"Delete":     func() error { return d.Delete(ctx, "/a/file") },
		"Move":       func() error { return d.Move(ctx, "/a/file", "/b/file") },
		"Open":       func() error { _, err := d.Open(ctx, "/a/file"); return err },
	}
}

// TestRegistryAnswers503 proves what a client and an operator see when S3
// stops: 503 UNAVAILABLE within the timeout, and one log line per failed
// request that names the S3 operation and the cause.
func TestRegistryAnswers503(t *testing.T) {
	srv, p := ownServer(t)
	direct := startNode(t, "direct", p)
	proxy := newStallProxy(t, srv.Addr)
	p.RegionEndpoint = "http://" + proxy.addr()
	proxied := startNode(t, "proxied", p)
	blob := noise(21, 1000)
	d := direct.pushBlob(t, "faults/repo", blob)

	for _, fault := range []struct {
		name          string
		n             *node
		inject, clear func()
		bound         time.Duration
		logSays       string
	}{
		{"stopped", direct, srv.Stop, func() { srv.Restart(t) }, hangBound, "connection refused"},
		{"silent", proxied, proxy.stall, proxy.resume, hangBound, "i/o timeout"},
	} {
		n := fault.n
		t.Run(fault.name, func(t *testing.T) {
			fault.inject()
			var wg sync.WaitGroup
			for _, r := range []struct{ method, path string }{
				{"GET", "/v2/faults/repo/blobs/" + d.String()},
				{"HEAD", "/v2/faults/repo/manifests/latest"},
				{"POST", "/v2/faults/repo/blobs/uploads/"},
				{"GET", "/v2/faults/repo/tags/list"},
			} {
				wg.Go(func() {
					start := time.Now()
					resp, body, err := n.try(t, r.method, r.path, nil, nil)
					took := time.Since(start)
					switch {
					case err != nil:
						t.Errorf("%s %s: %v", r.method, r.path, err)
					case resp.StatusCode != http.StatusServiceUnavailable:
						t.Errorf("%s %s: %s %s, want 503", r.method, r.path, resp.Status, body)
					case r.method != "HEAD" && !strings.Contains(string(body), `"UNAVAILABLE"`):
						t.Errorf("%s %s: body %s, want the UNAVAILABLE code", r.method, r.path, body)
					}
					if took > fault.bound {
						t.Errorf("%s %s took %v, want at most %v", r.method, r.path, took, fault.bound)
					}
				})
			}
			wg.Wait()
			logs := n.logs.String()
			if !strings.Contains(logs, "storage unavailable") || !strings.Contains(logs, fault.logSays) ||
				!strings.Contains(logs, "s3 GetObject /docker/registry/v2/repositories/faults/repo/") {
				t.Errorf("log does not name the S3 operation, the class and the cause (%q):\n%s", fault.logSays, logs)
			}
			fault.clear()
			n.getBlob(t, "faults/repo", d, blob)
		})
	}
}

// TestUploadAcrossS3Restart proves that an upload whose S3 went away in
// its middle fails cleanly while S3 is down (503, nothing published) and
// resumes from the last stored byte once S3 is back, on another node too.
func TestUploadAcrossS3Restart(t *testing.T) {
	srv, p := ownServer(t)
	a := startNode(t, "A", p)
	const repo = "faults/upload"
	blob := noise(22, 2*s3.MinChunkSize+99)
	d := digest.FromBytes(blob)
	resp, body := a.do(t, "POST", "/v2/"+repo+"/blobs/uploads/", nil, nil)
	want(t, "POST", resp, body, http.StatusAccepted)
	loc := a.patch(t, resp.Header.Get("Location"), 0, blob[:6<<20]) // a part and a tail

	srv.Stop()
	hdr := http.Header{"Content-Type": {"application/octet-stream"}, "Content-Range": {fmt.Sprintf("%d-%d", 6<<20, len(blob)-1)}}
	resp, body = a.do(t, "PUT", loc+"?digest="+d.String(), hdr, blob[6<<20:])
	want(t, "PUT while S3 is down", resp, body, http.StatusServiceUnavailable)
	srv.Restart(t)

	b := startNode(t, "B", p) // a node that never saw the upload
	resp, body = b.do(t, "HEAD", "/v2/"+repo+"/blobs/"+d.String(), nil, nil)
	want(t, "HEAD of the blob after the failed PUT", resp, body, http.StatusNotFound)
	resp, body = b.do(t, "GET", loc, nil, nil)
	want(t, "upload status after the restart", resp, body, http.StatusNoContent)
	if r := resp.Header.Get("Range"); r != fmt.Sprintf("0-%d", 6<<20-1) {
		t.Fatalf("upload status after the restart: Range %q, want the bytes before the outage", r)
	}
	resp, body = b.do(t, "PUT", loc+"?digest="+d.String(), hdr, blob[6<<20:])
	want(t, "PUT after the restart", resp, body, http.StatusCreated)
	a.getBlob(t, repo, d, blob)
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// stallProxy forwards TCP connections to an S3 server until stall: from
// then on it accepts connections and reads requests but never answers, on
// new connections and on those already open, as a black-holed network
// would; resume forwards again (on new connections).
type stallProxy struct {
	ln      net.Listener
	target  string
	stalled atomic.Bool
	mu      sync.Mutex
	ups     map[net.Conn]bool
	wg      sync.WaitGroup
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: target, ups: map[net.Conn]bool{}}
	var conns sync.Map
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			p.wg.Go(func() { p.serve(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(c, _ any) bool { c.(net.Conn).Close(); return true })
		p.closeUps()
		p.wg.Wait()
	})
	return p
}

func (p *stallProxy) addr() string { return p.ln.Addr().String() }

func (p *stallProxy) serve(c net.Conn) {
	defer c.Close()
	var up net.Conn
	if !p.stalled.Load() {
		var err error
		if up, err = (&net.Dialer{Timeout: time.Second}).DialContext(context.Background(), "tcp", p.target); err != nil {
			return
		}
		p.mu.Lock()
		p.ups[up] = true
		p.mu.Unlock()
		p.wg.Go(func() {
			_, _ = io.Copy(c, up)
			if !p.stalled.Load() {
				c.Close()
			}
		})
		_, _ = io.Copy(up, c)
		up.Close()
	}
	if p.stalled.Load() {
		_, _ = io.Copy(io.Discard, c) // swallow requests, answer nothing
	}
}

func (p *stallProxy) stall() {
	p.stalled.Store(true)
	p.closeUps()
}

func (p *stallProxy) resume() { p.stalled.Store(false) }

func (p *stallProxy) closeUps() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for up := range p.ups {
		up.Close()
		delete(p.ups, up)
	}
}
