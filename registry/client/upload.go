package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// BlobPut uploads the blob desc describes (Digest required; Size, or -1
// when unknown) from r into ref's repository. A blob of known size up to the
// chunk size (WithChunkSize) goes monolithically: POST, then one PUT with
// the bytes. A larger one, or one of unknown size, goes in chunks: POST,
// PATCHes with Content-Range, then PUT ?digest=; a PATCH that fails
// transiently is resumed from where the registry says the upload stands
// (chunks are buffered, so at most one chunk is in memory). The bytes are
// verified while they stream: content that is not desc's fails with
// ErrDigestMismatch before the registry commits it, and the upload session
// is cancelled on any failure. It uploads even when the registry has the
// blob: BlobHead or BlobMount first is the caller's choice. Errors:
// ErrUnauthorized, ErrDenied, ErrUnavailable, ErrDigestMismatch, a
// *ResponseError (e.g. DIGEST_INVALID), or r's own error.
func (c *Client) BlobPut(ctx context.Context, ref Reference, desc v1.Descriptor, r io.Reader) error {
	if err := desc.Digest.Validate(); err != nil {
		return fmt.Errorf("blob %q: %w", desc.Digest, err)
	}
	if err := validRepo(ref); err != nil {
		return err
	}
	loc, minChunk, err := c.startUpload(ctx, ref)
	if err != nil {
		return fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	src := VerifyReader(&sourceReader{r: r}, desc.Digest, desc.Size)
	if desc.Size >= 0 && desc.Size <= c.chunkSize {
		err = c.putMonolithic(ctx, ref, loc, desc, src)
	} else {
		err = c.putChunked(ctx, ref, loc, desc, src, max(c.chunkSize, minChunk))
	}
	if err != nil {
		return fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	return nil
}

// startUpload opens an upload session: its Location, and the smallest
// chunk the registry takes (OCI-Chunk-Min-Length; 0 when it names none).
func (c *Client) startUpload(ctx context.Context, ref Reference) (*url.URL, int64, error) {
	req, err := c.request(ctx, http.MethodPost, c.repoURL(ref, "/blobs/uploads/", nil), nil,
		ref.Registry, pushScope(ref.Repository))
	if err != nil {
		return nil, 0, err
	}
	resp, err := c.expect(req, http.StatusAccepted)
	if err != nil {
		return nil, 0, err
	}
	drain(resp.Body)
	loc, err := c.follow(resp, ref.Registry, "Location", resp.Header.Get("Location"))
	if err != nil {
		return nil, 0, err
	}
	minChunk, _ := strconv.ParseInt(resp.Header.Get("OCI-Chunk-Min-Length"), 10, 64)
	return loc, max(minChunk, 0), nil
}

func (c *Client) putMonolithic(ctx context.Context, ref Reference, loc *url.URL, desc v1.Descriptor, src io.Reader) error {
	body := src
	if desc.Size == 0 {
		// Still read src to EOF, so that content which is not empty fails.
		if _, err := io.Copy(io.Discard, src); err != nil {
			c.cancelUpload(ctx, ref, loc)
			return err
		}
		body = http.NoBody
	}
	req, err := c.request(ctx, http.MethodPut, withDigest(loc, desc.Digest), body, ref.Registry, pushScope(ref.Repository))
	if err != nil {
		return err
	}
	req.ContentLength = desc.Size
	req.Header.Set("Content-Type", "application/octet-stream")
	return c.finishUpload(ctx, ref, loc, req, desc)
}

func (c *Client) putChunked(ctx context.Context, ref Reference, loc *url.URL, desc v1.Descriptor, src io.Reader, chunk int64) error {
	buf := make([]byte, chunk)
	var offset int64
	for {
		n, rerr := io.ReadFull(src, buf)
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			c.cancelUpload(ctx, ref, loc)
			return rerr
		}
		if n > 0 {
			next, err := c.patchResuming(ctx, ref, loc, buf[:n], offset)
			if err != nil {
				c.cancelUpload(ctx, ref, loc)
				return err
			}
			loc, offset = next, offset+int64(n)
		}
		if rerr != nil {
			break
		}
	}
	req, err := c.request(ctx, http.MethodPut, withDigest(loc, desc.Digest), http.NoBody, ref.Registry, pushScope(ref.Repository))
	if err != nil {
		return err
	}
	req.ContentLength = 0
	desc.Size = offset
	return c.finishUpload(ctx, ref, loc, req, desc)
}

// patch sends one chunk at offset and returns the session's next Location.
func (c *Client) patch(ctx context.Context, ref Reference, loc *url.URL, chunk []byte, offset int64) (*url.URL, error) {
	req, err := c.request(ctx, http.MethodPatch, loc, bytes.NewReader(chunk), ref.Registry, pushScope(ref.Repository))
	if err != nil {
		return nil, err
	}
	end := offset + int64(len(chunk)) - 1
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", offset, end))
	resp, err := c.expect(req, http.StatusAccepted, http.StatusNoContent)
	if err != nil {
		return nil, err
	}
	drain(resp.Body)
	if rng := resp.Header.Get("Range"); rng != "" {
		if got, ok := rangeEnd(rng); ok && got != end {
			return nil, fmt.Errorf("PATCH %s: registry holds bytes up to %d, sent up to %d", redactURL(loc.String()), got, end)
		}
	}
	next := loc
	if l := resp.Header.Get("Location"); l != "" {
		if next, err = c.follow(resp, ref.Registry, "Location", l); err != nil {
			return nil, err
		}
	}
	return next, nil
}

// patchResuming sends a chunk like patch, and after a transient failure
// (ErrUnavailable: a dropped connection, a 5xx) asks the registry how much
// of the upload it holds and sends the rest of the chunk from there, as
// often as the retry policy allows.
func (c *Client) patchResuming(ctx context.Context, ref Reference, loc *url.URL, chunk []byte, offset int64) (*url.URL, error) {
	next, err := c.patch(ctx, ref, loc, chunk, offset)
	for attempt := 1; err != nil && errors.Is(err, ErrUnavailable) && attempt < c.retry.Attempts; attempt++ {
		if serr := sleep(ctx, c.retry.backoff(attempt)); serr != nil {
			return nil, err
		}
		held, at, serr := c.uploadStatus(ctx, ref, loc)
		end := offset + int64(len(chunk))
		switch {
		case serr != nil || held < offset || held > end:
			return nil, err // the session is gone, or stands where this chunk cannot continue it
		case held == end:
			return at, nil // the chunk arrived; only the answer was lost
		}
		loc = at
		next, err = c.patch(ctx, ref, loc, chunk[held-offset:], held)
	}
	return next, err
}

// uploadStatus asks where an upload stands: how many bytes the registry
// holds, and the session's Location.
func (c *Client) uploadStatus(ctx context.Context, ref Reference, loc *url.URL) (int64, *url.URL, error) {
	req, err := c.request(ctx, http.MethodGet, loc, nil, ref.Registry, pushScope(ref.Repository))
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.expect(req, http.StatusNoContent, http.StatusOK)
	if err != nil {
		return 0, nil, err
	}
	drain(resp.Body)
	next := loc
	if l := resp.Header.Get("Location"); l != "" {
		if next, err = c.follow(resp, ref.Registry, "Location", l); err != nil {
			return 0, nil, err
		}
	}
	end, ok := rangeEnd(resp.Header.Get("Range"))
	switch {
	case !ok:
		return 0, nil, fmt.Errorf("upload status: Range %q", resp.Header.Get("Range"))
	case end == 0:
		// "0-0" means no byte or one: registries write it for both; only
		// "none" is safe to assume, and resending a byte is refused, not
		// corrupting.
		return 0, next, nil
	}
	return end + 1, next, nil
}

// finishUpload sends the closing PUT. If it fails with 404 (the session is
// gone: a retried PUT whose first try committed), a blob that exists with
// the right size counts as uploaded.
func (c *Client) finishUpload(ctx context.Context, ref Reference, loc *url.URL, req *http.Request, desc v1.Descriptor) error {
	resp, err := c.expect(req, http.StatusCreated, http.StatusNoContent)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			if size, herr := c.BlobHead(ctx, ref, desc.Digest); herr == nil && (desc.Size < 0 || size == desc.Size) {
				return nil
			}
		}
		if !errors.Is(err, ErrNotFound) {
			c.cancelUpload(ctx, ref, loc)
		}
		return err
	}
	drain(resp.Body)
	if got, err := digest.Parse(resp.Header.Get("Docker-Content-Digest")); err == nil &&
		got.Algorithm() == desc.Digest.Algorithm() && got != desc.Digest {
		return fmt.Errorf("registry stored %s: %w", got, ErrDigestMismatch)
	}
	return nil
}

// withDigest adds digest=d to an upload Location, keeping its query (which
// may carry the registry's upload state) byte for byte.
func withDigest(loc *url.URL, d digest.Digest) *url.URL {
	u := *loc
	q := "digest=" + url.QueryEscape(d.String())
	if u.RawQuery == "" {
		u.RawQuery = q
	} else {
		u.RawQuery += "&" + q
	}
	return &u
}

// rangeEnd reads the end of an upload's Range header ("0-<end>", also
// "bytes=0-<end>").
func rangeEnd(v string) (int64, bool) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "bytes=")
	_, e, ok := strings.Cut(v, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(e, 10, 64)
	return n, err == nil
}

// sourceReader marks errors of the caller's reader, so that they are not
// mistaken for the registry being unavailable.
type sourceReader struct{ r io.Reader }

type sourceError struct{ err error }

func (e *sourceError) Error() string { return "reading the blob: " + e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = &sourceError{err}
	}
	return n, err
}
