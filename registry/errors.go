package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/internal/reqid"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/storagedriver"
)

// errorCode is an OCI distribution error code and the HTTP status it carries.
type errorCode struct {
	code   string
	status int
}

// The codes of the OCI distribution specification, plus Distribution's
// TAG_INVALID, PAGINATION_NUMBER_INVALID and UNAVAILABLE, and UNKNOWN for
// everything unexpected. UNAUTHORIZED, DENIED and TOOMANYREQUESTS come
// from access control (auth.Challenge).
var (
	codeBlobUnknown         = errorCode{"BLOB_UNKNOWN", http.StatusNotFound}
	codeBlobUploadInvalid   = errorCode{"BLOB_UPLOAD_INVALID", http.StatusBadRequest}
	codeBlobUploadUnknown   = errorCode{"BLOB_UPLOAD_UNKNOWN", http.StatusNotFound}
	codeRangeInvalid        = errorCode{"BLOB_UPLOAD_INVALID", http.StatusRequestedRangeNotSatisfiable}
	codeDigestInvalid       = errorCode{"DIGEST_INVALID", http.StatusBadRequest}
	codeManifestBlobUnknown = errorCode{"MANIFEST_BLOB_UNKNOWN", http.StatusBadRequest}
	codeManifestInvalid     = errorCode{"MANIFEST_INVALID", http.StatusBadRequest}
	codeManifestUnknown     = errorCode{"MANIFEST_UNKNOWN", http.StatusNotFound}
	codeNameInvalid         = errorCode{"NAME_INVALID", http.StatusBadRequest}
	codeNameUnknown         = errorCode{"NAME_UNKNOWN", http.StatusNotFound}
	codeSizeInvalid         = errorCode{"SIZE_INVALID", http.StatusBadRequest}
	codeTooLarge            = errorCode{"SIZE_INVALID", http.StatusRequestEntityTooLarge}
	codeTagInvalid          = errorCode{"TAG_INVALID", http.StatusBadRequest}
	codePaginationInvalid   = errorCode{"PAGINATION_NUMBER_INVALID", http.StatusBadRequest}
	codeUnsupported         = errorCode{"UNSUPPORTED", http.StatusMethodNotAllowed}
	codeNotFound            = errorCode{"NOT_FOUND", http.StatusNotFound}
	codeUnavailable         = errorCode{"UNAVAILABLE", http.StatusServiceUnavailable}
	codeUnauthorized        = errorCode{"UNAUTHORIZED", http.StatusUnauthorized}
	codeDenied              = errorCode{"DENIED", http.StatusForbidden}
	codeTooManyRequests     = errorCode{"TOOMANYREQUESTS", http.StatusTooManyRequests}
	codeUnknown             = errorCode{"UNKNOWN", http.StatusInternalServerError}
)

// apiError is an error the HTTP layer raises itself, already carrying its code.
type apiError struct {
	code errorCode
	msg  string
}

func (e *apiError) Error() string { return e.msg }

func newError(code errorCode, format string, args ...any) error {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

// bodyError marks a failure to read the request body (the client broke off,
// or sent fewer bytes than it declared), as opposed to a storage failure.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "reading request body: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

// classify maps an error to its OCI code: the one place where error classes
// of the storage layer become protocol status.
func classify(err error) errorCode {
	var ae *apiError
	var be *bodyError
	var mbe *http.MaxBytesError
	var ch *auth.Challenge
	switch {
	case errors.As(err, &ae):
		return ae.code
	case errors.As(err, &ch):
		switch ch.Status {
		case http.StatusForbidden:
			return codeDenied
		case http.StatusTooManyRequests:
			return codeTooManyRequests
		}
		return codeUnauthorized
	case errors.As(err, &mbe), errors.Is(err, storage.ErrManifestTooLarge):
		return codeTooLarge
	case errors.As(err, &be):
		return codeBlobUploadInvalid
	case errors.Is(err, storage.ErrNameInvalid):
		return codeNameInvalid
	case errors.Is(err, storage.ErrNameUnknown):
		return codeNameUnknown
	case errors.Is(err, storage.ErrTagInvalid):
		return codeTagInvalid
	case errors.Is(err, storage.ErrDigestInvalid), errors.Is(err, storage.ErrDigestUnsupported):
		return codeDigestInvalid
	case errors.Is(err, storage.ErrBlobUnknown):
		return codeBlobUnknown
	case errors.Is(err, storage.ErrUploadUnknown):
		return codeBlobUploadUnknown
	case errors.Is(err, storage.ErrUploadInvalid):
		return codeBlobUploadInvalid
	case errors.Is(err, storage.ErrRangeInvalid):
		return codeRangeInvalid
	case errors.Is(err, storage.ErrSizeInvalid):
		return codeSizeInvalid
	case errors.Is(err, storage.ErrManifestUnknown):
		return codeManifestUnknown
	case errors.Is(err, storage.ErrManifestBlobUnknown):
		return codeManifestBlobUnknown
	case errors.Is(err, storage.ErrManifestInvalid):
		return codeManifestInvalid
	case errors.Is(err, storage.ErrTagImmutable):
		return codeDenied
	case errors.Is(err, storagedriver.ErrUnavailable), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, storage.ErrRepositoryDeleting):
		return codeUnavailable
	}
	return codeUnknown
}

type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// requestDetail is the detail of an error body that has no other: the id
// under which the request's log lines are found.
type requestDetail struct {
	RequestID string `json:"request_id"`
}

// writeError is the only function that writes error bodies. Internal errors
// are logged and answered without their text; one caused by the client
// hanging up is logged at info level, since nothing failed on this side.
// A refusal of access control sets its WWW-Authenticate or Retry-After
// header and details the access that was wanted, as Distribution does;
// every other error body's detail holds the request id.
func (a *App) writeError(w http.ResponseWriter, r *http.Request, err error) {
	c := classify(err)
	msg := err.Error()
	if c == codeUnknown || c == codeUnavailable {
		ctx := r.Context()
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			a.log.InfoContext(ctx, "request canceled by the client", "method", r.Method, "path", r.URL.Path, "err", err)
		} else {
			a.log.ErrorContext(ctx, "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		// The HTTP layer's own messages are for clients, and so is the
		// storage's word that the repository is being deleted.
		if !errors.As(err, new(*apiError)) && !errors.Is(err, storage.ErrRepositoryDeleting) {
			msg = http.StatusText(c.status)
		}
	}
	entry := errorEntry{Code: c.code, Message: msg}
	if id := reqid.From(r.Context()); id != "" {
		entry.Detail = requestDetail{RequestID: id}
	}
	var ch *auth.Challenge
	if errors.As(err, &ch) {
		ch.SetHeaders(w.Header())
		if len(ch.Wanted) > 0 {
			entry.Detail = ch.Wanted
		}
	}
	body, _ := json.Marshal(errorBody{Errors: []errorEntry{entry}})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(c.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
