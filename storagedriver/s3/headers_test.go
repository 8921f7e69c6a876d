package s3_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/storagedriver/s3"
)

// recorder is a reverse proxy in front of versitygw that keeps the headers
// of every request.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (r *recorder) seen(method string, pred func(*http.Request) bool) []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*http.Request
	for _, q := range r.reqs {
		if q.Method == method && pred(q) {
			out = append(out, q)
		}
	}
	return out
}

// TestDistributionHeaders proves storage.s3.useragent, objectacl and
// sessiontoken reach S3: every request carries the user agent (its "/"
// kept), every object write the ACL, and versitygw stores the objects; a
// session token is sent, and versitygw, which issues none, refuses it.
func TestDistributionHeaders(t *testing.T) {
	srv := s3test.Shared(t)
	target, _ := url.Parse(srv.Endpoint)
	rec := &recorder{}
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, r.Clone(r.Context()))
		rec.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	p := srv.Params(s3test.Bucket, "headers-"+strings.ReplaceAll(t.Name(), "/", "-"))
	p.RegionEndpoint = proxy.URL
	p.UserAgent = "berth-test-agent/1"
	p.ObjectACL = "bucket-owner-full-control"

	withToken := p
	withToken.SessionToken = "session-token-1"
	if _, err := s3.New(t.Context(), withToken); err == nil || !strings.Contains(err.Error(), "InvalidToken") {
		t.Errorf("New with a session token versitygw never issued: %v, want InvalidToken", err)
	}
	sent := rec.seen("GET", func(*http.Request) bool { return true })
	if len(sent) == 0 {
		t.Error("New with a session token sent no GET through the proxy")
	}
	for _, q := range sent {
		if tok := q.Header.Get("X-Amz-Security-Token"); tok != "session-token-1" {
			t.Errorf("%s %s: X-Amz-Security-Token %q, want storage.s3.sessiontoken", q.Method, q.URL.Path, tok)
		}
	}
	rec.mu.Lock()
	rec.reqs = nil
	rec.mu.Unlock()

	d, err := s3.New(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("x"), 100)
	if err := d.PutContent(t.Context(), "/a/b", content); err != nil {
		t.Fatal(err)
	}
	if got, err := d.GetContent(t.Context(), "/a/b"); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("GetContent: %d bytes, %v", len(got), err)
	}
	for _, m := range []string{"HEAD", "GET", "PUT"} {
		for _, q := range rec.seen(m, func(*http.Request) bool { return true }) {
			if !strings.Contains(q.Header.Get("User-Agent"), " berth-test-agent/1") {
				t.Errorf("%s %s: User-Agent %q lacks storage.s3.useragent", q.Method, q.URL.Path, q.Header.Get("User-Agent"))
			}
		}
	}
	puts := rec.seen("PUT", func(q *http.Request) bool { return strings.HasSuffix(q.URL.Path, "/a/b") })
	if len(puts) == 0 {
		t.Fatal("no PUT of the object went through the proxy")
	}
	for _, q := range puts {
		if acl := q.Header.Get("X-Amz-Acl"); acl != "bucket-owner-full-control" {
			t.Errorf("PUT %s: x-amz-acl %q, want bucket-owner-full-control", q.URL.Path, acl)
		}
	}
}
