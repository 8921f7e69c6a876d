package conformance_test

// A small client for the OCI distribution wire protocol, written with plain
// net/http so that it depends on neither registry under test. Every method
// returns an error that names the request, the status and the body, so that a
// failed assertion says what the server answered.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// dcAcceptManifests is the Accept header of a client that understands every
// manifest type (Distribution answers 404 for an OCI manifest otherwise).
const dcAcceptManifests = v1.MediaTypeImageManifest + ", " + v1.MediaTypeImageIndex + ", " +
	"application/vnd.docker.distribution.manifest.v2+json, " +
	"application/vnd.docker.distribution.manifest.list.v2+json"

// dcClient talks to one registry at base, e.g. "http://127.0.0.1:4000".
type dcClient struct {
	base *url.URL
	hc   *http.Client
}

func newDCClient(base string, hc *http.Client) (*dcClient, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	return &dcClient{base: u, hc: hc}, nil
}

// dcReply is what one request answered, body read whole (test data is small).
type dcReply struct {
	Method, URL string
	Status      int
	Header      http.Header
	Body        []byte
}

// dcStatusError is an answer other than the one expected.
type dcStatusError struct {
	Reply *dcReply
	Want  []int
}

func (e *dcStatusError) Error() string {
	r := e.Reply
	body := r.Body
	if len(body) > 512 {
		body = append(body[:512:512], "..."...)
	}
	return fmt.Sprintf("%s %s: status %d, want %v; body %q", r.Method, r.URL, r.Status, e.Want, body)
}

// expect returns a *dcStatusError unless the reply's status is one of want.
func (r *dcReply) expect(want ...int) error {
	if slices.Contains(want, r.Status) {
		return nil
	}
	return &dcStatusError{Reply: r, Want: want}
}

// resolve turns a path ("/v2/...") or a Location header, relative or
// absolute, into a URL on this registry.
func (c *dcClient) resolve(ref string) (*url.URL, error) {
	u, err := url.Parse(ref)
	if err != nil {
		return nil, fmt.Errorf("bad URL %q: %w", ref, err)
	}
	return c.base.ResolveReference(u), nil
}

// do sends one request. size is the body length (-1 when body is nil).
func (c *dcClient) do(ctx context.Context, method string, u *url.URL, hdr http.Header, body io.Reader, size int64) (*dcReply, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if body != nil {
		req.ContentLength = size
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading body: %w", method, u, err)
	}
	return &dcReply{Method: method, URL: u.String(), Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

func (c *dcClient) doPath(ctx context.Context, method, path string, hdr http.Header) (*dcReply, error) {
	u, err := c.resolve(path)
	if err != nil {
		return nil, err
	}
	return c.do(ctx, method, u, hdr, nil, -1)
}

// location is the upload URL a POST or PATCH answered.
func (c *dcClient) location(r *dcReply) (*url.URL, error) {
	loc := r.Header.Get("Location")
	if loc == "" {
		return nil, fmt.Errorf("%s %s: status %d without Location", r.Method, r.URL, r.Status)
	}
	return c.resolve(loc)
}

// dcWithDigest adds ?digest= to an upload URL, keeping its own query (the
// upload state Distribution keeps there).
func dcWithDigest(u *url.URL, d digest.Digest) *url.URL {
	v := *u
	q := v.Query()
	q.Set("digest", d.String())
	v.RawQuery = q.Encode()
	return &v
}

var dcOctetStream = http.Header{"Content-Type": {"application/octet-stream"}}

// StartUpload opens an upload session: POST /v2/<repo>/blobs/uploads/ → 202.
func (c *dcClient) StartUpload(ctx context.Context, repo string) (*url.URL, error) {
	r, err := c.doPath(ctx, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil)
	if err != nil {
		return nil, err
	}
	if err := r.expect(http.StatusAccepted); err != nil {
		return nil, err
	}
	return c.location(r)
}

// finish closes an upload with PUT ?digest= and its remaining body, and
// checks the 201 and its Docker-Content-Digest.
func (c *dcClient) finish(ctx context.Context, loc *url.URL, d digest.Digest, body []byte) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	r, err := c.do(ctx, http.MethodPut, dcWithDigest(loc, d), dcOctetStream, rd, int64(len(body)))
	if err != nil {
		return err
	}
	if err := r.expect(http.StatusCreated); err != nil {
		return err
	}
	if got := r.Header.Get("Docker-Content-Digest"); got != d.String() {
		return fmt.Errorf("PUT %s: Docker-Content-Digest %q, want %q", r.URL, got, d)
	}
	return nil
}

// PushBlobPut uploads data monolithically: POST, then PUT ?digest= with the
// whole body.
func (c *dcClient) PushBlobPut(ctx context.Context, repo string, data []byte) error {
	loc, err := c.StartUpload(ctx, repo)
	if err != nil {
		return err
	}
	return c.finish(ctx, loc, digest.FromBytes(data), data)
}

// PushBlobPost uploads data in a single POST ?digest=. The spec lets a
// registry decline that with 202 and an upload URL; the client then PUTs the
// data there. It reports whether the registry took the single POST.
func (c *dcClient) PushBlobPost(ctx context.Context, repo string, data []byte) (single bool, err error) {
	d := digest.FromBytes(data)
	u, err := c.resolve("/v2/" + repo + "/blobs/uploads/?digest=" + url.QueryEscape(d.String()))
	if err != nil {
		return false, err
	}
	r, err := c.do(ctx, http.MethodPost, u, dcOctetStream, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return false, err
	}
	if err := r.expect(http.StatusCreated, http.StatusAccepted); err != nil {
		return false, err
	}
	if r.Status == http.StatusCreated {
		if got := r.Header.Get("Docker-Content-Digest"); got != d.String() {
			return true, fmt.Errorf("POST %s: Docker-Content-Digest %q, want %q", r.URL, got, d)
		}
		return true, nil
	}
	loc, err := c.location(r)
	if err != nil {
		return false, err
	}
	return false, c.finish(ctx, loc, d, data)
}

// PushBlobChunked uploads data with one PATCH per chunk (Content-Range
// "start-end", as the spec writes it), checks the Range each PATCH answers,
// and closes with an empty PUT ?digest=.
func (c *dcClient) PushBlobChunked(ctx context.Context, repo string, data []byte, chunk int) error {
	loc, err := c.StartUpload(ctx, repo)
	if err != nil {
		return err
	}
	for off := 0; off < len(data); off += chunk {
		end := min(off+chunk, len(data))
		hdr := http.Header{
			"Content-Type":  {"application/octet-stream"},
			"Content-Range": {fmt.Sprintf("%d-%d", off, end-1)},
		}
		r, err := c.do(ctx, http.MethodPatch, loc, hdr, bytes.NewReader(data[off:end]), int64(end-off))
		if err != nil {
			return err
		}
		if err := r.expect(http.StatusAccepted); err != nil {
			return err
		}
		if got, want := r.Header.Get("Range"), fmt.Sprintf("0-%d", end-1); got != want {
			return fmt.Errorf("PATCH %s: Range %q, want %q", r.URL, got, want)
		}
		if loc, err = c.location(r); err != nil {
			return err
		}
	}
	return c.finish(ctx, loc, digest.FromBytes(data), nil)
}

// MountBlob links d from repository from into repo: POST ?mount=&from= → 201.
func (c *dcClient) MountBlob(ctx context.Context, repo, from string, d digest.Digest) error {
	q := url.Values{"mount": {d.String()}, "from": {from}}
	r, err := c.doPath(ctx, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	return r.expect(http.StatusCreated)
}

// PutManifest stores body under ref (a tag or its digest) with Content-Type
// mediaType and checks the 201 and its Docker-Content-Digest.
func (c *dcClient) PutManifest(ctx context.Context, repo, ref, mediaType string, body []byte) (*dcReply, error) {
	u, err := c.resolve("/v2/" + repo + "/manifests/" + ref)
	if err != nil {
		return nil, err
	}
	hdr := http.Header{"Content-Type": {mediaType}}
	r, err := c.do(ctx, http.MethodPut, u, hdr, bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return nil, err
	}
	if err := r.expect(http.StatusCreated); err != nil {
		return r, err
	}
	if got, want := r.Header.Get("Docker-Content-Digest"), digest.FromBytes(body).String(); got != want {
		return r, fmt.Errorf("PUT %s: Docker-Content-Digest %q, want %q", r.URL, got, want)
	}
	return r, nil
}

// Manifest answers GET or HEAD of a manifest, accepting every manifest type.
func (c *dcClient) Manifest(ctx context.Context, method, repo, ref string) (*dcReply, error) {
	return c.doPath(ctx, method, "/v2/"+repo+"/manifests/"+ref, http.Header{"Accept": {dcAcceptManifests}})
}

// Blob answers GET or HEAD of a blob; rng, when set, is a Range header.
func (c *dcClient) Blob(ctx context.Context, method, repo string, d digest.Digest, rng string) (*dcReply, error) {
	var hdr http.Header
	if rng != "" {
		hdr = http.Header{"Range": {rng}}
	}
	return c.doPath(ctx, method, "/v2/"+repo+"/blobs/"+d.String(), hdr)
}

// getJSON GETs path, expects 200 and decodes the body into v.
func (c *dcClient) getJSON(ctx context.Context, path string, v any) (*dcReply, error) {
	r, err := c.doPath(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	if err := r.expect(http.StatusOK); err != nil {
		return r, err
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		return r, fmt.Errorf("GET %s: %w; body %q", r.URL, err, r.Body)
	}
	return r, nil
}

// Tags lists the tags of repo (one page of at most n; n ≤ 0 means the
// registry's default page).
func (c *dcClient) Tags(ctx context.Context, repo string, n int) ([]string, error) {
	path := "/v2/" + repo + "/tags/list"
	if n > 0 {
		path += "?n=" + strconv.Itoa(n)
	}
	var page struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}
	if _, err := c.getJSON(ctx, path, &page); err != nil {
		return nil, err
	}
	if page.Name != repo {
		return page.Tags, fmt.Errorf("GET %s: name %q, want %q", path, page.Name, repo)
	}
	return page.Tags, nil
}

// Catalog lists the repositories (one page of at most n, as Tags).
func (c *dcClient) Catalog(ctx context.Context, n int) ([]string, error) {
	path := "/v2/_catalog"
	if n > 0 {
		path += "?n=" + strconv.Itoa(n)
	}
	var page struct {
		Repositories []string `json:"repositories"`
	}
	_, err := c.getJSON(ctx, path, &page)
	return page.Repositories, err
}

// Referrers lists the manifests whose subject is d, optionally filtered by
// artifactType; the reply carries the headers (OCI-Filters-Applied).
func (c *dcClient) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) (v1.Index, *dcReply, error) {
	path := "/v2/" + repo + "/referrers/" + d.String()
	if artifactType != "" {
		path += "?artifactType=" + url.QueryEscape(artifactType)
	}
	var idx v1.Index
	r, err := c.getJSON(ctx, path, &idx)
	if err != nil {
		return idx, r, err
	}
	if ct := r.Header.Get("Content-Type"); ct != v1.MediaTypeImageIndex {
		return idx, r, fmt.Errorf("GET %s: Content-Type %q, want %q", r.URL, ct, v1.MediaTypeImageIndex)
	}
	return idx, r, nil
}

// Ping checks GET /v2/ → 200.
func (c *dcClient) Ping(ctx context.Context) error {
	r, err := c.doPath(ctx, http.MethodGet, "/v2/", nil)
	if err != nil {
		return err
	}
	return r.expect(http.StatusOK)
}
