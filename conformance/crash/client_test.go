package crash

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
)

// client speaks just enough of the distribution API for the storm and the
// checks, with every request bounded by its context.
type client struct {
	bases []*url.URL // requests go to each in turn
	turn  atomic.Uint64
	hc    *http.Client
	// unavailable counts the answers 503 Service Unavailable, the
	// registry's answer while its storage is unreachable.
	unavailable atomic.Int64
}

// newClient returns a client of the registry at base, or of several nodes
// serving one storage, which it sends its requests to in turn (the steps of
// one upload too).
func newClient(base string, more ...string) *client {
	c := &client{hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	for _, b := range append([]string{base}, more...) {
		u, err := url.Parse(b)
		if err != nil {
			panic(err) // base comes from the registry's own start-up line
		}
		c.bases = append(c.bases, u)
	}
	return c
}

// do sends a request to target (a path or a URL, relative to the base)
// with body of length n (-1 when unknown); the caller closes the response.
func (c *client) do(ctx context.Context, method, target string, body io.Reader, n int64, header ...string) (*http.Response, error) {
	base := c.bases[(c.turn.Add(1)-1)%uint64(len(c.bases))]
	u, err := base.Parse(target)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = n
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return c.hc.Do(req)
}

// expect sends the request and reports an error unless it is answered with
// status want; the response's Location header is returned.
func (c *client) expect(ctx context.Context, want int, method, target string, body io.Reader, n int64, header ...string) (string, error) {
	resp, err := c.do(ctx, method, target, body, n, header...)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode == http.StatusServiceUnavailable {
		c.unavailable.Add(1)
	}
	if resp.StatusCode != want {
		return "", fmt.Errorf("%s %s: %s %s", method, target, resp.Status, bytes.TrimSpace(msg))
	}
	return resp.Header.Get("Location"), nil
}

// withDigest adds ?digest=d to an upload location.
func withDigest(loc string, d digest.Digest) string {
	u, err := url.Parse(loc)
	if err != nil {
		return loc // the request fails and says why
	}
	q := u.Query()
	q.Set("digest", d.String())
	u.RawQuery = q.Encode()
	return u.String()
}

// blob is content to push: small ones in memory, large ones regenerated
// from a seed as often as they are read.
type blob struct {
	digest digest.Digest
	size   int64
	data   []byte // nil for a generated blob
	seed   uint64
}

func smallBlob(data []byte) blob {
	return blob{digest: digest.FromBytes(data), size: int64(len(data)), data: data}
}

// largeBlob is size bytes of ChaCha8 output from seed, hashed once here
// and streamed again at every push, never held in memory.
func largeBlob(seed uint64, size int64) blob {
	b := blob{size: size, seed: seed}
	h := sha256.New()
	_, _ = io.Copy(h, b.open())
	b.digest = digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil)))
	return b
}

func (b blob) open() io.Reader {
	if b.data != nil {
		return bytes.NewReader(b.data)
	}
	var key [32]byte
	for i := range 8 {
		key[i] = byte(b.seed >> (8 * i))
	}
	return io.LimitReader(rand.NewChaCha8(key), b.size)
}

// pushBlob uploads b into repo: in one POST ?digest= (monolithic), or in
// a POST, PATCH chunks of chunk bytes with Content-Range, and a PUT
// ?digest=. A nil error means the registry answered 201.
func (c *client) pushBlob(ctx context.Context, repo string, b blob, chunk int64) error {
	uploads := "/v2/" + repo + "/blobs/uploads/"
	if chunk <= 0 {
		_, err := c.expect(ctx, http.StatusCreated, http.MethodPost, withDigest(uploads, b.digest), b.open(), b.size,
			"Content-Type", "application/octet-stream")
		return err
	}
	loc, err := c.expect(ctx, http.StatusAccepted, http.MethodPost, uploads, nil, 0)
	if err != nil {
		return err
	}
	r := b.open()
	for off := int64(0); off < b.size; off += chunk {
		n := min(chunk, b.size-off)
		loc, err = c.expect(ctx, http.StatusAccepted, http.MethodPatch, loc, io.LimitReader(r, n), n,
			"Content-Type", "application/octet-stream",
			"Content-Range", contentRange(off, n))
		if err != nil {
			return err
		}
	}
	_, err = c.expect(ctx, http.StatusCreated, http.MethodPut, withDigest(loc, b.digest), nil, 0)
	return err
}

// mountBlob mounts b into repo from repo from, as clients do for a layer
// they know another repository has. When the registry answers 202 instead
// (from lacks it), the upload it started is finished with b's content. It
// reports whether the blob was mounted rather than uploaded.
func (c *client) mountBlob(ctx context.Context, repo, from string, b blob) (mounted bool, err error) {
	q := url.Values{"mount": {b.digest.String()}, "from": {from}}
	resp, err := c.do(ctx, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?"+q.Encode(), nil, 0)
	if err != nil {
		return false, err
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		return true, nil
	case http.StatusAccepted:
		_, err := c.expect(ctx, http.StatusCreated, http.MethodPut, withDigest(resp.Header.Get("Location"), b.digest), b.open(), b.size,
			"Content-Type", "application/octet-stream")
		return false, err
	}
	return false, fmt.Errorf("POST mount %s from %s into %s: %s %s", b.digest, from, repo, resp.Status, bytes.TrimSpace(msg))
}

// blobExists reports whether HEAD of blob d in repo answers 200.
func (c *client) blobExists(ctx context.Context, repo string, d digest.Digest) (bool, error) {
	resp, err := c.do(ctx, http.MethodHead, "/v2/"+repo+"/blobs/"+d.String(), nil, 0)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("HEAD blob %s of %s: %s", d, repo, resp.Status)
}

// checkBlob pulls blob d of repo, hashing it as it streams. It reports
// found false for a 404 and an error for anything but the right content.
func (c *client) checkBlob(ctx context.Context, repo string, d digest.Digest, size int64) (found bool, err error) {
	resp, err := c.do(ctx, http.MethodGet, "/v2/"+repo+"/blobs/"+d.String(), nil, 0)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GET blob %s of %s: %s", d, repo, resp.Status)
	}
	v := d.Verifier()
	n, err := io.Copy(v, resp.Body)
	if err != nil {
		return true, fmt.Errorf("GET blob %s of %s: %w", d, repo, err)
	}
	if !v.Verified() || (size >= 0 && n != size) {
		return true, fmt.Errorf("GET blob %s of %s: %d bytes that do not hash to it", d, repo, n)
	}
	return true, nil
}

// getManifest pulls manifest ref of repo and returns its digest, computed
// from the payload (and checked against Docker-Content-Digest). found is
// false for a 404.
func (c *client) getManifest(ctx context.Context, repo, ref string) (d digest.Digest, payload []byte, found bool, err error) {
	resp, err := c.do(ctx, http.MethodGet, "/v2/"+repo+"/manifests/"+ref, nil, 0,
		"Accept", "application/vnd.oci.image.manifest.v1+json")
	if err != nil {
		return "", nil, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return "", nil, false, nil
	}
	if resp.StatusCode != http.StatusOK {
		return "", nil, false, fmt.Errorf("GET manifest %s:%s: %s", repo, ref, resp.Status)
	}
	payload, err = io.ReadAll(resp.Body)
	if err != nil {
		return "", nil, true, fmt.Errorf("GET manifest %s:%s: %w", repo, ref, err)
	}
	d = digest.FromBytes(payload)
	if h := resp.Header.Get("Docker-Content-Digest"); h != d.String() {
		return "", nil, true, fmt.Errorf("GET manifest %s:%s: payload hashes to %s, Docker-Content-Digest says %q", repo, ref, d, h)
	}
	return d, payload, true, nil
}
