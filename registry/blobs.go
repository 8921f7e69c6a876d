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
	h["Content-Type"] = headerValue(r, "application/octet-stream")
	h["Docker-Content-Digest"] = headerValue(r, d.String())
	h["Etag"] = headerValue(r, `"`+d.String()+`"`)
	h["Cache-Control"] = headerValue(r, "max-age=31536000")
	expectRange(r, rc, size)
	_, remote := rc.(storagedriver.RangeExpecter)
	if short && !remote {
		if served, err := serveRange(w, r, rc, size); served || err != nil {
			if err == nil && a.opts.notifier != nil {
				a.notifyPull(r, a.blobTarget(r, name, d, size))
			}
			return err
		}
	}
	if remote {
		w = &copyWriter{ResponseWriter: w, small: short}
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
// "bytes=first-last" (plainRange); anything else is left to
// http.ServeContent, which parses and checks the header.
func byteRange(r *http.Request) (first, last int64, ok bool) {
	if r.Method != http.MethodGet {
		return 0, 0, false
	}
	return plainRange(r.Header.Get("Range"))
}

// serveRange answers a GET of one short range as http.ServeContent
// would, with the same status, headers and body, but without its work
// (the header parsed again, seeks, a formatted Content-Range, a copy
// through two readers and a writer): one read at the offset into a
// pooled buffer and one write, which is most of a 4 KiB range's own cost.
// It takes only the plainest request: the header "bytes=first-last" in
// digits, first within the blob, no precondition (If-*), content that
// reads at offsets, and no Content-Encoding set (ServeContent then leaves
// Content-Length out). For anything else it returns false, having
// written nothing, and ServeContent answers. A read that fails before
// the header is sent is the request's error.
func serveRange(w http.ResponseWriter, r *http.Request, rc io.ReadSeekCloser, size int64) (bool, error) {
	ra, ok := rc.(io.ReaderAt)
	if !ok {
		return false, nil
	}
	first, last, ok := byteRange(r)
	if !ok || first >= size || last-first >= shortRange {
		return false, nil
	}
	for _, k := range []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range"} {
		if _, ok := r.Header[k]; ok {
			return false, nil
		}
	}
	h := w.Header()
	if _, ok := h["Content-Encoding"]; ok {
		return false, nil
	}
	last = min(last, size-1)
	n := last - first + 1
	bp := plainBufs.Get().(*[]byte)
	defer plainBufs.Put(bp)
	buf := *bp
	chunk := buf[:min(n, int64(len(buf)))]
	if err := readAt(ra, chunk, first); err != nil {
		return false, err
	}
	var cr [64]byte
	b := strconv.AppendInt(append(cr[:0], "bytes "...), first, 10)
	b = strconv.AppendInt(append(b, '-'), last, 10)
	b = strconv.AppendInt(append(b, '/'), size, 10)
	h["Content-Range"] = headerValue(r, string(b))
	h["Accept-Ranges"] = headerValue(r, "bytes")
	h["Content-Length"] = headerValue(r, strconv.FormatInt(n, 10))
	w.WriteHeader(http.StatusPartialContent)
	for off := first; ; {
		if _, err := w.Write(chunk); err != nil {
			return true, nil // the client is gone
		}
		off += int64(len(chunk))
		if off > last {
			return true, nil
		}
		chunk = buf[:min(last+1-off, int64(len(buf)))]
		if err := readAt(ra, chunk, off); err != nil {
			// The header is sent: as after ServeContent's copy, the
			// response ends short and net/http closes the connection.
			return true, nil
		}
	}
}

// readAt fills p from ra at off. A full read is no error, even with
// io.EOF (io.ReaderAt allows it at the end); a short one always is.
func readAt(ra io.ReaderAt, p []byte, off int64) error {
	n, err := ra.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// plainRange parses a Range header of the form "bytes=first-last", with
// first and last in ASCII digits and first <= last, the only form
// serveRange takes; http.ServeContent parses every other.
func plainRange(v string) (first, last int64, ok bool) {
	spec, ok := strings.CutPrefix(v, "bytes=")
	a, b, ok2 := strings.Cut(spec, "-")
	if !ok || !ok2 {
		return 0, 0, false
	}
	first, ok = parseCount(a)
	last, ok2 = parseCount(b)
	return first, last, ok && ok2 && first <= last
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
// copyBufSize (the last one excepted), or of plainBufSize for a short
// range (small): a 4 KiB range needs no MiB, and each request at once
// would hold one (about 3 MiB of RSS under regbench's range workload).
type copyWriter struct {
	http.ResponseWriter
	small bool
}

func (w *copyWriter) ReadFrom(src io.Reader) (int64, error) {
	pool := &copyBufs
	if w.small {
		pool = &plainBufs
	}
	bp := pool.Get().(*[]byte)
	defer pool.Put(bp)
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
