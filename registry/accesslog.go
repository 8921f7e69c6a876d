package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"time"
)

// statusWriter records the status and size of a response. It keeps the
// underlying writer's io.ReaderFrom, so blob pulls still use sendfile.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(r)
	} else {
		n, err = io.Copy(struct{ io.Writer }{w.ResponseWriter}, r)
	}
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequest writes one access-log line per request at info level, with
// the request id (from r's context) and the authenticated user, "-" for
// an anonymous caller or without access control, as in the common log
// format.
func (a *App) logRequest(w *statusWriter, r *http.Request, ri *requestInfo, start time.Time) {
	user := ri.user
	if user == "" {
		user = "-"
	}
	a.log.InfoContext(r.Context(), "request", "method", r.Method, "path", r.URL.Path, "status", w.status,
		"bytes", w.bytes, "duration", time.Since(start).Round(time.Microsecond), "remote", r.RemoteAddr,
		"user", user)
}

// RequestIDHeader carries a request's id, from the client or made here,
// and is echoed on every response.
const RequestIDHeader = "X-Request-Id"

// maxRequestIDLen bounds a client's id: it is copied into every log line
// and error body of the request.
const maxRequestIDLen = 128

// requestID returns the client's X-Request-Id when it is usable, else a
// new random one. Usable: 1 to maxRequestIDLen printable ASCII characters
// without spaces, so that it cannot forge log lines or smuggle control
// characters into headers and terminals. A client sending several keeps
// none of them.
func requestID(r *http.Request) string {
	if vs := r.Header.Values(RequestIDHeader); len(vs) == 1 && validRequestID(vs[0]) {
		return vs[0]
	}
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b[:])
}

func validRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

type requestInfoKey struct{}

// requestInfo is what the access log learns while a request is served,
// and what ServeHTTP keeps for it in the same allocation.
type requestInfo struct {
	user  string       // set by authorize once the caller is known
	vars  routeVars    // the fast route's variables (routeVar)
	sw    statusWriter // the response, as the handlers see it
	vals  [8]string    // the values of headers set through value
	nvals int
}

// value returns v as the value of a response header, []string{v}, in
// room of ri's rather than in an allocation of its own while there is
// some. Its capacity is 1: an Add to the header appends elsewhere.
func (ri *requestInfo) value(v string) []string {
	if ri == nil || ri.nvals == len(ri.vals) {
		return []string{v}
	}
	i := ri.nvals
	ri.nvals++
	ri.vals[i] = v
	return ri.vals[i : i+1 : i+1]
}

// headerValue is value for r's requestInfo, or []string{v} without one.
func headerValue(r *http.Request, v string) []string {
	ri, _ := r.Context().Value(requestInfoKey{}).(*requestInfo)
	return ri.value(v)
}

// setRequestUser records the authenticated user for the access log.
func setRequestUser(ctx context.Context, user string) {
	if ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		ri.user = user
	}
}
