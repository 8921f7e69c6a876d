package registry

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/notify"
	"github.com/berth-registry/berth/registry/storage"
)

// startUpload serves POST /v2/<name>/blobs/uploads/.
//   - ?mount=<digest>[&from=<repo>]: 201 when the blob could be linked from
//     from (or, without from, from anywhere, if the caller may pull every
//     repository), else an upload starts (202);
//   - ?digest=<digest> with the blob as body: 201 (monolithic upload);
//   - otherwise: 202 with the upload's Location.
//
// 400 NAME_INVALID, DIGEST_INVALID or BLOB_UPLOAD_INVALID (body broke off).
// A monolithic upload that fails leaves nothing behind, also when its
// client has hung up (see storage.Upload.Cancel).
func (a *App) startUpload(w http.ResponseWriter, r *http.Request) error {
	name, err := repoName(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	q := r.URL.Query()
	// Without from=, a mount takes the blob from wherever it is, so under
	// access control only a caller who may pull everything may do it;
	// others upload (202), as the specification allows.
	if m := q.Get("mount"); m != "" && (q.Get("from") != "" || grantOf(ctx).PullsAll()) {
		d, err := storage.ParseDigest(m)
		if err != nil {
			return err
		}
		undo, err := a.chargeMount(ctx, name, d)
		if err != nil {
			return err
		}
		size, err := a.store.MountBlob(ctx, name, q.Get("from"), d)
		if err != nil && undo != nil {
			undo()
		}
		switch {
		case err == nil:
			a.opts.metrics.BlobMounted()
			t := a.blobTarget(r, name, d, size)
			t.FromRepository = q.Get("from")
			if err := a.notifyChange(r, a.event(r, notify.ActionMount, t)); err != nil {
				return err
			}
			return a.blobCreated(w, name, d)
		case !errors.Is(err, storage.ErrBlobUnknown) && !errors.Is(err, storage.ErrNameInvalid):
			return err
		}
	}
	if err := a.chargeStart(ctx, name); err != nil {
		return err
	}
	var d digest.Digest
	if s := q.Get("digest"); s != "" {
		if d, err = storage.ParseDigest(s); err != nil {
			return err
		}
	}
	u, err := a.store.StartUpload(ctx, name)
	if err != nil {
		return err
	}
	a.opts.metrics.UploadStarted()
	if d == "" {
		return a.uploadAccepted(w, http.StatusAccepted, name, u)
	}
	var size int64
	commit := func() (err error) { size, err = u.Commit(ctx, d, body{r.Body}, -1); return err }
	if err := a.commitCharged(ctx, name, u, d, r.ContentLength, commit); err != nil {
		_ = u.Cancel(ctx)
		a.opts.metrics.UploadFailed()
		return err
	}
	a.opts.metrics.UploadCompleted()
	return a.blobPushed(w, r, name, d, size)
}

// resume finds the route's upload.
func (a *App) resume(r *http.Request) (string, *storage.Upload, error) {
	name, err := repoName(r)
	if err != nil {
		return "", nil, err
	}
	u, err := a.store.ResumeUpload(r.Context(), name, routeVar(r, "uuid"))
	return name, u, err
}

// uploadStatus serves GET /v2/<name>/blobs/uploads/<uuid>: 204 with the
// Range received so far; 404 BLOB_UPLOAD_UNKNOWN.
func (a *App) uploadStatus(w http.ResponseWriter, r *http.Request) error {
	name, u, err := a.resume(r)
	if err != nil {
		return err
	}
	return a.uploadAccepted(w, http.StatusNoContent, name, u)
}

// upload names the route's upload without reading storage
// (storage.Store.Upload): its Append or Commit finds it.
func (a *App) upload(r *http.Request) (string, *storage.Upload, error) {
	name, err := repoName(r)
	if err != nil {
		return "", nil, err
	}
	u, err := a.store.Upload(name, routeVar(r, "uuid"))
	return name, u, err
}

// chunk returns the request's body bounded by its Content-Range, and where
// the chunk claims to start (-1 when it does not say).
func chunk(r *http.Request) (io.Reader, int64, error) {
	start, end, ok, err := contentRange(r)
	if err != nil {
		return nil, 0, err
	}
	if !ok {
		return body{r.Body}, -1, nil
	}
	n := end - start + 1
	if r.ContentLength >= 0 && r.ContentLength != n {
		return nil, 0, newError(codeRangeInvalid, "Content-Range %d-%d does not match Content-Length %d", start, end, r.ContentLength)
	}
	return body{&exactReader{r: r.Body, left: n}}, start, nil
}

// patchUpload serves PATCH /v2/<name>/blobs/uploads/<uuid>: 202 with the new
// Range; 404 BLOB_UPLOAD_UNKNOWN; 416 for a chunk that does not start where
// the upload stands or a Content-Range that is malformed, does not match
// Content-Length or whose length overflows (nothing is written, the upload
// stands and the answer carries its Range).
//
// A chunk whose write fails cancels the whole upload: 400
// BLOB_UPLOAD_INVALID when the body broke off (the client cut the
// connection) or ran past its Content-Range (a chunked body: no
// Content-Length to check first); the upload id then answers 404
// BLOB_UPLOAD_UNKNOWN and the client starts over. Keeping the bytes that
// arrived would let it resume from the Range instead, but after a cut
// connection nobody is usually there to, and the upload's data would stay
// in storage until purged (see storage.Upload.Append).
func (a *App) patchUpload(w http.ResponseWriter, r *http.Request) error {
	name, u, err := a.upload(r)
	if err != nil {
		return err
	}
	rd, start, err := chunk(r)
	if err != nil {
		// The answer says where the upload stands: read it.
		u, rerr := a.store.ResumeUpload(r.Context(), name, u.ID())
		if rerr != nil {
			return rerr
		}
		a.setUploadHeaders(w, name, u)
		return err
	}
	if err := u.Append(r.Context(), rd, start); err != nil {
		a.uploadError(w, name, u, err)
		return err
	}
	return a.uploadAccepted(w, http.StatusAccepted, name, u)
}

// putUpload serves PUT /v2/<name>/blobs/uploads/<uuid>?digest=, with or
// without a last chunk: 201 with the blob's Location; 400 DIGEST_INVALID
// when the content does not hash to the digest; 404 BLOB_UPLOAD_UNKNOWN; 416
// for a misplaced last chunk or a Content-Range as patchUpload refuses it
// (the upload stands); 403 DENIED when the blob would take its namespace
// over a quota (the upload is discarded; see commitCharged). Any other failure, a last chunk that broke off
// included, discards the upload (see storage.Upload.Commit).
func (a *App) putUpload(w http.ResponseWriter, r *http.Request) error {
	name, u, err := a.upload(r)
	if err != nil {
		return err
	}
	s := r.URL.Query().Get("digest")
	if s == "" {
		return newError(codeDigestInvalid, "the digest parameter is required")
	}
	d, err := storage.ParseDigest(s)
	if err != nil {
		return err
	}
	// A quota is checked before the commit when the blob's size is known,
	// which takes the upload's offset first.
	limited, err := a.limited(name)
	if err != nil {
		return err
	}
	if limited {
		if _, u, err = a.resume(r); err != nil {
			return err
		}
	}
	var rd io.Reader
	start := int64(-1)
	size := u.Offset() // the blob's, when the last chunk's length is known
	if hasBody(r) {
		if rd, start, err = chunk(r); err != nil {
			return err
		}
		size = -1
		if r.ContentLength >= 0 && u.Offset() >= 0 {
			size = u.Offset() + r.ContentLength
		}
	}
	commit := func() (err error) { size, err = u.Commit(r.Context(), d, rd, start); return err }
	if err := a.commitCharged(r.Context(), name, u, d, size, commit); err != nil {
		a.uploadError(w, name, u, err)
		return err
	}
	a.opts.metrics.UploadCompleted()
	return a.blobPushed(w, r, name, d, size)
}

// cancelUpload serves DELETE /v2/<name>/blobs/uploads/<uuid>: 204; 404
// BLOB_UPLOAD_UNKNOWN.
func (a *App) cancelUpload(w http.ResponseWriter, r *http.Request) error {
	_, u, err := a.resume(r)
	if err != nil {
		return err
	}
	if err := u.Cancel(r.Context()); err != nil {
		return err
	}
	a.opts.metrics.UploadCancelled()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// uploadError handles the failure of a chunk or of the commit: a chunk
// refused for its range leaves the upload standing, and the answer says
// where it stands; any other failure has discarded the upload.
func (a *App) uploadError(w http.ResponseWriter, name string, u *storage.Upload, err error) {
	if errors.Is(err, storage.ErrRangeInvalid) {
		a.setUploadHeaders(w, name, u)
		return
	}
	if errors.Is(err, storage.ErrUploadUnknown) {
		return // there was no upload to fail (storage.Store.Upload)
	}
	a.opts.metrics.UploadFailed()
}

func (a *App) setUploadHeaders(w http.ResponseWriter, name string, u *storage.Upload) {
	h := w.Header()
	h.Set("Location", a.location(fmt.Sprintf("/v2/%s/blobs/uploads/%s", name, u.ID())))
	h.Set("Docker-Upload-UUID", u.ID())
	h.Set("Range", fmt.Sprintf("0-%d", max(u.Offset()-1, 0)))
}

func (a *App) uploadAccepted(w http.ResponseWriter, status int, name string, u *storage.Upload) error {
	a.setUploadHeaders(w, name, u)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
	return nil
}

// blobPushed answers an upload's completion once its push is notified.
func (a *App) blobPushed(w http.ResponseWriter, r *http.Request, name string, d digest.Digest, size int64) error {
	if err := a.notifyChange(r, a.event(r, notify.ActionPush, a.blobTarget(r, name, d, size))); err != nil {
		return err
	}
	return a.blobCreated(w, name, d)
}

func (a *App) blobCreated(w http.ResponseWriter, name string, d digest.Digest) error {
	h := w.Header()
	h.Set("Location", a.location(fmt.Sprintf("/v2/%s/blobs/%s", name, d)))
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// exactReader reads a body of exactly left bytes, as its Content-Range
// says: fewer is io.ErrUnexpectedEOF, and more (a chunked body, whose length
// no header bounds) is BLOB_UPLOAD_INVALID once left bytes have been read.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, e.end()
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case errors.Is(err, io.EOF) && e.left > 0:
		err = io.ErrUnexpectedEOF
	case e.left == 0 && (err == nil || errors.Is(err, io.EOF)):
		err = e.end()
	}
	return n, err
}

// end checks that the body ends where its range does: io.EOF when it does.
func (e *exactReader) end() error {
	var b [1]byte
	switch _, err := io.ReadFull(e.r, b[:]); err {
	case nil:
		return newError(codeBlobUploadInvalid, "the body is longer than its Content-Range")
	case io.EOF:
		return io.EOF
	default:
		return err
	}
}
