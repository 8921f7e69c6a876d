package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Client speaks the OCI distribution protocol to any number of registries.
// It is safe for concurrent use; its token cache is shared by all calls.
type Client struct {
	hc        *http.Client
	insecure  map[string]bool
	https     map[string]bool
	chunkSize int64
	pageSize  int
	retry     RetryPolicy
	// listEntries and listBytes bound a whole listing (every page of tags,
	// catalog or referrers together).
	listEntries int
	listBytes   int64
}

// Option configures a Client.
type Option func(*config)

type config struct {
	creds     CredentialStore
	insecure  []string
	https     []string
	base      http.RoundTripper
	userAgent string
	retry     RetryPolicy
	chunkSize int64
	pageSize  int

	listEntries int
	listBytes   int64
}

// DefaultChunkSize is the blob size above which BlobPut uploads in chunks,
// and the size of each chunk.
const DefaultChunkSize = 16 << 20

// DefaultUserAgent is sent unless WithUserAgent says otherwise.
const DefaultUserAgent = "berth-client/1"

// WithCredentials sets where credentials come from (none by default:
// anonymous access).
func WithCredentials(s CredentialStore) Option { return func(c *config) { c.creds = s } }

// WithInsecure allows plain HTTP to the given registries ("host" or
// "host:port"; a bare host matches every port). Loopback hosts are always
// allowed; every other host is spoken to over HTTPS only, with no fallback.
func WithInsecure(hosts ...string) Option {
	return func(c *config) { c.insecure = append(c.insecure, hosts...) }
}

// WithHTTPS makes the client speak HTTPS to the given loopback registries
// (a TLS registry on localhost), which otherwise get plain HTTP.
func WithHTTPS(hosts ...string) Option {
	return func(c *config) { c.https = append(c.https, hosts...) }
}

// WithTransport sets the transport under the client's decorators (e.g. one
// with custom TLS roots). The default is a clone of http.DefaultTransport.
func WithTransport(rt http.RoundTripper) Option { return func(c *config) { c.base = rt } }

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option { return func(c *config) { c.userAgent = ua } }

// WithRetry sets how failed idempotent requests are retried.
func WithRetry(p RetryPolicy) Option { return func(c *config) { c.retry = p } }

// WithChunkSize sets the blob size above which BlobPut uploads in chunks,
// and the chunk size (the registry's OCI-Chunk-Min-Length may raise it).
func WithChunkSize(n int64) Option { return func(c *config) { c.chunkSize = n } }

// DefaultMaxListEntries and DefaultMaxListBytes bound a listing (tags,
// catalog, referrers) across all its pages unless WithListLimits says
// otherwise: a registry whose Link headers never end must not fill the
// client's memory, whatever its page count.
const (
	DefaultMaxListEntries = 100_000
	DefaultMaxListBytes   = 64 << 20
)

// WithListLimits bounds a listing (tags, catalog, referrers) to entries
// entries and bytes bytes of JSON across all its pages; past either, the
// listing fails with ErrTooLarge. 0 (or less) keeps the default of that
// bound.
func WithListLimits(entries int, bytes int64) Option {
	return func(c *config) { c.listEntries, c.listBytes = entries, bytes }
}

// WithPageSize asks list endpoints (tags, catalog) for pages of n entries;
// 0 leaves the page size to the registry. Pages are followed either way.
func WithPageSize(n int) Option { return func(c *config) { c.pageSize = n } }

// New builds a Client. Its transport is a stack of decorators: auth
// (challenges, tokens, basic) over user agent over retry over the base
// transport; token requests go through user agent and retry.
func New(opts ...Option) *Client {
	cfg := config{userAgent: DefaultUserAgent, retry: DefaultRetryPolicy(), chunkSize: DefaultChunkSize}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.base == nil {
		cfg.base = http.DefaultTransport
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			cfg.base = t.Clone() // our own connection pool
		}
	}
	if cfg.chunkSize <= 0 {
		cfg.chunkSize = DefaultChunkSize
	}
	if cfg.creds == nil {
		cfg.creds = StaticCredentials(nil)
	}
	if cfg.listEntries <= 0 {
		cfg.listEntries = DefaultMaxListEntries
	}
	if cfg.listBytes <= 0 {
		cfg.listBytes = DefaultMaxListBytes
	}
	c := &Client{
		insecure:    make(map[string]bool),
		https:       make(map[string]bool),
		chunkSize:   cfg.chunkSize,
		pageSize:    cfg.pageSize,
		retry:       cfg.retry,
		listEntries: cfg.listEntries,
		listBytes:   cfg.listBytes,
	}
	for _, h := range cfg.insecure {
		c.insecure[h] = true
	}
	for _, h := range cfg.https {
		c.https[h] = true
	}
	under := &userAgentTransport{next: &retryTransport{next: cfg.base, policy: cfg.retry}, agent: cfg.userAgent}
	auth := newAuthTransport(under, &http.Client{Transport: under, CheckRedirect: c.checkRedirect}, cfg.creds, c.plainHTTP)
	c.hc = &http.Client{Transport: auth, CheckRedirect: c.checkRedirect}
	return c
}

// plainHTTP reports whether host may be spoken to over plain HTTP.
func (c *Client) plainHTTP(host string) bool {
	if c.https[host] || c.https[hostname(host)] {
		return false
	}
	return isLoopback(host) || c.insecure[host] || c.insecure[hostname(host)]
}

// checkRedirect decides on a redirect the registry (or a token server)
// answered. Redirects may lead to other hosts (blobs to S3 or a CDN,
// registry.k8s.io to its backends), so they are followed, at most 10 deep,
// but never from HTTPS down to plain HTTP, and what belongs to the first
// request's origin stays there: its Authorization header is dropped (net/http
// keeps it for the same host name on another port or scheme, and for
// subdomains), and a body (an upload, a token request's password form) is not
// sent again elsewhere by a 307 or 308. The auth transport adds credentials
// only to requests at the registry's origin, so a redirect elsewhere goes
// without them.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if req.URL.Scheme == "http" {
		for _, prev := range via {
			if prev.URL.Scheme == "https" {
				return fmt.Errorf("redirect from %s to %s: %w", redactURL(prev.URL.String()), redactURL(req.URL.String()), ErrInsecure)
			}
		}
	}
	if !sameOrigin(req.URL, via[0].URL) {
		req.Header.Del("Authorization")
		if req.Body != nil && req.Body != http.NoBody {
			return fmt.Errorf("%s redirected with its body to %s: %w", req.Method, redactURL(req.URL.String()), ErrCrossOrigin)
		}
	}
	return nil
}

// url builds the API URL of registry for path (which starts with /v2/).
func (c *Client) url(registry, path string, query url.Values) *url.URL {
	host := APIHost(registry)
	u := &url.URL{Scheme: "https", Host: host, Path: path}
	if c.plainHTTP(host) || c.plainHTTP(registry) {
		u.Scheme = "http"
	}
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	return u
}

// repoURL builds the URL of path under ref's repository, e.g. "/manifests/x".
func (c *Client) repoURL(ref Reference, path string, query url.Values) *url.URL {
	return c.url(ref.Registry, "/v2/"+ref.Repository+path, query)
}

// origin is where the client speaks to registry: the scheme and host of
// its API. Credentials and tokens for registry go there only, and every
// request made for registry goes there, including those to a URL the
// registry handed back (a Link, an upload Location).
func (c *Client) origin(registry string) *url.URL { return c.url(registry, "", nil) }

// checkOrigin refuses u unless it is at registry's origin.
func (c *Client) checkOrigin(registry string, u *url.URL) error {
	if o := c.origin(registry); !sameOrigin(u, o) {
		return fmt.Errorf("%s is not on registry %s (%s://%s): %w",
			redactURL(u.String()), registry, o.Scheme, o.Host, ErrCrossOrigin)
	}
	return nil
}

// sameOrigin reports whether a and b have the same scheme, host and port
// (a default port written out or not, the host in any case).
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && hostPort(a) == hostPort(b)
}

// hostPort is u's host in lower case with its port, the scheme's default
// when u names none.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch strings.ToLower(u.Scheme) {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	return net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// request builds a request for registry whose context carries what the
// auth transport needs: the registry (for credentials), its origin (the
// only place they go) and the token scopes it wants. A URL off the
// registry's origin is refused: callers check the URLs a server hands back
// with follow, this is the backstop.
func (c *Client) request(ctx context.Context, method string, u *url.URL, body io.Reader, registry string, scopes ...string) (*http.Request, error) {
	if err := c.checkOrigin(registry, u); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	ctx = withScope(ctx, registry, c.origin(registry), scopes)
	return http.NewRequestWithContext(ctx, method, u.String(), body)
}

// do sends req. A transport failure becomes ErrUnavailable (unless it is
// already classified, e.g. a token server's refusal, or the context ended).
func (c *Client) do(req *http.Request) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err == nil {
		return resp, nil
	}
	if ctxErr := req.Context().Err(); ctxErr != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, redactURL(req.URL.String()), ctxErr)
	}
	var src *sourceError
	if errors.As(err, &src) {
		return nil, err
	}
	for _, class := range []error{ErrUnauthorized, ErrDenied, ErrNotFound, ErrUnavailable, ErrUnsupported,
		ErrInsecure, ErrCrossOrigin, ErrDigestMismatch, ErrTooLarge} {
		if errors.Is(err, class) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// expect sends req and returns the answer when its status is one of want;
// any other answer becomes a *ResponseError.
func (c *Client) expect(req *http.Request, want ...int) (*http.Response, error) {
	resp, err := c.do(req)
	if err != nil {
		return nil, err
	}
	for _, s := range want {
		if resp.StatusCode == s {
			return resp, nil
		}
	}
	return nil, responseError(resp)
}

// maxJSON bounds list answers (tags, catalog, referrers pages).
const maxJSON = 16 << 20

// readCapped reads r whole, failing with ErrTooLarge past limit bytes.
func readCapped(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("more than %d bytes: %w", limit, ErrTooLarge)
	}
	return b, nil
}

// follow turns target, a URL that the registry handed back in a header of
// resp (what: "Location", "Link"; absolute or relative), into a URL against
// the request that brought it, and refuses one off registry's origin: a
// server must not steer the client, with the registry's credentials, to
// another host (an internal one, say) nor have that host's answer taken for
// the registry's.
func (c *Client) follow(resp *http.Response, registry, what, target string) (*url.URL, error) {
	if target == "" {
		return nil, fmt.Errorf("%s %s: %d without a %s", resp.Request.Method, redactURL(resp.Request.URL.String()), resp.StatusCode, what)
	}
	u, err := resp.Request.URL.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", what, redactURL(target), err)
	}
	if err := c.checkOrigin(registry, u); err != nil {
		return nil, fmt.Errorf("%s %s: %s: %w", resp.Request.Method, redactURL(resp.Request.URL.String()), what, err)
	}
	return u, nil
}
