package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Error classes. Errors from a registry's answer wrap *ResponseError, whose
// Unwrap names the class; errors of transport (no answer at all) wrap
// ErrUnavailable and the network error.
var (
	// ErrNotFound: the manifest, blob, repository, tag or upload is unknown (404).
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized: no credentials, or wrong ones (401, also from a token server).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrDenied: authenticated, but not allowed (403).
	ErrDenied = errors.New("denied")
	// ErrUnavailable: unreachable, or 429/5xx after retries.
	ErrUnavailable = errors.New("registry unavailable")
	// ErrUnsupported: the registry does not offer this (405, e.g. deletes
	// disabled, or an API it lacks).
	ErrUnsupported = errors.New("unsupported by the registry")

	// ErrDigestMismatch: content does not hash to, or is not the size of,
	// the digest and size it was asked for or announced with.
	ErrDigestMismatch = errors.New("content does not match its digest")
	// ErrRangeIgnored: a blob was asked from an offset and the registry
	// answered with the whole blob.
	ErrRangeIgnored = errors.New("registry ignored the Range request")
	// ErrTooLarge: a manifest is larger than MaxManifestSize, a JSON answer
	// larger than the client reads, or a listing (all its pages) has more
	// entries or bytes than WithListLimits allows.
	ErrTooLarge = errors.New("answer too large")
	// ErrInsecure: the operation would need plain HTTP to a host that is
	// neither loopback nor listed in WithInsecure, or a step down from
	// HTTPS to plain HTTP (a redirect, a token realm).
	ErrInsecure = errors.New("plain HTTP refused")
	// ErrCrossOrigin: the registry handed back a URL (a Link page, an
	// upload Location) off its own scheme and host, or redirected a request
	// with a body there; the client does not follow it.
	ErrCrossOrigin = errors.New("URL off the registry's origin")
)

// ResponseError is an answer of a registry (or of its token server) that
// the client did not expect: its status and the OCI error codes it carried.
type ResponseError struct {
	Method string
	URL    string
	Status int
	Errors []ErrorInfo // from the OCI error body, when there was one
}

// ErrorInfo is one entry of an OCI error body.
type ErrorInfo struct {
	Code    string          `json:"code"`
	Message string          `json:"message,omitempty"`
	Detail  json.RawMessage `json:"detail,omitempty"`
}

func (e *ResponseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	for i, info := range e.Errors {
		if i == 3 {
			fmt.Fprintf(&b, " (and %d more)", len(e.Errors)-i)
			break
		}
		b.WriteString(": " + info.Code)
		if info.Message != "" {
			b.WriteString(" " + info.Message)
		}
	}
	return b.String()
}

// Unwrap names the error's class by status (and DIGEST_INVALID as a
// digest mismatch).
func (e *ResponseError) Unwrap() error {
	switch {
	case e.Status == http.StatusBadRequest && e.HasCode("DIGEST_INVALID"):
		return ErrDigestMismatch
	case e.Status == http.StatusNotFound:
		return ErrNotFound
	case e.Status == http.StatusUnauthorized:
		return ErrUnauthorized
	case e.Status == http.StatusForbidden:
		return ErrDenied
	case e.Status == http.StatusMethodNotAllowed:
		return ErrUnsupported
	case e.Status == http.StatusTooManyRequests, e.Status >= 500:
		return ErrUnavailable
	}
	return nil
}

// HasCode reports whether the registry named the OCI error code.
func (e *ResponseError) HasCode(code string) bool {
	for _, info := range e.Errors {
		if info.Code == code {
			return true
		}
	}
	return false
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// responseError reads (and closes) the body of an unexpected answer.
func responseError(resp *http.Response) error {
	defer resp.Body.Close()
	e := &ResponseError{Status: resp.StatusCode}
	if resp.Request != nil {
		e.Method = resp.Request.Method
		e.URL = redactURL(resp.Request.URL.String())
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var oci struct {
		Errors []ErrorInfo `json:"errors"`
	}
	if json.Unmarshal(body, &oci) == nil {
		e.Errors = oci.Errors
	}
	return e
}

// redactURL drops the query, which may carry upload state or credentials of
// a presigned URL.
func redactURL(s string) string {
	if i := strings.IndexByte(s, '?'); i >= 0 {
		return s[:i]
	}
	return s
}

// drain discards what is left of a body (bounded) so that the connection
// can be reused, and closes it.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxErrorBody))
	_ = body.Close()
}
