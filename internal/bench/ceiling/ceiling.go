package ceiling

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"
)

const (
	maxManifest = 4 << 20  // bytes of a manifest body kept
	maxExact    = 64 << 10 // blobs up to this size are served byte for byte
	patternSize = 1 << 20  // the filler that larger blobs are served from
)

// Server is the ceiling's http.Handler. The zero value is not usable; call
// New.
type Server struct {
	pattern []byte

	mu        sync.Mutex
	uploads   map[string]*upload
	blobs     map[digest.Digest]blob
	manifests map[digest.Digest]manifest
	repos     map[string]*repo
	names     []string // of repos, sorted
}

// repo is a repository's tags, by name and sorted.
type repo struct {
	tags   map[string]digest.Digest
	sorted []string
}

type upload struct {
	h    hash.Hash
	size int64
	head []byte // the first maxExact bytes
}

type blob struct {
	size int64
	data []byte // the content, when size <= maxExact
}

type manifest struct {
	mediaType string
	body      []byte
}

// New returns an empty ceiling server.
func New() *Server {
	p := make([]byte, patternSize)
	rand.Read(p)
	return &Server{
		pattern:   p,
		uploads:   map[string]*upload{},
		blobs:     map[digest.Digest]blob{},
		manifests: map[digest.Digest]manifest{},
		repos:     map[string]*repo{},
	}
}

var (
	nameRE     = `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*`
	uploadsRE  = regexp.MustCompile(`^/v2/(` + nameRE + `)/blobs/uploads/$`)
	uploadRE   = regexp.MustCompile(`^/v2/(` + nameRE + `)/blobs/uploads/([0-9a-f]{32})$`)
	blobRE     = regexp.MustCompile(`^/v2/(` + nameRE + `)/blobs/([a-z0-9]+:[a-f0-9]+)$`)
	manifestRE = regexp.MustCompile(`^/v2/(` + nameRE + `)/manifests/([A-Za-z0-9_][A-Za-z0-9._-]{0,127}|[a-z0-9]+:[a-f0-9]+)$`)
	tagsRE     = regexp.MustCompile(`^/v2/(` + nameRE + `)/tags/list$`)
)

// ServeHTTP routes the few endpoints the benchmark uses.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	var m []string
	match := func(re *regexp.Regexp) bool { m = re.FindStringSubmatch(p); return m != nil }
	switch {
	case p == "/v2/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		w.WriteHeader(http.StatusOK)
	case p == "/v2/_catalog" && r.Method == http.MethodGet:
		s.catalog(w, r)
	case match(uploadsRE) && r.Method == http.MethodPost:
		s.startUpload(w, r, m[1])
	case match(uploadRE) && r.Method == http.MethodPatch:
		s.patch(w, r, m[1], m[2])
	case match(uploadRE) && r.Method == http.MethodPut:
		s.finish(w, r, m[1], m[2])
	case match(blobRE) && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		s.getBlob(w, r, m[2])
	case match(manifestRE) && r.Method == http.MethodPut:
		s.putManifest(w, r, m[1], m[2])
	case match(manifestRE) && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		s.getManifest(w, r, m[1], m[2])
	case match(tagsRE) && r.Method == http.MethodGet:
		s.tagList(w, r, m[1])
	default:
		apiError(w, http.StatusNotFound, "UNSUPPORTED", "the ceiling does not serve "+r.Method+" "+p)
	}
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q}]}`, code, msg)
}

func (s *Server) startUpload(w http.ResponseWriter, r *http.Request, name string) {
	if from := r.URL.Query().Get("mount"); from != "" {
		d, err := digest.Parse(from)
		if err == nil {
			s.mu.Lock()
			_, ok := s.blobs[d]
			s.mu.Unlock()
			if ok {
				w.Header().Set("Location", "/v2/"+name+"/blobs/"+d.String())
				w.Header().Set("Docker-Content-Digest", d.String())
				w.WriteHeader(http.StatusCreated)
				return
			}
		}
	}
	id := make([]byte, 16)
	rand.Read(id)
	uid := hex.EncodeToString(id)
	s.mu.Lock()
	s.uploads[uid] = &upload{h: sha256.New()}
	s.mu.Unlock()
	w.Header().Set("Location", "/v2/"+name+"/blobs/uploads/"+uid)
	w.Header().Set("Range", "0-0")
	w.WriteHeader(http.StatusAccepted)
}

// take removes upload uid from the table while a request writes to it, so
// that two requests never write to one hash.
func (s *Server) take(uid string) *upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.uploads[uid]
	delete(s.uploads, uid)
	return u
}

func (u *upload) write(r io.Reader) error {
	_, err := io.Copy(u, r)
	return err
}

// Write hashes p, keeping the head of the blob.
func (u *upload) Write(p []byte) (int, error) {
	if room := maxExact - len(u.head); room > 0 {
		u.head = append(u.head, p[:min(room, len(p))]...)
	}
	u.h.Write(p)
	u.size += int64(len(p))
	return len(p), nil
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request, name, uid string) {
	u := s.take(uid)
	if u == nil {
		apiError(w, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "no upload "+uid)
		return
	}
	if err := u.write(r.Body); err != nil {
		apiError(w, http.StatusBadRequest, "BLOB_UPLOAD_INVALID", err.Error())
		return
	}
	s.mu.Lock()
	s.uploads[uid] = u
	s.mu.Unlock()
	w.Header().Set("Location", "/v2/"+name+"/blobs/uploads/"+uid)
	w.Header().Set("Range", fmt.Sprintf("0-%d", max(u.size-1, 0)))
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) finish(w http.ResponseWriter, r *http.Request, name, uid string) {
	want, err := digest.Parse(r.URL.Query().Get("digest"))
	if err != nil || want.Algorithm() != digest.SHA256 {
		apiError(w, http.StatusBadRequest, "DIGEST_INVALID", "the ceiling takes sha256 digests only")
		return
	}
	u := s.take(uid)
	if u == nil {
		apiError(w, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN", "no upload "+uid)
		return
	}
	if err := u.write(r.Body); err != nil {
		apiError(w, http.StatusBadRequest, "BLOB_UPLOAD_INVALID", err.Error())
		return
	}
	if got := digest.NewDigest(digest.SHA256, u.h); got != want {
		apiError(w, http.StatusBadRequest, "DIGEST_INVALID", "content is "+got.String())
		return
	}
	b := blob{size: u.size}
	if u.size <= maxExact {
		b.data = u.head
	}
	s.mu.Lock()
	s.blobs[want] = b
	s.mu.Unlock()
	w.Header().Set("Location", "/v2/"+name+"/blobs/"+want.String())
	w.Header().Set("Docker-Content-Digest", want.String())
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) getBlob(w http.ResponseWriter, r *http.Request, ref string) {
	d := digest.Digest(ref)
	s.mu.Lock()
	b, ok := s.blobs[d]
	s.mu.Unlock()
	if !ok {
		apiError(w, http.StatusNotFound, "BLOB_UNKNOWN", "no blob "+ref)
		return
	}
	w.Header().Set("Docker-Content-Digest", ref)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Accept-Ranges", "bytes")
	start, end, partial, ok := byteRange(r.Header.Get("Range"), b.size)
	if !ok {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", b.size))
		apiError(w, http.StatusRequestedRangeNotSatisfiable, "RANGE_INVALID", "bad range")
		return
	}
	w.Header().Set("Content-Length", strconv.FormatInt(end-start, 10))
	status := http.StatusOK
	if partial {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, b.size))
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if b.data != nil {
		_, _ = w.Write(b.data[start:end])
		return
	}
	for off := start; off < end; {
		i := off % patternSize
		n := min(end-off, patternSize-i)
		if _, err := w.Write(s.pattern[i : i+n]); err != nil {
			return
		}
		off += n
	}
}

// byteRange parses a single "bytes=a-b" range of a blob of size bytes into
// [start, end); without a header it is the whole blob.
func byteRange(h string, size int64) (start, end int64, partial, ok bool) {
	if h == "" {
		return 0, size, false, true
	}
	spec, found := strings.CutPrefix(h, "bytes=")
	a, b, found2 := strings.Cut(spec, "-")
	if !found || !found2 {
		return 0, 0, false, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || last < start || start >= size {
		return 0, 0, false, false
	}
	return start, min(last+1, size), true, true
}

func (s *Server) putManifest(w http.ResponseWriter, r *http.Request, name, ref string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxManifest+1))
	if err != nil || len(body) > maxManifest {
		apiError(w, http.StatusBadRequest, "MANIFEST_INVALID", "unreadable or larger than 4 MiB")
		return
	}
	d := digest.FromBytes(body)
	if strings.Contains(ref, ":") && digest.Digest(ref) != d {
		apiError(w, http.StatusBadRequest, "DIGEST_INVALID", "content is "+d.String())
		return
	}
	s.mu.Lock()
	s.manifests[d] = manifest{mediaType: r.Header.Get("Content-Type"), body: body}
	rp := s.repos[name]
	if rp == nil {
		rp = &repo{tags: map[string]digest.Digest{}}
		s.repos[name] = rp
		insertSorted(&s.names, name)
	}
	if !strings.Contains(ref, ":") {
		if _, ok := rp.tags[ref]; !ok {
			insertSorted(&rp.sorted, ref)
		}
		rp.tags[ref] = d
	}
	s.mu.Unlock()
	w.Header().Set("Location", "/v2/"+name+"/manifests/"+d.String())
	w.Header().Set("Docker-Content-Digest", d.String())
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) getManifest(w http.ResponseWriter, r *http.Request, name, ref string) {
	s.mu.Lock()
	d := digest.Digest(ref)
	if !strings.Contains(ref, ":") {
		if rp := s.repos[name]; rp != nil {
			d = rp.tags[ref]
		}
	}
	m, ok := s.manifests[d]
	s.mu.Unlock()
	if !ok {
		apiError(w, http.StatusNotFound, "MANIFEST_UNKNOWN", "no manifest "+ref+" in "+name)
		return
	}
	w.Header().Set("Content-Type", m.mediaType)
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Content-Length", strconv.Itoa(len(m.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(m.body)
	}
}

// insertSorted adds v, which it does not hold, to the sorted slice *l.
func insertSorted(l *[]string, v string) {
	i, _ := slices.BinarySearch(*l, v)
	*l = slices.Insert(*l, i, v)
}

func (s *Server) catalog(w http.ResponseWriter, r *http.Request) {
	n, last, ok := pageParams(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	items, more := page(s.names, last, n)
	s.mu.Unlock()
	writeList(w, "/v2/_catalog", "repositories", "", items, more, n)
}

func (s *Server) tagList(w http.ResponseWriter, r *http.Request, name string) {
	n, last, ok := pageParams(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	rp := s.repos[name]
	var items []string
	var more bool
	if rp != nil {
		items, more = page(rp.sorted, last, n)
	}
	s.mu.Unlock()
	if rp == nil {
		apiError(w, http.StatusNotFound, "NAME_UNKNOWN", "no repository "+name)
		return
	}
	writeList(w, "/v2/"+name+"/tags/list", "tags", name, items, more, n)
}

// pageParams reads ?n= (1000 when absent) and ?last=.
func pageParams(w http.ResponseWriter, r *http.Request) (n int, last string, ok bool) {
	q := r.URL.Query()
	n = 1000
	if v := q.Get("n"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			apiError(w, http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", "bad n")
			return 0, "", false
		}
	}
	return n, q.Get("last"), true
}

// page copies the at most n items of sorted after last, and says whether
// more follow.
func page(sorted []string, last string, n int) ([]string, bool) {
	i := 0
	if last != "" {
		var found bool
		if i, found = slices.BinarySearch(sorted, last); found {
			i++
		}
	}
	end := min(i+n, len(sorted))
	return slices.Clone(sorted[i:end]), end < len(sorted)
}

// writeList writes a page of a list, with a Link to the next page as
// Distribution does.
func writeList(w http.ResponseWriter, path, key, name string, items []string, more bool, n int) {
	if more {
		w.Header().Set("Link", fmt.Sprintf(`<%s?last=%s&n=%d>; rel="next"`, path, url.QueryEscape(items[len(items)-1]), n))
	}
	w.Header().Set("Content-Type", "application/json")
	quoted := make([]string, len(items))
	for i, it := range items {
		quoted[i] = strconv.Quote(it)
	}
	prefix := "{"
	if name != "" {
		prefix = fmt.Sprintf(`{"name":%q,`, name)
	}
	fmt.Fprintf(w, `%s%q:[%s]}`, prefix, key, strings.Join(quoted, ","))
}
