package registry

import (
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
