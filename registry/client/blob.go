package client

import (
	"context"
	_ "crypto/sha256" // digest algorithms go-digest needs registered
	_ "crypto/sha512"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// BlobHead returns the size of blob d in ref's repository (-1 when the
// registry does not say). Errors: ErrNotFound, ErrUnauthorized, ErrDenied,
// ErrUnavailable.
func (c *Client) BlobHead(ctx context.Context, ref Reference, d digest.Digest) (int64, error) {
	req, err := c.blobRequest(ctx, http.MethodHead, ref, d)
	if err != nil {
		return 0, err
	}
	resp, err := c.expect(req, http.StatusOK)
	if err != nil {
		return 0, err
	}
	drain(resp.Body)
	return resp.ContentLength, nil
}

// BlobGet streams blob d of ref's repository from offset (a Range request
// when offset > 0, to resume a download). size is the blob's whole size
// (-1 when the registry does not say); the reader yields its bytes from
// offset on and is not verified: wrap it in VerifyReader, or hash what you
// already have plus what it yields. A registry that answers a Range request
// with the whole blob fails with ErrRangeIgnored; an offset at the blob's
// end yields an empty reader. Errors: ErrNotFound, ErrUnauthorized,
// ErrDenied, ErrUnavailable, ErrRangeIgnored.
func (c *Client) BlobGet(ctx context.Context, ref Reference, d digest.Digest, offset int64) (rc io.ReadCloser, size int64, err error) {
	if offset < 0 {
		return nil, 0, fmt.Errorf("blob %s: negative offset %d", d, offset)
	}
	req, err := c.blobRequest(ctx, http.MethodGet, ref, d)
	if err != nil {
		return nil, 0, err
	}
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := c.expect(req, http.StatusOK, http.StatusPartialContent, http.StatusRequestedRangeNotSatisfiable)
	if err != nil {
		return nil, 0, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if offset > 0 {
			drain(resp.Body)
			return nil, 0, fmt.Errorf("blob %s from offset %d: %w", d, offset, ErrRangeIgnored)
		}
		return resp.Body, resp.ContentLength, nil
	case http.StatusPartialContent:
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != offset {
			drain(resp.Body)
			return nil, 0, fmt.Errorf("blob %s from offset %d: Content-Range %q: %w",
				d, offset, resp.Header.Get("Content-Range"), ErrRangeIgnored)
		}
		if total < 0 && resp.ContentLength >= 0 {
			total = offset + resp.ContentLength
		}
		return resp.Body, total, nil
	}
	// 416: fine when the offset is exactly the end (the download was done).
	_, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
	if ok && total == offset {
		drain(resp.Body)
		return io.NopCloser(strings.NewReader("")), total, nil
	}
	return nil, 0, responseError(resp)
}

// BlobMount asks the registry to link blob d from repository fromRepo (on
// the same registry) into ref's repository, without uploading it. It
// reports whether the blob was mounted; when the registry declines (it
// opens an upload instead), that upload is cancelled and mounted is false,
// with no error: upload the blob then. Errors: ErrUnauthorized, ErrDenied,
// ErrUnavailable.
func (c *Client) BlobMount(ctx context.Context, ref Reference, fromRepo string, d digest.Digest) (mounted bool, err error) {
	if err := d.Validate(); err != nil {
		return false, fmt.Errorf("blob %q: %w", d, err)
	}
	if err := validRepo(ref); err != nil {
		return false, err
	}
	q := url.Values{"mount": {d.String()}, "from": {fromRepo}}
	req, err := c.request(ctx, http.MethodPost, c.repoURL(ref, "/blobs/uploads/", q), nil,
		ref.Registry, pushScope(ref.Repository), pullScope(fromRepo))
	if err != nil {
		return false, err
	}
	resp, err := c.expect(req, http.StatusCreated, http.StatusAccepted)
	if err != nil {
		return false, err
	}
	drain(resp.Body)
	if resp.StatusCode == http.StatusCreated {
		return true, nil
	}
	if loc, err := c.follow(resp, ref.Registry, "Location", resp.Header.Get("Location")); err == nil {
		c.cancelUpload(ctx, ref, loc)
	}
	return false, nil
}

func (c *Client) blobRequest(ctx context.Context, method string, ref Reference, d digest.Digest) (*http.Request, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("blob %q: %w", d, err)
	}
	if err := validRepo(ref); err != nil {
		return nil, err
	}
	return c.request(ctx, method, c.repoURL(ref, "/blobs/"+d.String(), nil), nil, ref.Registry, pullScope(ref.Repository))
}

// cancelUpload deletes an upload session, best effort: it runs even when
// ctx has ended (that is often why the upload is abandoned), bounded by a
// short timeout of its own.
func (c *Client) cancelUpload(ctx context.Context, ref Reference, loc *url.URL) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	req, err := c.request(ctx, http.MethodDelete, loc, nil, ref.Registry, pushScope(ref.Repository))
	if err != nil {
		return
	}
	if resp, err := c.do(req); err == nil {
		drain(resp.Body)
	}
}

// parseContentRange reads "bytes <start>-<end>/<total>" (total may be "*",
// returned as -1) and "bytes */<total>" (start -1).
func parseContentRange(v string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	total = -1
	if tot != "*" {
		n, err := strconv.ParseInt(tot, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, false
		}
		total = n
	}
	if rng == "*" {
		return -1, total, total >= 0
	}
	s, e, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(s, 10, 64)
	end, err2 := strconv.ParseInt(e, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start || (total >= 0 && end >= total) {
		return 0, 0, false
	}
	return start, total, true
}

// VerifyReader returns a reader of r that checks, as the bytes pass, that
// they are size bytes long (when size >= 0) and hash to d. The read that
// completes size bytes, a read past size, or EOF with the wrong size or
// digest fails with ErrDigestMismatch, so a consumer that reads to EOF (or
// to size) never accepts bad content silently. size < 0 means unknown: the
// verdict comes at EOF.
func VerifyReader(r io.Reader, d digest.Digest, size int64) io.Reader {
	if err := d.Validate(); err != nil {
		return &verifyingReader{err: fmt.Errorf("digest %q: %w", d, err)}
	}
	if !d.Algorithm().Available() {
		return &verifyingReader{err: fmt.Errorf("digest %s: algorithm unavailable", d)}
	}
	return &verifyingReader{r: r, want: d, size: size, h: d.Algorithm().Hash()}
}

type verifyingReader struct {
	r    io.Reader
	want digest.Digest
	size int64
	h    hash.Hash
	n    int64
	err  error // sticky
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.size >= 0 && v.n > v.size {
		v.err = fmt.Errorf("%s: more than %d bytes: %w", v.want, v.size, ErrDigestMismatch)
		return n, v.err
	}
	// At size bytes the verdict is due: a consumer that stops there (an
	// HTTP body of known length) must not miss a mismatch.
	if v.size >= 0 && v.n == v.size && err == nil && n > 0 {
		if got := digest.NewDigest(v.want.Algorithm(), v.h); got != v.want {
			v.err = fmt.Errorf("content is %s, want %s: %w", got, v.want, ErrDigestMismatch)
			return n, v.err
		}
	}
	if err == io.EOF {
		switch got := digest.NewDigest(v.want.Algorithm(), v.h); {
		case v.size >= 0 && v.n != v.size:
			v.err = fmt.Errorf("%s: %d bytes, want %d: %w", v.want, v.n, v.size, ErrDigestMismatch)
		case got != v.want:
			v.err = fmt.Errorf("content is %s, want %s: %w", got, v.want, ErrDigestMismatch)
		default:
			v.err = io.EOF
		}
		return n, v.err
	}
	return n, err
}
