package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
)

// ociManifest is the media type of every manifest the benchmark pushes.
const ociManifest = "application/vnd.oci.image.manifest.v1+json"

// client speaks the distribution API to one registry: the same code for
// Berth, Distribution and the ceiling.
type client struct {
	base *url.URL
	hc   *http.Client
	sent atomic.Int64 // requests sent
}

func newClient(addr string) *client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		// A server that hangs fails its request rather than the
		// benchmark's time budget; the slowest answer of a full run (a
		// 1 GiB push's 201, a catalog page) comes within seconds.
		ResponseHeaderTimeout: 2 * time.Minute,
		DisableCompression:    true,
		WriteBufferSize:       256 << 10,
		ReadBufferSize:        256 << 10,
	}
	return &client{base: &url.URL{Scheme: "http", Host: addr}, hc: &http.Client{Transport: tr}}
}

func (c *client) close() { c.hc.CloseIdleConnections() }

// do sends a request to path (or an absolute URL) and checks its status,
// returning the response with its body still open.
func (c *client) do(method, path string, hdr http.Header, body io.Reader, size int64, want int) (*http.Response, error) {
	u, err := c.base.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req, err := http.NewRequest(method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	c.sent.Add(1)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %s, want %d: %s", method, u.Path, resp.Status, want, bytes.TrimSpace(msg))
	}
	return resp, nil
}

// call is do for a response whose body is not needed.
func (c *client) call(method, path string, hdr http.Header, body io.Reader, size int64, want int) (http.Header, error) {
	resp, err := c.do(method, path, hdr, body, size, want)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Header, nil
}

// withDigest adds ?digest= to an upload's Location.
func withDigest(loc string, d digest.Digest) (string, error) {
	u, err := url.Parse(loc)
	if err != nil {
		return "", fmt.Errorf("upload location %q: %w", loc, err)
	}
	q := u.Query()
	q.Set("digest", d.String())
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func (c *client) startUpload(repo string) (string, error) {
	h, err := c.call(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil, 0, http.StatusAccepted)
	if err != nil {
		return "", err
	}
	loc := h.Get("Location")
	if loc == "" {
		return "", fmt.Errorf("POST /v2/%s/blobs/uploads/: no Location", repo)
	}
	return loc, nil
}

var octets = http.Header{"Content-Type": {"application/octet-stream"}}

// pushMonolithic uploads a blob in one PUT after the POST that opens it.
func (c *client) pushMonolithic(repo string, d digest.Digest, size int64, body io.Reader) error {
	loc, err := c.startUpload(repo)
	if err != nil {
		return err
	}
	if loc, err = withDigest(loc, d); err != nil {
		return err
	}
	_, err = c.call(http.MethodPut, loc, octets, body, size, http.StatusCreated)
	return err
}

// pushChunked uploads b in PATCHes of chunk bytes, then closes the upload
// with an empty PUT.
func (c *client) pushChunked(repo string, b *content, chunk int64) error {
	loc, err := c.startUpload(repo)
	if err != nil {
		return err
	}
	for off := int64(0); off < b.size; off += chunk {
		n := min(chunk, b.size-off)
		hdr := http.Header{
			"Content-Type":  {"application/octet-stream"},
			"Content-Range": {fmt.Sprintf("%d-%d", off, off+n-1)},
		}
		h, err := c.call(http.MethodPatch, loc, hdr, io.NewSectionReader(b, off, n), n, http.StatusAccepted)
		if err != nil {
			return err
		}
		if loc = h.Get("Location"); loc == "" {
			return fmt.Errorf("PATCH /v2/%s/blobs/uploads/: no Location", repo)
		}
	}
	if loc, err = withDigest(loc, b.dgst); err != nil {
		return err
	}
	_, err = c.call(http.MethodPut, loc, nil, bytes.NewReader(nil), 0, http.StatusCreated)
	return err
}

// mount links blob d of repository from into repo.
func (c *client) mount(repo, from string, d digest.Digest) error {
	q := url.Values{"mount": {d.String()}, "from": {from}}
	_, err := c.call(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?"+q.Encode(), nil, nil, 0, http.StatusCreated)
	return err
}

func (c *client) putManifest(repo, ref string, body []byte) error {
	hdr := http.Header{"Content-Type": {ociManifest}}
	_, err := c.call(http.MethodPut, "/v2/"+repo+"/manifests/"+ref, hdr, bytes.NewReader(body), int64(len(body)), http.StatusCreated)
	return err
}

// getManifest reads a manifest and checks that it is size bytes long.
func (c *client) getManifest(repo, ref string, size int) error {
	hdr := http.Header{"Accept": {ociManifest}}
	resp, err := c.do(http.MethodGet, "/v2/"+repo+"/manifests/"+ref, hdr, nil, 0, http.StatusOK)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil && n != int64(size) {
		err = fmt.Errorf("GET /v2/%s/manifests/%s: %d bytes, want %d", repo, ref, n, size)
	}
	return err
}

// getBlob reads a blob, or the range [off, off+n) of it when n > 0, and
// checks the length of what came.
func (c *client) getBlob(repo string, d digest.Digest, off, n, size int64, buf []byte) error {
	var hdr http.Header
	want, status := size, http.StatusOK
	if n > 0 {
		hdr = http.Header{"Range": {"bytes=" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(off+n-1, 10)}}
		want, status = n, http.StatusPartialContent
	}
	resp, err := c.do(http.MethodGet, "/v2/"+repo+"/blobs/"+d.String(), hdr, nil, 0, status)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{resp.Body}, buf)
	if err == nil && got != want {
		err = fmt.Errorf("GET /v2/%s/blobs/%s: %d bytes, want %d", repo, d, got, want)
	}
	return err
}

// list reads every page of a catalog or tag list (following Link, as
// clients do) and returns how many entries it had under key.
func (c *client) list(path, key string) (int, error) {
	total := 0
	for path != "" {
		resp, err := c.do(http.MethodGet, path, nil, nil, 0, http.StatusOK)
		if err != nil {
			return 0, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, err
		}
		n, err := countEntries(body, key)
		if err != nil {
			return 0, fmt.Errorf("GET %s: %w", path, err)
		}
		total += n
		path = nextLink(resp.Header.Get("Link"))
	}
	return total, nil
}

// nextLink returns the target of a Link header's rel="next", or "".
func nextLink(h string) string {
	for _, part := range strings.Split(h, ",") {
		target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
		if ok && strings.Contains(params, `rel="next"`) {
			return strings.Trim(strings.TrimSpace(target), "<>")
		}
	}
	return ""
}

// countEntries counts the strings of a list response's key.
func countEntries(body []byte, key string) (int, error) {
	var v map[string]json.RawMessage
	if err := json.Unmarshal(body, &v); err != nil {
		return 0, fmt.Errorf("not a list: %w", err)
	}
	var items []string
	if raw, ok := v[key]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &items); err != nil {
			return 0, fmt.Errorf("%s: %w", key, err)
		}
	}
	return len(items), nil
}
