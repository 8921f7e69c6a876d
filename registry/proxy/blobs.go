package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/registry/storage"
)

// blobFill is one transfer of a blob from an upstream into the cache,
// shared by every request for the blob that arrives while it runs.
//
// The transfer runs on its own goroutine, detached from the request that
// started it: it writes the upstream's bytes into a spool, verifying them
// as they pass; each waiting client reads the spool at its own pace, and so
// does the storage upload, whose Commit verifies the digest once more
// before the blob is published. The transfer is cancelled when every
// client has gone before the upstream's bytes are all in; afterwards the
// upload completes on its own.
type blobFill struct {
	cancel context.CancelFunc

	// Set by the transfer before ready closes.
	ready chan struct{}
	local bool   // the blob was cached meanwhile: serve it from storage
	sp    *spool // or read it from here
	err   error  // or fail with this

	// Set by the transfer before stored closes.
	stored   chan struct{}
	storeErr error // nil: the blob is in storage, linked into the repository

	// Guarded by Cache.mu.
	clients   int
	finished  bool // the upstream's bytes are all in: leaving no longer cancels
	cancelled bool // every client left first; a new request starts anew
	failed    bool // the transfer failed; a new request starts anew
	done      bool // the transfer and the upload have ended
	released  bool // the spool's creator use was dropped
}

// ServeBlob answers GET or HEAD of blob d of repository name, which is not
// cached (the registry has looked): from the transfer of it in flight, or
// from a new one. A HEAD asks the upstream with a HEAD and transfers
// nothing. Errors, before anything is written: *UpstreamError
// (storage.ErrBlobUnknown when the upstream does not have the blob,
// storagedriver.ErrUnavailable when it cannot be asked), or the storage's.
// A transfer that fails after bytes were sent ends the response short of
// its Content-Length.
func (c *Cache) ServeBlob(w http.ResponseWriter, r *http.Request, name string, d digest.Digest) error {
	if err := storage.CheckName(name); err != nil {
		return err
	}
	if err := storage.CheckDigest(d); err != nil {
		return err
	}
	u, ref, ok := c.route(name)
	if !ok {
		return fmt.Errorf("blob %s: %w", d, storage.ErrBlobUnknown)
	}
	ctx := r.Context()
	if r.Method == http.MethodHead {
		return c.headBlob(w, r, u, ref, name, d)
	}
	f := c.joinBlob(ctx, u, ref, name, d)
	defer c.leaveBlob(f)
	select {
	case <-f.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	switch {
	case f.err != nil:
		return f.err
	case f.local:
		return c.serveStored(w, r, name, d)
	}
	rd := f.sp.open(ctx)
	defer rd.Close()
	if f.sp.length() < 0 {
		// The upstream did not say how long the blob is: send it whole
		// once verified, with its length, rather than a chunked body
		// whose failure would look like a complete one.
		if err := f.sp.wait(ctx); err != nil {
			return err
		}
	}
	setBlobHeaders(w.Header(), d)
	http.ServeContent(w, r, "", time.Time{}, rd)
	return nil
}

func setBlobHeaders(h http.Header, d digest.Digest) {
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Etag", `"`+d.String()+`"`)
	h.Set("Cache-Control", "max-age=31536000")
}

// serveStored serves the blob from storage, where a transfer just put it.
func (c *Cache) serveStored(w http.ResponseWriter, r *http.Request, name string, d digest.Digest) error {
	rc, _, err := c.store.OpenBlob(r.Context(), name, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	setBlobHeaders(w.Header(), d)
	http.ServeContent(w, r, "", time.Time{}, rc)
	return nil
}

// headBlob answers HEAD from a transfer in flight that knows the size, or
// from the upstream's answer to a HEAD.
func (c *Cache) headBlob(w http.ResponseWriter, r *http.Request, u *upstream, ref client.Reference, name string, d digest.Digest) error {
	size := int64(-1)
	c.mu.Lock()
	f := c.blobs[name+"@"+d.String()]
	c.mu.Unlock()
	if f != nil {
		select {
		case <-f.ready:
			if f.sp != nil {
				size = f.sp.length()
			}
		default:
		}
	}
	if size < 0 {
		var err error
		if size, err = u.client.BlobHead(r.Context(), ref, d); err != nil {
			return u.fail(r.Context(), fmt.Sprintf("blob %s of %s", d, name), err, storage.ErrBlobUnknown)
		}
	}
	setBlobHeaders(w.Header(), d)
	if size >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// ensureBlob makes sure blob d is stored in repository name, fetching it
// (or waiting for the transfer in flight) when it is not.
func (c *Cache) ensureBlob(ctx context.Context, u *upstream, ref client.Reference, name string, d digest.Digest) error {
	if _, err := c.store.StatBlob(ctx, name, d); err == nil {
		return nil
	}
	f := c.joinBlob(ctx, u, ref, name, d)
	defer c.leaveBlob(f)
	select {
	case <-f.stored:
		return f.storeErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// joinBlob returns the transfer of blob d into repository name, starting
// one when none is in flight, and counts the caller as its client until
// leaveBlob.
func (c *Cache) joinBlob(ctx context.Context, u *upstream, ref client.Reference, name string, d digest.Digest) *blobFill {
	key := name + "@" + d.String()
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.blobs[key]
	if f != nil && !f.cancelled && !f.failed {
		c.obs.CacheJoined("blob")
	} else {
		c.obs.CacheMiss("blob")
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &blobFill{cancel: cancel, ready: make(chan struct{}), stored: make(chan struct{})}
		c.blobs[key] = f
		go c.fillBlob(fctx, f, key, u, ref, name, d)
	}
	f.clients++
	return f
}

// leaveBlob ends a client's interest in f. The last client to leave cancels
// a transfer whose bytes are not all in, and frees the spool of one that
// has ended.
func (c *Cache) leaveBlob(f *blobFill) {
	c.mu.Lock()
	f.clients--
	release := false
	if f.clients == 0 {
		if !f.finished && !f.cancelled {
			f.cancelled = true
			f.cancel()
		}
		if f.done && f.sp != nil && !f.released {
			f.released, release = true, true
		}
	}
	c.mu.Unlock()
	if release {
		f.sp.release()
	}
}

// fillBlob is the transfer of f, keyed key in c.blobs.
func (c *Cache) fillBlob(ctx context.Context, f *blobFill, key string, u *upstream, ref client.Reference, name string, d digest.Digest) {
	defer f.cancel()
	// Last: a request that finds no transfer in flight must find the blob
	// stored, so the transfer leaves the map only after its upload ended.
	defer c.endBlob(f, key)
	defer close(f.stored)

	// A request that missed the blob just before the previous transfer
	// of it ended starts this one; it finds the blob stored.
	if _, err := c.store.StatBlob(ctx, name, d); err == nil {
		f.local = true
		close(f.ready)
		return
	}
	what := fmt.Sprintf("blob %s of %s", d, name)
	rc, size, err := u.client.BlobGet(ctx, ref, d, 0)
	if err == nil {
		defer rc.Close()
		f.sp, err = newSpool(c.spoolDir, size)
		if err != nil {
			c.log.ErrorContext(ctx, "proxy: cannot spool a blob", "repository", name, "digest", d, "err", err)
		}
	} else {
		err = u.fail(ctx, what, err, storage.ErrBlobUnknown)
	}
	if err != nil {
		f.err, f.storeErr = err, err
		c.markFailed(f)
		close(f.ready)
		return
	}
	close(f.ready)

	// The upload reads the spool like any client. Its reader is opened
	// here, before the spool can end.
	stored := make(chan error, 1)
	go func(rd *spoolReader) { stored <- c.storeBlob(ctx, name, d, rd) }(f.sp.open(ctx))

	rerr, werr := copySpool(f.sp, client.VerifyReader(rc, d, size))
	switch {
	case werr != nil:
		c.log.ErrorContext(ctx, "proxy: cannot spool a blob", "repository", name, "digest", d, "err", werr)
		err = werr
	case rerr != nil && ctx.Err() != nil:
		err = rerr
		c.log.DebugContext(ctx, "proxy: blob transfer cancelled: every client left", "repository", name, "digest", d)
	case rerr != nil:
		err = u.fail(ctx, what, rerr, storage.ErrBlobUnknown)
		c.log.WarnContext(ctx, "proxy: blob transfer failed", "repository", name, "digest", d, "upstream", u.RemoteURL, "err", rerr)
	default:
		c.mu.Lock()
		f.finished = true
		c.mu.Unlock()
	}
	if err != nil {
		c.markFailed(f)
	}
	f.sp.finish(err)
	f.storeErr = <-stored
	if f.storeErr != nil && err == nil {
		c.log.ErrorContext(ctx, "proxy: blob served but not cached", "repository", name, "digest", d, "err", f.storeErr)
	}
}

// markFailed keeps requests that come after a failure from joining f: they
// would get its error (or a body cut short) instead of a new attempt.
func (c *Cache) markFailed(f *blobFill) {
	c.mu.Lock()
	f.failed = true
	c.mu.Unlock()
}

// endBlob marks f ended, drops it from the map (unless a newer transfer
// took its place) and frees its spool when no client is left.
func (c *Cache) endBlob(f *blobFill, key string) {
	c.mu.Lock()
	if c.blobs[key] == f {
		delete(c.blobs, key)
	}
	f.done = true
	release := f.clients == 0 && f.sp != nil && !f.released
	f.released = f.released || release
	c.mu.Unlock()
	if release {
		f.sp.release()
	}
}

// copySpool copies src into sp, telling a failure to read (the upstream,
// or its content) from a failure to write (the spool's disk).
func copySpool(sp *spool, src io.Reader) (readErr, writeErr error) {
	buf := make([]byte, 256<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := sp.Write(buf[:n]); werr != nil {
				return nil, werr
			}
		}
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return err, nil
		}
	}
}

// storeBlob uploads the spool's content through the normal upload path,
// whose Commit verifies the digest before the blob is published. An upload
// that fails is cancelled: nothing is left behind.
func (c *Cache) storeBlob(ctx context.Context, name string, d digest.Digest, rd *spoolReader) error {
	defer rd.Close()
	up, err := c.store.StartUpload(ctx, name)
	if err != nil {
		return err
	}
	if _, err := up.Commit(ctx, d, rd, -1); err != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = up.Cancel(cctx)
		return err
	}
	return nil
}
