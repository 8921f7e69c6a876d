package bench

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
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
	p := &s3Proxy{addr: l.Addr().String()}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		if delay > 0 {
			time.Sleep(delay)
		}
		rp.ServeHTTP(w, r)
	})}
	go p.srv.Serve(l)
	return p, nil
}

func (p *s3Proxy) close() { p.srv.Close() }
