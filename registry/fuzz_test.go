package registry

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// rangeGrammar is the <start>-<end> of an upload chunk's Content-Range in
// the OCI distribution specification.
var rangeGrammar = regexp.MustCompile(`^[0-9]+-[0-9]+$`)

// FuzzContentRange: the Content-Range of an upload chunk is accepted only
// in the specification's form (optionally with the "bytes " of RFC 9110
// and a "/total"), as a non-empty range from start to end that formats
// back the same; a refusal is BLOB_UPLOAD_INVALID with status 416; and a
// chunk that is accepted has the positive length its range says.
func FuzzContentRange(f *testing.F) {
	for _, s := range []string{"0-99", "bytes 0-99/100", "bytes=5-5", "10-9", "-1-5", "a-b", "0-", "007-010", "", "bytes */100"} {
		f.Add(s, int64(-1))
	}
	f.Add("0-99", int64(100))
	f.Add("0-99", int64(99))
	f.Fuzz(func(t *testing.T, v string, contentLength int64) {
		r := httptest.NewRequest("PATCH", "/v2/a/blobs/uploads/x", strings.NewReader(""))
		r.Header.Set("Content-Range", v)
		r.ContentLength = contentLength
		stored := r.Header.Get("Content-Range") // as net/http hands it over
		start, end, ok, err := contentRange(r)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.code != codeRangeInvalid || ae.code.status != 416 {
				t.Fatalf("contentRange(%q) = %v, want a 416 BLOB_UPLOAD_INVALID", v, err)
			}
			return
		}
		if !ok {
			if stored != "" {
				t.Fatalf("contentRange(%q) ignored the header", v)
			}
			return
		}
		rng := strings.TrimPrefix(strings.TrimPrefix(stored, "bytes="), "bytes ")
		rng, _, _ = strings.Cut(rng, "/")
		if start < 0 || end < start || !rangeGrammar.MatchString(rng) {
			t.Fatalf("contentRange(%q) accepted %d-%d", v, start, end)
		}
		var s2, e2 int64
		if _, err := fmt.Sscanf(rng, "%d-%d", &s2, &e2); err != nil || s2 != start || e2 != end {
			t.Fatalf("contentRange(%q) = %d-%d, the header says %d-%d", v, start, end, s2, e2)
		}
		if _, at, err := chunk(r); err == nil {
			if n := end - start + 1; n <= 0 || at != start || (contentLength >= 0 && contentLength != n) {
				t.Fatalf("chunk(%q, Content-Length %d) accepted a chunk of %d bytes at %d", v, contentLength, n, at)
			}
		}
	})
}
