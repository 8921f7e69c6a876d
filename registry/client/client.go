package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
	c := &Client{
		insecure:  make(map[string]bool),
		https:     make(map[string]bool),
		chunkSize: cfg.chunkSize,
		pageSize:  cfg.pageSize,
		retry:     cfg.retry,
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

// checkRedirect follows at most 10 redirects and never from HTTPS down to
// plain HTTP on a host that is not allowed it (blob redirects to storage
// are common; downgrades are not legitimate).
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if via[0].URL.Scheme == "https" && req.URL.Scheme == "http" && !c.plainHTTP(req.URL.Host) {
		return fmt.Errorf("redirect to %s: %w", redactURL(req.URL.String()), ErrInsecure)
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

// request builds a request whose context carries what the auth transport
// needs: the registry (for credentials) and the token scopes it wants.
func (c *Client) request(ctx context.Context, method string, u *url.URL, body io.Reader, registry string, scopes ...string) (*http.Request, error) {
	ctx = withScope(ctx, registry, u.Host, scopes)
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
		ErrInsecure, ErrDigestMismatch, ErrTooLarge} {
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

// resolve turns a Location (absolute or relative) into a URL against the
// request that returned it.
func resolve(resp *http.Response, loc string) (*url.URL, error) {
	if loc == "" {
		return nil, fmt.Errorf("%s %s: %d without a Location", resp.Request.Method, redactURL(resp.Request.URL.String()), resp.StatusCode)
	}
	u, err := resp.Request.URL.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("Location %q: %w", loc, err)
	}
	return u, nil
}
