package s3test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	berths3 "github.com/berth-registry/berth/storagedriver/s3"
)

// NewProxiedDriver returns a driver on a fresh root of the shared server
// (NewRoot) whose requests pass a proxy that first calls see: a request
// see answered itself (true) does not reach S3. direct is a driver on the
// same root that does not pass the proxy.
func NewProxiedDriver(t testing.TB, see func(http.ResponseWriter, *http.Request) bool) (proxied, direct *berths3.Driver) {
	t.Helper()
	srv, root := NewRoot(t)
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !see(w, r) {
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(proxy.Close)
	p := srv.Params(Bucket, root)
	if direct, err = berths3.New(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	p.RegionEndpoint = proxy.URL
	if proxied, err = berths3.New(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	return proxied, direct
}
