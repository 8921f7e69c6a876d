package registry

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/registry/storage"
)

// repoName returns the validated repository name of the route.
func repoName(r *http.Request) (string, error) {
	name := mux.Vars(r)["name"]
	return name, storage.CheckName(name)
}

// repoDigest returns the validated name and digest of the route.
func repoDigest(r *http.Request) (string, digest.Digest, error) {
	name, err := repoName(r)
	if err != nil {
		return "", "", err
	}
	d, err := storage.ParseDigest(mux.Vars(r)["digest"])
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

// contentRange parses the "<start>-<end>" Content-Range of an upload chunk.
// ok is false without the header.
func contentRange(r *http.Request) (start, end int64, ok bool, err error) {
	v := r.Header.Get("Content-Range")
	if v == "" {
		return 0, 0, false, nil
	}
	v = strings.TrimPrefix(strings.TrimPrefix(v, "bytes="), "bytes ")
	if i := strings.IndexByte(v, '/'); i >= 0 {
		v = v[:i]
	}
	s, e, found := strings.Cut(v, "-")
	start, err1 := strconv.ParseInt(s, 10, 64)
	end, err2 := strconv.ParseInt(e, 10, 64)
	if !found || err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, true, newError(codeRangeInvalid, "invalid Content-Range %q", r.Header.Get("Content-Range"))
	}
	return start, end, true, nil
}

// pagination reads the n and last parameters; n is -1 when absent.
func pagination(r *http.Request) (n int, last string, err error) {
	q := r.URL.Query()
	last = q.Get("last")
	n = -1
	if s := q.Get("n"); s != "" {
		n, err = strconv.Atoi(s)
		if err != nil || n < 0 {
			return 0, "", newError(codePaginationInvalid, "invalid n %q", s)
		}
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

// parsePlatform parses "os/arch[/variant]".
func parsePlatform(s string) (v1.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return v1.Platform{}, fmt.Errorf("platform %q: want os/arch[/variant]", s)
	}
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}
