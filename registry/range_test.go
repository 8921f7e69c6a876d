package registry_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestContentRangeOverflow: a chunk with a chunked body (no Content-Length
// to compare with) whose Content-Range length does not fit in an int64 is
// refused with 416 and writes nothing; end-start+1 used to wrap, and the
// PATCH answered 202 with Range 0-0 having read nothing. A chunked body
// longer than its range is refused too (it used to be cut silently), and
// one that matches goes through.
func TestContentRangeOverflow(t *testing.T) {
	app, _ := newApp(t)
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	send := func(method, path, contentRange, body string) *http.Response {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = io.NopCloser(strings.NewReader(body)) // hides the length: sent chunked
		}
		req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if contentRange != "" {
			req.Header.Set("Content-Range", contentRange)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	check := func(resp *http.Response, status int, code, rng string) {
		t.Helper()
		var b struct{ Errors []struct{ Code string } }
		if err := json.NewDecoder(resp.Body).Decode(&b); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err) // a body, if any, is an error document
		}
		got := ""
		if len(b.Errors) > 0 {
			got = b.Errors[0].Code
		}
		if resp.StatusCode != status || got != code || rng != "" && resp.Header.Get("Range") != rng {
			t.Fatalf("%s %s: %d %s Range %q; want %d %s Range %q", resp.Request.Method, resp.Request.Header.Get("Content-Range"),
				resp.StatusCode, got, resp.Header.Get("Range"), status, code, rng)
		}
	}

	loc := send("POST", "/v2/r/blobs/uploads/", "", "").Header.Get("Location")
	for _, cr := range []string{
		"0-9223372036854775807",         // length 2^63
		"bytes=0-9223372036854775807",   // the same, with a unit
		"bytes 0-9223372036854775807/*", // and as HTTP writes it
		"0-9223372036854775808",         // end past int64
		"0-18446744073709551616",        // end past uint64
	} {
		check(send("PATCH", loc, cr, "abc"), 416, "BLOB_UPLOAD_INVALID", "0-0")
	}
	check(send("GET", loc, "", ""), 204, "", "0-0")
	check(send("PATCH", loc, "0-2", "abc"), 202, "", "0-2")
	check(send("PUT", loc+"?digest="+digest.FromString("abc").String(), "", ""), 201, "", "")

	loc = send("POST", "/v2/r/blobs/uploads/", "", "").Header.Get("Location")
	check(send("PATCH", loc, "0-2", "abcdef"), 400, "BLOB_UPLOAD_INVALID", "")
	check(send("GET", loc, "", ""), 404, "BLOB_UPLOAD_UNKNOWN", "")
}
