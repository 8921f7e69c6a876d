package soak

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The kinds of request the load makes, each counted on its own.
var kinds = []string{
	"blob-post", "blob-put", "blob-patch", "manifest-put",
	"manifest-get", "blob-get", "blob-get-range", "blob-head",
	"tags-list", "catalog",
	"manifest-delete", "tag-delete", "blob-delete",
}

// stats counts requests by kind and status. Statuses other than the
// expected one are failures: any 5xx (the soak's criterion) and anything
// else a correct registry would not answer to this load.
type stats struct {
	total, failed atomic.Int64
	byKind        map[string]*atomic.Int64
	mu            sync.Mutex
	unexpected    map[string]int // "kind status" or "kind error" -> count
	firstFailures []string
}

func newStats() *stats {
	s := &stats{byKind: map[string]*atomic.Int64{}, unexpected: map[string]int{}}
	for _, k := range kinds {
		s.byKind[k] = new(atomic.Int64)
	}
	return s
}

// record counts one request of kind; a nil err and a status in want is
// success.
func (s *stats) record(kind string, status int, err error, want ...int) bool {
	s.total.Add(1)
	s.byKind[kind].Add(1)
	if err == nil && slices.Contains(want, status) {
		return true
	}
	what := fmt.Sprintf("%s %d", kind, status)
	if err != nil {
		what = kind + " error"
	}
	if err != nil || status >= 500 {
		s.failed.Add(1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unexpected[what]++
	if len(s.firstFailures) < 10 {
		s.firstFailures = append(s.firstFailures, fmt.Sprintf("%s: status %d, error %v", kind, status, err))
	}
	return false
}

func (s *stats) unexpectedSorted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k, n := range s.unexpected {
		out = append(out, fmt.Sprintf("%s: %d", k, n))
	}
	sort.Strings(out)
	return out
}

// blob is content pushed by a client.
type blob struct {
	digest string
	size   int
}

// image is a manifest pushed by a client under a tag of its own, with the
// two blobs it references.
type image struct {
	repo, tag, digest string
	config, layer     blob
}

// client is one of the concurrent clients: it pushes images and blobs into
// a few shared repositories, pulls, lists and deletes what it pushed, so
// that every answer is predictable whatever the other clients do.
type client struct {
	id     int
	hc     *http.Client
	base   string
	st     *stats
	rng    *rand.Rand
	seq    int
	images []image           // pushed, tagged and not deleted
	blobs  []blob            // pushed without a manifest, not deleted
	repos  map[string]string // the repository of each of blobs
}

const (
	repos   = 8  // shared by all clients
	maxKept = 16 // images and loose blobs a client keeps before it deletes
)

func newClient(id int, hc *http.Client, base string, st *stats) *client {
	return &client{id: id, hc: hc, base: base, st: st, rng: rand.New(rand.NewPCG(uint64(id), 0x50a4)), repos: map[string]string{}}
}

// run makes requests until the deadline, finishing the operation under
// way (so that no request is cut off and every answer is counted), or
// until ctx ends. Each step picks an operation by weight; with many images
// kept it deletes, so that the store stays small and the working set is
// the same at the end as at the start.
func (c *client) run(ctx context.Context, deadline time.Time) {
	for ctx.Err() == nil && time.Now().Before(deadline) {
		n := c.rng.IntN(100)
		switch {
		case len(c.images)+len(c.blobs) > maxKept:
			c.delete(ctx)
		case n < 10:
			c.pushBlob(ctx, c.repo(), false)
		case n < 18:
			c.pushBlob(ctx, c.repo(), true)
		case n < 32:
			c.pushImage(ctx)
		case n < 52:
			c.pullImage(ctx)
		case n < 60:
			c.headBlob(ctx)
		case n < 68:
			c.listTags(ctx)
		case n < 72:
			c.catalog(ctx)
		default:
			c.delete(ctx)
		}
	}
}

// repo is the shared repository of the client's next push.
func (c *client) repo() string { return fmt.Sprintf("soak/r%d", c.rng.IntN(repos)) }

func (c *client) do(ctx context.Context, method, u string, body []byte, hdr map[string]string) (*http.Response, []byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// call makes one request and records it; ok is false on an unexpected
// answer, and also when ctx ended (not recorded: the load was stopped).
func (c *client) call(ctx context.Context, kind, method, u string, body []byte, hdr map[string]string, want ...int) (*http.Response, []byte, bool) {
	resp, b, err := c.do(ctx, method, u, body, hdr)
	if err != nil && ctx.Err() != nil {
		return nil, nil, false
	}
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	return resp, b, c.st.record(kind, status, err, want...)
}

func (c *client) content(n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := c.rng.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func digestOf(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// upload pushes b into repo: POST, then either one PUT with the body
// (monolithic) or two PATCHes and a PUT without body (chunked).
func (c *client) upload(ctx context.Context, repo string, b []byte, chunked bool) (blob, bool) {
	pushed := blob{digest: digestOf(b), size: len(b)}
	resp, _, ok := c.call(ctx, "blob-post", http.MethodPost, c.base+"/v2/"+repo+"/blobs/uploads/", nil, nil, http.StatusAccepted)
	if !ok {
		return blob{}, false
	}
	loc, err := c.resolve(resp.Header.Get("Location"))
	if err != nil {
		c.st.record("blob-post", resp.StatusCode, err)
		return blob{}, false
	}
	if chunked {
		half := len(b) / 2
		for _, part := range [][2]int{{0, half}, {half, len(b)}} {
			hdr := map[string]string{
				"Content-Type":  "application/octet-stream",
				"Content-Range": fmt.Sprintf("%d-%d", part[0], part[1]-1),
			}
			resp, _, ok := c.call(ctx, "blob-patch", http.MethodPatch, loc, b[part[0]:part[1]], hdr, http.StatusAccepted)
			if !ok {
				return blob{}, false
			}
			if loc, err = c.resolve(resp.Header.Get("Location")); err != nil {
				c.st.record("blob-patch", resp.StatusCode, err)
				return blob{}, false
			}
		}
		b = nil
	}
	_, _, ok = c.call(ctx, "blob-put", http.MethodPut, withQuery(loc, "digest", pushed.digest), b,
		map[string]string{"Content-Type": "application/octet-stream"}, http.StatusCreated)
	return pushed, ok
}

func (c *client) resolve(loc string) (string, error) {
	if loc == "" {
		return "", errors.New("no Location")
	}
	base, err := url.Parse(c.base + "/")
	if err != nil {
		return "", err
	}
	u, err := base.Parse(loc)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

func withQuery(u, k, v string) string {
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + url.QueryEscape(k) + "=" + url.QueryEscape(v)
}

// pushBlob pushes a blob of 1 to 256 KiB that no manifest references.
func (c *client) pushBlob(ctx context.Context, repo string, chunked bool) {
	b := c.content(1<<10 + c.rng.IntN(255<<10))
	if bl, ok := c.upload(ctx, repo, b, chunked); ok {
		c.blobs = append(c.blobs, bl)
		c.repos[bl.digest] = repo
	}
}

// pushImage pushes a layer and a config, then a manifest under a new tag.
func (c *client) pushImage(ctx context.Context) {
	repo := c.repo()
	layer := c.content(1<<10 + c.rng.IntN(127<<10))
	c.seq++
	tag := fmt.Sprintf("c%d-%d", c.id, c.seq)
	config := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[%q]},"config":{"Labels":{"soak":%q}}}`,
		digestOf(layer), tag))
	lb, ok := c.upload(ctx, repo, layer, c.rng.IntN(2) == 0)
	if !ok {
		return
	}
	cb, ok := c.upload(ctx, repo, config, false)
	if !ok {
		return
	}
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d}]}`,
		cb.digest, cb.size, lb.digest, lb.size)
	_, _, ok = c.call(ctx, "manifest-put", http.MethodPut, c.base+"/v2/"+repo+"/manifests/"+tag, []byte(m),
		map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, http.StatusCreated)
	if ok {
		c.images = append(c.images, image{repo: repo, tag: tag, digest: digestOf([]byte(m)), config: cb, layer: lb})
	}
}

// pullImage pulls one of the client's images as a client does: the
// manifest by tag, the config, the layer whole, and a range of the layer.
func (c *client) pullImage(ctx context.Context) {
	if len(c.images) == 0 {
		c.pushImage(ctx)
		return
	}
	im := c.images[c.rng.IntN(len(c.images))]
	accept := map[string]string{"Accept": "application/vnd.oci.image.manifest.v1+json"}
	_, m, ok := c.call(ctx, "manifest-get", http.MethodGet, c.base+"/v2/"+im.repo+"/manifests/"+im.tag, nil, accept, http.StatusOK)
	if !ok {
		return
	}
	if digestOf(m) != im.digest {
		c.st.record("manifest-get", http.StatusOK, fmt.Errorf("manifest of %s:%s has digest %s, pushed %s", im.repo, im.tag, digestOf(m), im.digest))
		return
	}
	for _, b := range []blob{im.config, im.layer} {
		_, got, ok := c.call(ctx, "blob-get", http.MethodGet, c.base+"/v2/"+im.repo+"/blobs/"+b.digest, nil, nil, http.StatusOK)
		if ok && digestOf(got) != b.digest {
			c.st.record("blob-get", http.StatusOK, fmt.Errorf("blob %s read back as %s", b.digest, digestOf(got)))
		}
	}
	start := c.rng.IntN(im.layer.size)
	end := start + c.rng.IntN(im.layer.size-start)
	_, got, ok := c.call(ctx, "blob-get-range", http.MethodGet, c.base+"/v2/"+im.repo+"/blobs/"+im.layer.digest, nil,
		map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", start, end)}, http.StatusPartialContent)
	if ok && len(got) != end-start+1 {
		c.st.record("blob-get-range", http.StatusPartialContent, fmt.Errorf("range %d-%d gave %d bytes", start, end, len(got)))
	}
}

func (c *client) headBlob(ctx context.Context) {
	if len(c.blobs) == 0 {
		c.pushBlob(ctx, c.repo(), false)
		return
	}
	b := c.blobs[c.rng.IntN(len(c.blobs))]
	resp, _, ok := c.call(ctx, "blob-head", http.MethodHead, c.base+"/v2/"+c.repos[b.digest]+"/blobs/"+b.digest, nil, nil, http.StatusOK)
	if ok && resp.ContentLength != int64(b.size) {
		c.st.record("blob-head", resp.StatusCode, fmt.Errorf("HEAD %s: Content-Length %d, pushed %d", b.digest, resp.ContentLength, b.size))
	}
}

// listTags lists a repository's tags; one all of whose tags were deleted
// (or that has none yet) may answer 404.
func (c *client) listTags(ctx context.Context) {
	c.call(ctx, "tags-list", http.MethodGet, c.base+"/v2/"+c.repo()+"/tags/list", nil, nil, http.StatusOK, http.StatusNotFound)
}

func (c *client) catalog(ctx context.Context) {
	c.call(ctx, "catalog", http.MethodGet, c.base+"/v2/_catalog?n=100", nil, nil, http.StatusOK)
}

// delete removes what the client pushed: an image (its tag first half of
// the time, then the manifest by digest and its blobs) or a loose blob.
func (c *client) delete(ctx context.Context) {
	if len(c.images) == 0 && len(c.blobs) == 0 {
		c.pushImage(ctx)
		return
	}
	if len(c.blobs) > 0 && (len(c.images) == 0 || c.rng.IntN(3) == 0) {
		i := c.rng.IntN(len(c.blobs))
		b := c.blobs[i]
		c.blobs = slices.Delete(c.blobs, i, i+1)
		c.call(ctx, "blob-delete", http.MethodDelete, c.base+"/v2/"+c.repos[b.digest]+"/blobs/"+b.digest, nil, nil, http.StatusAccepted)
		delete(c.repos, b.digest)
		return
	}
	i := c.rng.IntN(len(c.images))
	im := c.images[i]
	c.images = slices.Delete(c.images, i, i+1)
	if c.rng.IntN(2) == 0 {
		if _, _, ok := c.call(ctx, "tag-delete", http.MethodDelete, c.base+"/v2/"+im.repo+"/manifests/"+im.tag, nil, nil, http.StatusAccepted); !ok {
			return
		}
	}
	if _, _, ok := c.call(ctx, "manifest-delete", http.MethodDelete, c.base+"/v2/"+im.repo+"/manifests/"+im.digest, nil, nil, http.StatusAccepted); !ok {
		return
	}
	for _, b := range []blob{im.config, im.layer} {
		c.call(ctx, "blob-delete", http.MethodDelete, c.base+"/v2/"+im.repo+"/blobs/"+b.digest, nil, nil, http.StatusAccepted)
	}
}
