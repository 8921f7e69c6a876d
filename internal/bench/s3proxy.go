package bench

import (
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// s3Proxy stands between one registry and versitygw: it counts the S3
// requests the registry sends and, when delay is set, holds each one that
// long before passing it on, as a distant S3 would. The Host header is
// passed unchanged, so request signatures still verify.
type s3Proxy struct {
	addr     string
	requests atomic.Int64
	srv      *http.Server

	mu     sync.Mutex
	byKind map[string]int64 // requests by s3Kind
}

func startS3Proxy(endpoint string, delay time.Duration) (*s3Proxy, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: 90 * time.Second}
	rp.FlushInterval = -1
	p := &s3Proxy{addr: l.Addr().String(), byKind: map[string]int64{}}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		k := s3Kind(r)
		p.mu.Lock()
		p.byKind[k]++
		p.mu.Unlock()
		if delay > 0 {
			time.Sleep(delay)
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = p.srv.Serve(l) }()
	return p, nil
}

func (p *s3Proxy) close() { p.srv.Close() }

// kinds returns a copy of the counts by kind.
func (p *s3Proxy) kinds() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.byKind)
}

// s3Kind names the S3 operation of a request (path-style addressing):
// get, head, put, copy, list, delete, and the multipart steps.
func s3Kind(r *http.Request) string {
	q := r.URL.Query()
	has := func(k string) bool { _, ok := q[k]; return ok }
	bucketOnly := strings.Count(strings.Trim(r.URL.Path, "/"), "/") == 0
	switch r.Method {
	case http.MethodPut:
		switch {
		case r.Header.Get("X-Amz-Copy-Source") != "" && has("partNumber"):
			return "copy-part"
		case r.Header.Get("X-Amz-Copy-Source") != "":
			return "copy"
		case has("partNumber"):
			return "put-part"
		}
		return "put"
	case http.MethodPost:
		switch {
		case has("uploads"):
			return "create-multipart"
		case has("uploadId"):
			return "complete-multipart"
		case has("delete"):
			return "delete-objects"
		}
		return "post"
	case http.MethodGet:
		switch {
		case has("uploadId"):
			return "list-parts"
		case has("uploads"):
			return "list-multipart"
		case bucketOnly:
			return "list"
		}
		return "get"
	case http.MethodHead:
		return "head"
	case http.MethodDelete:
		if has("uploadId") {
			return "abort-multipart"
		}
		return "delete"
	}
	return strings.ToLower(r.Method)
}
