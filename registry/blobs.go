package registry

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/notify"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/storagedriver"
)

// getBlob serves GET and HEAD /v2/<name>/blobs/<digest>.
// 200 (206 for a range) with the content; 304 for a matching If-None-Match;
// 307 to the driver's URL where redirects are on; 400 NAME_INVALID or
// DIGEST_INVALID; 404 BLOB_UNKNOWN; 416 for an unsatisfiable range; in a
// pull-through cache's repository also 503 UNAVAILABLE (see WithPullThrough).
func (a *App) getBlob(w http.ResponseWriter, r *http.Request) error {
	name, d, err := repoDigest(r)
	if err != nil {
		return err
	}
	if served, err := a.redirectBlob(w, r, name, d); served || err != nil {
		return err
	}
	rc, size, short, err := a.openBlob(r, name, d)
	if errors.Is(err, storage.ErrBlobUnknown) {
		if handled, err := a.pullBlob(w, r, name, d); handled {
			return err
		}
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	a.cacheHit(name)
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Etag", `"`+d.String()+`"`)
	h.Set("Cache-Control", "max-age=31536000")
	expectRange(r, rc, size)
	if _, remote := rc.(storagedriver.RangeExpecter); remote {
		w = &copyWriter{w}
	} else if short {
		// A few KiB read at an offset and written: through ReadFrom,
		// net/http would write the header on its own first and then
		// copy in two reads.
		w = &plainWriter{w}
	}
	http.ServeContent(w, r, "", time.Time{}, rc)
	if a.opts.notifier != nil {
		a.notifyPull(r, a.blobTarget(r, name, d, size))
	}
	return nil
}

// shortRange is the longest range a GET reads through the node's open
// file of the blob (storage.Store.OpenBlobShared); a longer read opens
// the file for itself, which net/http hands to sendfile.
const shortRange = 256 << 10

// openBlob opens the blob for a GET, through the node's open file of it
// for a short range (short); for a HEAD it only checks it
// (storage.Store.StatBlob, which a warm blob descriptor cache answers
// with one storage request) and stands in for the content.
func (a *App) openBlob(r *http.Request, name string, d digest.Digest) (rc io.ReadSeekCloser, size int64, short bool, err error) {
	if r.Method != http.MethodHead {
		if first, last, ok := byteRange(r); ok && last-first < shortRange {
			rc, size, err = a.store.OpenBlobShared(r.Context(), name, d)
			return rc, size, true, err
		}
		rc, size, err = a.store.OpenBlob(r.Context(), name, d)
		return rc, size, false, err
	}
	size, err = a.store.StatBlob(r.Context(), name, d)
	if err != nil {
		return nil, 0, false, err
	}
	return &headContent{size: size}, size, false, nil
}

// byteRange returns the range of a GET's Range header when it is one
// "bytes=first-last"; anything else is left to http.ServeContent, which
// parses and checks the header.
func byteRange(r *http.Request) (first, last int64, ok bool) {
	spec, ok := strings.CutPrefix(r.Header.Get("Range"), "bytes=")
	if !ok || r.Method != http.MethodGet {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok || a == "" || b == "" {
		return 0, 0, false
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || first < 0 || last < first {
		return 0, 0, false
	}
	return first, last, true
}

// expectRange tells content whose reads are backend requests (S3) the
// range a GET asks for, "bytes=first-last", so that the request for it
// asks for that much only (storagedriver.RangeExpecter).
func expectRange(r *http.Request, rc io.ReadSeekCloser, size int64) {
	e, ok := rc.(storagedriver.RangeExpecter)
	if !ok {
		return
	}
	if first, last, ok := byteRange(r); ok && first < size {
		e.ExpectRange(first, min(last, size-1)+1)
	}
}

// plainWriter takes http.ServeContent's copy of a short range: through
// plain writes from a pooled buffer, rather than the response's ReadFrom
// (a write of the header alone, then a copy in two reads) or io.Copy's
// buffer allocated per request.
type plainWriter struct{ http.ResponseWriter }

const plainBufSize = 64 << 10

var plainBufs = sync.Pool{New: func() any { b := make([]byte, plainBufSize); return &b }}

func (w *plainWriter) ReadFrom(src io.Reader) (int64, error) {
	bp := plainBufs.Get().(*[]byte)
	defer plainBufs.Put(bp)
	return io.CopyBuffer(struct{ io.Writer }{w.ResponseWriter}, struct{ io.Reader }{src}, *bp)
}

func (w *plainWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// copyBufSize is the size of the writes a blob whose reads are backend
// requests (S3) reaches the client in. http.ServeContent's copy ends in
// net.TCPConn's ReadFrom, which for content that is no file copies
// through 32 KiB: 32 writes per MiB at least, and a read from the
// backend's connection returns what has arrived, often less. Each is a
// system call, which on loopback costs about as much as its bytes: whole
// MiBs take about a third of the CPU off a pull from S3
// (docs/benchmarks.md).
const copyBufSize = 1 << 20

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

// copyWriter writes what http.ServeContent sends in whole buffers of
// copyBufSize (the last one excepted).
type copyWriter struct{ http.ResponseWriter }

func (w *copyWriter) ReadFrom(src io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var n int64
	for {
		m, err := fill(src, buf)
		if m > 0 {
			k, werr := w.ResponseWriter.Write(buf[:m])
			n += int64(k)
			if werr != nil {
				return n, werr
			}
		}
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// fill reads from src until buf is full or src fails or ends.
func fill(src io.Reader, buf []byte) (int, error) {
	m := 0
	for m < len(buf) {
		k, err := src.Read(buf[m:])
		m += k
		if err != nil {
			return m, err
		}
	}
	return m, nil
}

func (w *copyWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// headContent is a blob's content in a HEAD: http.ServeContent seeks in
// it to learn the size and writes no body, so it is never read.
type headContent struct{ size, off int64 }

func (h *headContent) Read([]byte) (int, error) {
	return 0, errors.New("the content of a HEAD is not read")
}

func (h *headContent) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += h.off
	case io.SeekEnd:
		off += h.size
	}
	if off < 0 {
		return 0, errors.New("seek: negative position")
	}
	h.off = off
	return off, nil
}

func (h *headContent) Close() error { return nil }

// redirectBlob answers 307 to the driver's URL for the blob when the driver
// gives one (S3 with storage.redirect on). The blob must be linked into the
// repository first: a presigned URL is not a way around that check. A blob
// that is not linked is left to the normal path (and the pull-through cache).
func (a *App) redirectBlob(w http.ResponseWriter, r *http.Request, name string, d digest.Digest) (bool, error) {
	if _, ok := a.store.Driver().(storagedriver.Redirector); !ok {
		return false, nil
	}
	// Presigning is local work: ask first, so that a driver with redirects
	// off costs no extra storage request.
	url, err := a.store.BlobRedirectURL(r.Context(), r.Method, d)
	if err != nil || url == "" {
		return false, err
	}
	size, err := a.store.StatBlob(r.Context(), name, d)
	if err != nil {
		if errors.Is(err, storage.ErrBlobUnknown) {
			return false, nil
		}
		return false, err
	}
	w.Header().Set("Docker-Content-Digest", d.String())
	http.Redirect(w, r, url, http.StatusTemporaryRedirect)
	a.notifyPull(r, a.blobTarget(r, name, d, size))
	return true, nil
}

// deleteBlob serves DELETE /v2/<name>/blobs/<digest>: it unlinks the blob
// from the repository. 202; 400; 404 BLOB_UNKNOWN; 405 UNSUPPORTED when
// deletes are off.
func (a *App) deleteBlob(w http.ResponseWriter, r *http.Request) error {
	name, d, err := repoDigest(r)
	if err != nil {
		return err
	}
	if err := a.store.DeleteBlob(r.Context(), name, d); err != nil {
		return err
	}
	t := notify.Target{Repository: name}
	t.Digest = d
	if err := a.notifyChange(r, a.event(r, notify.ActionDelete, t)); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}
