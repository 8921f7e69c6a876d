package registry

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage"
)

// repoName returns the validated repository name of the route.
func repoName(r *http.Request) (string, error) {
	name := routeVar(r, "name")
	return name, storage.CheckName(name)
}

// repoDigest returns the validated name and digest of the route.
func repoDigest(r *http.Request) (string, digest.Digest, error) {
	name, err := repoName(r)
	if err != nil {
		return "", "", err
	}
	d, err := storage.ParseDigest(routeVar(r, "digest"))
	return name, d, err
}

// body wraps the request body so that a read failure is told apart from a
// storage failure.
type body struct{ r io.Reader }

func (b body) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = &bodyError{err}
	}
	return n, err
}

// hasBody tells whether the request carries content.
func hasBody(r *http.Request) bool {
	return r.ContentLength > 0 || r.ContentLength < 0 && len(r.TransferEncoding) > 0
}

// parseCount parses a number of the API (a range bound, a page size):
// ASCII digits only, so no sign, space or underscore, and within int64.
// strconv alone would take "+5" and "-0".
func parseCount(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// contentRange parses the "<start>-<end>" Content-Range of an upload chunk
// (also written "bytes=<start>-<end>" or "bytes <start>-<end>/<total|*>").
// ok is false without the header. A range whose length, end-start+1, does
// not fit in an int64 is refused like a malformed one: it would wrap to a
// negative length.
func contentRange(r *http.Request) (start, end int64, ok bool, err error) {
	v := r.Header.Get("Content-Range")
	if v == "" {
		return 0, 0, false, nil
	}
	invalid := newError(codeRangeInvalid, "invalid Content-Range %q", v)
	rng, total, hasTotal := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(v, "bytes="), "bytes "), "/")
	s, e, found := strings.Cut(rng, "-")
	start, ok1 := parseCount(s)
	end, ok2 := parseCount(e)
	if !found || !ok1 || !ok2 || end < start {
		return 0, 0, true, invalid
	}
	if end-start == math.MaxInt64 { // 0 <= end-start <= MaxInt64, so only this overflows
		return 0, 0, true, newError(codeRangeInvalid, "Content-Range %q: the length overflows", v)
	}
	if hasTotal && total != "*" {
		if n, ok := parseCount(total); !ok || n <= end {
			return 0, 0, true, invalid
		}
	}
	return start, end, true, nil
}

// pagination reads the n and last parameters; n is -1 when absent.
func pagination(r *http.Request) (n int, last string, err error) {
	q := r.URL.Query()
	last = q.Get("last")
	n = -1
	if s := q.Get("n"); s != "" {
		v, ok := parseCount(s)
		if !ok || v > math.MaxInt {
			return 0, "", newError(codePaginationInvalid, "invalid n %q", s)
		}
		n = int(v)
	}
	return n, last, nil
}

// nextLink sets the Link header of a paged list whose last entry is last.
func nextLink(w http.ResponseWriter, path string, n int, last string) {
	w.Header().Set("Link", fmt.Sprintf(`<%s?last=%s&n=%d>; rel="next"`, path, urlQueryEscape(last), n))
}

func urlQueryEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
