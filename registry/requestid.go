package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
)

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

// requestInfo is what the access log learns while a request is served.
type requestInfo struct {
	user string // set by authorize once the caller is known
}

// setRequestUser records the authenticated user for the access log.
func setRequestUser(ctx context.Context, user string) {
	if ri, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		ri.user = user
	}
}
