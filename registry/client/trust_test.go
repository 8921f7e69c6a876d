package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	digest "github.com/opencontainers/go-digest"
)

// The tests of this file check what the client trusts from a server (see
// doc.go): the URLs an answer names lead only to the registry's origin, and
// the registry's credentials go nowhere else. A second loopback server on
// another port plays the other host.

// witness is a host the client must not be steered to: it records every
// request, challenges those without credentials (Basic, or Bearer with
// itself as the realm, per scheme) and answers the others with a listing,
// as an internal service would.
type witness struct {
	scheme string
	host   string

	mu  sync.Mutex
	got []string // "METHOD path Authorization=... body=..."
}

func startWitness(t *testing.T, scheme string) *witness {
	t.Helper()
	w := &witness{scheme: scheme}
	w.host = serve(t, w)
	return w
}

func (w *witness) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	w.got = append(w.got, fmt.Sprintf("%s %s Authorization=%q body=%q", r.Method, r.URL.Path, r.Header.Get("Authorization"), body))
	w.mu.Unlock()
	switch {
	case r.URL.Path == "/token":
		_, _ = rw.Write([]byte(`{"token":"witness-token"}`))
	case r.Header.Get("Authorization") == "" && w.scheme == "bearer":
		rw.Header().Set("WWW-Authenticate", `Bearer realm="http://`+w.host+`/token",service="witness"`)
		rw.WriteHeader(http.StatusUnauthorized)
	case r.Header.Get("Authorization") == "":
		rw.Header().Set("WWW-Authenticate", `Basic realm="witness"`)
		rw.WriteHeader(http.StatusUnauthorized)
	default:
		_, _ = rw.Write([]byte(`{"name":"a","tags":["internal"],"repositories":["internal"]}`))
	}
}

func (w *witness) requests() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.got...)
}

// basicRegistry serves h to requests with alice's password, and challenges
// Basic the others.
func basicRegistry(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "secret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h(w, r)
	}))
}

// TestLinkOffOriginRefused: a Link to a page on another host (or scheme) is
// an error naming it; the other host gets no request, so neither the
// credentials it would challenge for nor its answer in the listing.
func TestLinkOffOriginRefused(t *testing.T) {
	for _, scheme := range []string{"basic", "bearer"} {
		for _, list := range []string{"tags", "catalog"} {
			for _, target := range []string{"other host", "other scheme"} {
				t.Run(scheme+"/"+list+"/"+target, func(t *testing.T) {
					evil := startWitness(t, scheme)
					var reg string
					reg = basicRegistry(t, func(w http.ResponseWriter, r *http.Request) {
						next := "http://" + evil.host + r.URL.Path + "?last=t1"
						if target == "other scheme" {
							next = "https://" + reg + r.URL.Path + "?last=t1"
						}
						w.Header().Set("Link", "<"+next+`>; rel="next"`)
						_, _ = w.Write([]byte(`{"name":"a","tags":["t1"],"repositories":["a"]}`))
					})
					c := New(creds(reg, "alice", "secret"), fastRetry())
					var got []string
					var err error
					if list == "tags" {
						got, err = c.Tags(t.Context(), mustRef(t, reg+"/a"))
					} else {
						got, err = c.Catalog(t.Context(), reg)
					}
					if !errors.Is(err, ErrCrossOrigin) || got != nil {
						t.Errorf("listing = %q, %v; want ErrCrossOrigin", got, err)
					}
					if err != nil && target == "other host" && !strings.Contains(err.Error(), evil.host) {
						t.Errorf("error %q does not name the Link", err)
					}
					if reqs := evil.requests(); len(reqs) != 0 {
						t.Errorf("the other host got %d requests: %q", len(reqs), reqs)
					}
				})
			}
		}
	}
}

// TestUploadLocationOffOriginRefused: an upload Location on another host is
// refused wherever it comes (opening the upload, a chunk's answer, a
// declined mount whose upload is cancelled); the other host gets nothing:
// no blob, no credentials.
func TestUploadLocationOffOriginRefused(t *testing.T) {
	blob := []byte("ten bytes!")
	desc := blobDesc(blob, "")
	for _, tc := range []struct {
		name    string
		evilOn  string // the method whose answer names the other host
		mount   bool
		wantErr bool
	}{
		{name: "POST", evilOn: http.MethodPost, wantErr: true},
		{name: "PATCH", evilOn: http.MethodPatch, wantErr: true},
		{name: "declined mount", evilOn: http.MethodPost, mount: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, scheme := range []string{"basic", "bearer"} {
				evil := startWitness(t, scheme)
				reg := basicRegistry(t, func(w http.ResponseWriter, r *http.Request) {
					loc := "/v2/a/blobs/uploads/u1"
					if r.Method == tc.evilOn {
						loc = "http://" + evil.host + loc
					}
					switch r.Method {
					case http.MethodPost, http.MethodPatch:
						w.Header().Set("Location", loc)
						w.WriteHeader(http.StatusAccepted)
					case http.MethodDelete:
						w.WriteHeader(http.StatusNoContent)
					default:
						w.WriteHeader(http.StatusBadRequest)
					}
				})
				// The PATCH case uploads in chunks, the others in one piece.
				chunk := int64(len(blob))
				if tc.evilOn == http.MethodPatch {
					chunk--
				}
				c := New(creds(reg, "alice", "secret"), WithChunkSize(chunk), fastRetry())
				ref := mustRef(t, reg+"/a")
				var err error
				if tc.mount {
					var mounted bool
					mounted, err = c.BlobMount(t.Context(), ref, "b", desc.Digest)
					if mounted {
						t.Errorf("%s: mounted", scheme)
					}
				} else {
					err = c.BlobPut(t.Context(), ref, desc, strings.NewReader(string(blob)))
				}
				if tc.wantErr && !errors.Is(err, ErrCrossOrigin) {
					t.Errorf("%s: %v, want ErrCrossOrigin", scheme, err)
				}
				if !tc.wantErr && err != nil {
					t.Errorf("%s: %v", scheme, err)
				}
				if reqs := evil.requests(); len(reqs) != 0 {
					t.Errorf("%s: the other host got %d requests: %q", scheme, len(reqs), reqs)
				}
			}
		})
	}
}

// tlsServe serves h over TLS on loopback; all such servers share
// httptest's certificate, so the transport of one trusts them all.
func tlsServe(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// bearerOnly is a registry that answers GET /v2/ when it carries token and
// otherwise challenges Bearer with realm.
func bearerOnly(realm *string, token string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer "+token {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+*realm+`",service="registry"`)
		w.WriteHeader(http.StatusUnauthorized)
	}
}

// TestTokenRealm: a registry reached over HTTPS may send the credentials to
// an HTTPS realm on another host (auth.docker.io for Docker Hub), whose
// token it then accepts; it may not send them down to a plain HTTP realm,
// even a loopback one.
func TestTokenRealm(t *testing.T) {
	t.Run("https realm elsewhere", func(t *testing.T) {
		var mu sync.Mutex
		var users []string
		tokens := tlsServe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, p, _ := r.BasicAuth()
			mu.Lock()
			users = append(users, u+":"+p)
			mu.Unlock()
			_ = json.NewEncoder(w).Encode(map[string]string{"token": "tok-1"})
		}))
		realm := tokens.URL + "/token"
		reg := tlsServe(t, bearerOnly(&realm, "tok-1"))
		host := reg.Listener.Addr().String()
		c := New(WithHTTPS(host), WithTransport(reg.Client().Transport), creds(host, "alice", "secret"))
		if err := c.Ping(t.Context(), host); err != nil {
			t.Fatalf("Ping with an https realm on another host: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(users) != 1 || users[0] != "alice:secret" {
			t.Errorf("the realm got credentials %q, want alice's once", users)
		}
	})
	t.Run("http realm for an https registry", func(t *testing.T) {
		tokens := startWitness(t, "basic")
		realm := "http://" + tokens.host + "/token"
		reg := tlsServe(t, bearerOnly(&realm, "witness-token"))
		host := reg.Listener.Addr().String()
		c := New(WithHTTPS(host), WithTransport(reg.Client().Transport), creds(host, "alice", "secret"))
		if err := c.Ping(t.Context(), host); !errors.Is(err, ErrInsecure) {
			t.Errorf("Ping = %v, want ErrInsecure", err)
		}
		if reqs := tokens.requests(); len(reqs) != 0 {
			t.Errorf("the plain HTTP realm got %q", reqs)
		}
	})
}

// TestTokenRedirectOffOrigin: a token server that redirects to another
// host (here the same address on another port, which net/http counts as
// the same host) does not take the credentials along: a GET goes without
// its Authorization, and a POST grant's form is not replayed there.
func TestTokenRedirectOffOrigin(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cred    Credential
		secret  string
		wantErr error
		reached bool // the redirect is followed, without the credentials
	}{
		{name: "GET with a password", cred: Credential{Username: "alice", Password: "secret"}, secret: "Basic ", reached: true},
		{name: "POST refresh grant", cred: Credential{IdentityToken: "refresh-secret"}, secret: "refresh-secret", wantErr: ErrCrossOrigin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evil := startWitness(t, "basic")
			tokens := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://"+evil.host+"/token?"+r.URL.RawQuery, http.StatusTemporaryRedirect)
			}))
			realm := "http://" + tokens + "/token"
			reg := serve(t, bearerOnly(&realm, "witness-token"))
			c := New(WithCredentials(StaticCredentials{reg: tc.cred}), fastRetry())
			err := c.Ping(t.Context(), reg)
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("Ping = %v, want %v", err, tc.wantErr)
			}
			reqs := evil.requests()
			for _, r := range reqs {
				if strings.Contains(r, tc.secret) {
					t.Errorf("the other host got the credentials: %s", r)
				}
			}
			if tc.reached && len(reqs) == 0 {
				t.Error("the redirect was not followed: the test proves nothing")
			}
		})
	}
}

// TestRedirectDowngradeRefused: a registry reached over HTTPS cannot
// redirect a download to plain HTTP, not even on loopback.
func TestRedirectDowngradeRefused(t *testing.T) {
	storage := startWitness(t, "basic")
	reg := tlsServe(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+storage.host+"/blob", http.StatusTemporaryRedirect)
	}))
	host := reg.Listener.Addr().String()
	c := New(WithHTTPS(host), WithTransport(reg.Client().Transport))
	if _, _, err := c.BlobGet(t.Context(), mustRef(t, host+"/a"), digest.FromString("x"), 0); !errors.Is(err, ErrInsecure) {
		t.Errorf("redirect from https to loopback http: %v, want ErrInsecure", err)
	}
	if reqs := storage.requests(); len(reqs) != 0 {
		t.Errorf("the plain HTTP host got %q", reqs)
	}
}

// pager serves tags and catalog pages of per entries (of name + pad), each
// with a Link to the next, up to pages pages, and counts what it serves.
type pager struct {
	pagerShape

	mu     sync.Mutex
	served int
}

type pagerShape struct {
	per, pages int
	pad        string
}

func (p *pager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i, _ := strconv.Atoi(r.URL.Query().Get("last"))
	p.mu.Lock()
	p.served++
	p.mu.Unlock()
	entries := make([]string, p.per)
	for j := range entries {
		entries[j] = fmt.Sprintf("e%d-%d%s", i, j, p.pad)
	}
	if i+1 < p.pages {
		w.Header().Set("Link", fmt.Sprintf(`<%s?last=%d>; rel="next"`, r.URL.Path, i+1))
	}
	_ = json.NewEncoder(w).Encode(map[string][]string{"tags": entries, "repositories": entries})
}

func (p *pager) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.served
}

// TestListLimits: a listing is bounded in entries and bytes across all its
// pages, by default and as WithListLimits says, and stops paging there.
func TestListLimits(t *testing.T) {
	for _, tc := range []struct {
		name      string
		p         pagerShape
		opt       Option
		want      int // entries, when the listing fits
		maxServed int // pages, when it does not
	}{
		{name: "default entries", p: pagerShape{per: 1000, pages: 150}, maxServed: DefaultMaxListEntries/1000 + 1},
		{name: "entries", p: pagerShape{per: 10, pages: 1000}, opt: WithListLimits(500, 0), maxServed: 51},
		{name: "bytes", p: pagerShape{per: 10, pages: 1000, pad: strings.Repeat("x", 90)}, opt: WithListLimits(0, 64<<10), maxServed: 64<<10/(10*100) + 1},
		{name: "within", p: pagerShape{per: 10, pages: 50}, opt: WithListLimits(500, 0), want: 500},
	} {
		for _, list := range []string{"tags", "catalog"} {
			t.Run(tc.name+"/"+list, func(t *testing.T) {
				p := &pager{pagerShape: tc.p}
				reg := serve(t, p)
				opts := []Option{fastRetry()}
				if tc.opt != nil {
					opts = append(opts, tc.opt)
				}
				c := New(opts...)
				var got []string
				var err error
				if list == "tags" {
					got, err = c.Tags(t.Context(), mustRef(t, reg+"/a"))
				} else {
					got, err = c.Catalog(t.Context(), reg)
				}
				if tc.want > 0 {
					if err != nil || len(got) != tc.want {
						t.Errorf("listing: %d entries, %v; want %d", len(got), err, tc.want)
					}
					return
				}
				if !errors.Is(err, ErrTooLarge) || got != nil {
					t.Errorf("listing: %d entries, %v; want ErrTooLarge", len(got), err)
				}
				if n := p.count(); n > tc.maxServed {
					t.Errorf("the client read %d pages, want at most %d", n, tc.maxServed)
				}
			})
		}
	}
}

func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"http://reg:5000/v2/a", "http://reg:5000/v2/b?last=x", true},
		{"https://Reg.Example.com/v2/", "https://reg.example.com:443/x", true},
		{"http://reg/v2/", "http://reg:80/v2/", true},
		{"http://[::1]:5000/v2/", "http://[::1]:5000/x", true},
		{"http://reg:5000/", "https://reg:5000/", false},
		{"http://127.0.0.1:5000/", "http://127.0.0.1:5001/", false},
		{"http://127.0.0.1:5000/", "http://localhost:5000/", false},
		{"https://reg.example.com/", "https://evil.reg.example.com/", false},
		{"https://reg.example.com/", "https://reg.example.com:8443/", false},
	} {
		a, _ := url.Parse(tc.a)
		b, _ := url.Parse(tc.b)
		if got := sameOrigin(a, b); got != tc.same {
			t.Errorf("sameOrigin(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}
