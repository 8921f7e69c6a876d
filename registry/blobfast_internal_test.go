package registry

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPlainRange(t *testing.T) {
	for _, c := range []struct {
		h           string
		first, last int64
		ok          bool
	}{
		{"bytes=0-0", 0, 0, true},
		{"bytes=10-19", 10, 19, true},
		{"bytes=010-19", 10, 19, true},
		{"bytes=9223372036854775807-9223372036854775807", 1<<63 - 1, 1<<63 - 1, true},
		{"bytes=20-10", 0, 0, false},
		{"bytes=10-", 0, 0, false},
		{"bytes=-10", 0, 0, false},
		{"bytes=+1-5", 0, 0, false},
		{"bytes= 1-5", 0, 0, false},
		{"bytes=1-5 ", 0, 0, false},
		{"bytes=1-5,7-8", 0, 0, false},
		{"bytes=1-9223372036854775808", 0, 0, false},
		{"Bytes=1-5", 0, 0, false},
		{"bytes 1-5", 0, 0, false},
		{"bytes=1--5", 0, 0, false},
		{"", 0, 0, false},
	} {
		first, last, ok := plainRange(c.h)
		if ok != c.ok || ok && (first != c.first || last != c.last) {
			t.Errorf("plainRange(%q) = %d, %d, %v; want %d, %d, %v", c.h, first, last, ok, c.first, c.last, c.ok)
		}
	}
}

type readSeekNopCloser struct{ *bytes.Reader }

func (readSeekNopCloser) Close() error { return nil }

// failingReaderAt reads at offsets and fails.
type failingReaderAt struct{ readSeekNopCloser }

func (failingReaderAt) ReadAt([]byte, int64) (int, error) { return 0, errors.New("disk on fire") }

// TestServeRangeTakes: serveRange answers the plain requests itself, and
// leaves every other to http.ServeContent having written nothing. A read
// that fails before anything was written is the request's error.
func TestServeRangeTakes(t *testing.T) {
	content := []byte(strings.Repeat("0123456789", 100))
	rc := readSeekNopCloser{bytes.NewReader(content)}
	size := int64(len(content))
	req := func(method string, hdr ...string) *http.Request {
		r := httptest.NewRequest(method, "/", nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		return r
	}
	w := httptest.NewRecorder()
	served, err := serveRange(w, req("GET", "Range", "bytes=995-2000"), rc, size)
	if !served || err != nil || w.Code != http.StatusPartialContent || w.Body.String() != "56789" ||
		w.Header().Get("Content-Range") != "bytes 995-999/1000" || w.Header().Get("Content-Length") != "5" {
		t.Fatalf("a plain range: %v %v %d %q %v", served, err, w.Code, w.Body, w.Header())
	}
	for _, c := range []struct {
		what   string
		r      *http.Request
		rc     io.ReadSeekCloser
		header http.Header
	}{
		{"HEAD", req("HEAD", "Range", "bytes=0-9"), rc, nil},
		{"no Range", req("GET"), rc, nil},
		{"past the end", req("GET", "Range", "bytes=1000-1009"), rc, nil},
		{"too long", req("GET", "Range", "bytes=0-262144"), rc, nil},
		{"If-None-Match", req("GET", "Range", "bytes=0-9", "If-None-Match", `"x"`), rc, nil},
		{"If-Range", req("GET", "Range", "bytes=0-9", "If-Range", `"x"`), rc, nil},
		{"If-Modified-Since", req("GET", "Range", "bytes=0-9", "If-Modified-Since", "Sat, 05 Dec 2026 00:00:00 GMT"), rc, nil},
		{"no ReadAt", req("GET", "Range", "bytes=0-9"), struct{ io.ReadSeekCloser }{rc}, nil},
		{"Content-Encoding", req("GET", "Range", "bytes=0-9"), rc, http.Header{"Content-Encoding": {"gzip"}}},
	} {
		w := httptest.NewRecorder()
		for k, v := range c.header {
			w.Header()[k] = v
		}
		before := len(w.Header())
		served, err := serveRange(w, c.r, c.rc, size)
		if served || err != nil || w.Body.Len() > 0 || len(w.Header()) != before || w.Flushed {
			t.Fatalf("%s: served %v, %v, wrote %q %v", c.what, served, err, w.Body, w.Header())
		}
	}
	w = httptest.NewRecorder()
	served, err = serveRange(w, req("GET", "Range", "bytes=0-9"), failingReaderAt{rc}, size)
	if served || err == nil || len(w.Header()) != 0 || w.Body.Len() > 0 {
		t.Fatalf("a failed read: served %v, %v, wrote %q %v", served, err, w.Body, w.Header())
	}
}
